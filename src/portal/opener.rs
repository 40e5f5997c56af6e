//! The calls on the host's session bus for what the app asks of the
//! desktop: links it opens (`org.freedesktop.portal.OpenURI`), handed on
//! as the policy's `portal.open_uri` says (to the host's portal, which
//! asks the user which app opens it, or to `wsbox session`, which starts a
//! sandbox of the chosen profile with the link as its argument), and, in
//! window mode, its notifications (src/portal/notify.rs), shown by the
//! host's notification service under the app's name marked `[wsbox:NAME]`.
//!
//! The confined wsbox cannot reach the host's bus: a helper forked before
//! wsbox confines itself makes these calls (`crate::helper`). It takes one
//! request per message and answers each; it checks a link again itself
//! ([`check`]), and cuts a notification's texts again, as it is the
//! unconfined side.
//!
//! ```text
//! app ─OpenURI─▶ wsbox's portal ─link─▶ opener ─▶ host bus: org.freedesktop.portal.OpenURI
//!                                               └▶ or org.wsbox.Manager1.Run(profile, [program, link])
//! ```

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use zbus::zvariant::Value;

use super::reply::{Bucket, RateLimit, BURST};
use crate::helper::{fork_helper, recv, send, seqpacket_pair};

/// The longest link handed on.
pub const URI_MAX: usize = 4096;
/// How long the portal waits for the opener: a sandbox's start included.
const ANSWER_WAIT: Duration = Duration::from_secs(60);
/// How long a call on the host's bus may take (a sandbox's start), less
/// than wsbox waits for the answer.
const HOST_WAIT: Duration = Duration::from_secs(50);
/// The most sandboxes one sandbox's links start.
const SANDBOXES_MAX: u32 = 8;

/// Where the links go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The host's OpenURI portal (it asks the user).
    Host,
    /// A new sandbox of `profile` running `program LINK`, through `wsbox
    /// session`, shown as `display` (`window` or `headless`).
    Sandbox {
        profile: String,
        program: String,
        display: String,
    },
}

/// Whether wsbox hands `uri` on: `http`, `https` and `mailto` links of
/// at most [`URI_MAX`] bytes of printable ASCII (a host name in Unicode
/// comes as punycode, the rest percent-encoded), a mail link without
/// attachments. What else a link could be (`file`, `javascript`, a scheme
/// that starts a program on the host) is refused, with the reason.
pub fn check(uri: &str) -> Result<(), String> {
    if uri.len() > URI_MAX {
        return Err(format!("a link longer than {URI_MAX} bytes"));
    }
    if !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a link with spaces, control or non-ASCII characters".into());
    }
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("mailto:") && lower.contains("attach") {
        return Err("a mail link that attaches a file".into());
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("not a link (http, https or mailto)".into());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" if rest.len() > 2 && rest.starts_with("//") => Ok(()),
        "mailto" if !rest.is_empty() => Ok(()),
        other
            if (1..=32).contains(&other.len()) && !matches!(other, "http" | "https" | "mailto") =>
        {
            Err(format!("links of scheme {other:?} are not opened"))
        }
        _ => Err("not a link (http, https or mailto)".into()),
    }
}

/// What wsbox asks of the helper, numbered: an answer that comes too late
/// is told from the next one's.
#[derive(Debug, Serialize, Deserialize)]
struct Numbered {
    seq: u64,
    ask: Ask,
}

/// The helper's answer to request `seq`: empty when done, else why not;
/// a print request's outcome.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    seq: u64,
    error: Option<String>,
    #[serde(default)]
    outcome: Option<super::hostprint::Outcome>,
}

/// What wsbox asks of the helper.
#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    /// Open a link.
    Open(String),
    /// Show a notification (texts cleaned already).
    Notify {
        app: String,
        title: String,
        body: String,
    },
    /// The host's print dialog (window mode).
    PreparePrint {
        title: String,
        settings: super::hostprint::Settings,
        page_setup: super::hostprint::Settings,
    },
    /// Print the document passed with the request.
    Print { title: String, token: u32 },
}

/// wsbox's side of the helper.
#[derive(Debug)]
pub struct Opener {
    /// One request at a time: the answer follows its question. With it,
    /// the last request's number.
    sock: Mutex<(OwnedFd, u64)>,
    /// For links; notifications have their own (src/portal/notify.rs).
    links: RateLimit,
    /// For the host's print dialog and printing, together.
    prints: RateLimit,
    pid: Pid,
}

impl Opener {
    /// Forks the helper for the sandbox `name`: links go to `target`
    /// (None: none are opened). Call while wsbox has a single thread.
    pub fn spawn(target: Option<Target>, name: &str) -> io::Result<Self> {
        let name = name.to_owned();
        let (ours, theirs) = seqpacket_pair()?;
        let keep = [theirs.as_raw_fd()];
        let pid = fork_helper(&keep, move || {
            // The host's portal identifies its callers by /proc/PID/root
            // and refuses one it cannot read.
            // SAFETY: a plain prctl.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1 as libc::c_ulong) };
            serve(&theirs, target.as_ref(), &name);
            0
        })?;
        Ok(Self {
            sock: Mutex::new((ours, 0)),
            links: RateLimit::new(),
            prints: RateLimit::new(),
            pid,
        })
    }

    /// The helper's pid, which wsbox may still signal once confined.
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Hands `uri` on and waits for the outcome (blocking: call it off the
    /// bus's executor).
    pub fn open(&self, uri: &str) -> Result<(), String> {
        check(uri)?;
        if !self.links.allow() {
            return Err(format!(
                "more than {BURST} links at once, or more than one a second"
            ));
        }
        self.ask(Ask::Open(uri.to_owned()), None, ANSWER_WAIT)
            .map(drop)
    }

    /// The host's print dialog for the app's `title`, `settings` and
    /// `page_setup` (blocking while the user chooses).
    pub fn prepare_print(
        &self,
        title: &str,
        settings: super::hostprint::Settings,
        page_setup: super::hostprint::Settings,
    ) -> Result<super::hostprint::Outcome, String> {
        self.allow_print()?;
        let ask = Ask::PreparePrint {
            title: title.chars().take(256).collect(),
            settings,
            page_setup,
        };
        self.ask(ask, None, super::hostprint::DIALOG_WAIT)?
            .ok_or_else(|| "the helper gave no outcome".into())
    }

    /// Prints `file` on the host with the `token` of its PreparePrint.
    pub fn print(
        &self,
        title: &str,
        file: OwnedFd,
        token: u32,
    ) -> Result<super::hostprint::Outcome, String> {
        self.allow_print()?;
        let ask = Ask::Print {
            title: title.chars().take(256).collect(),
            token,
        };
        self.ask(ask, Some(file), super::hostprint::DIALOG_WAIT)?
            .ok_or_else(|| "the helper gave no outcome".into())
    }

    /// Whether one more print request may go to the host now.
    fn allow_print(&self) -> Result<(), String> {
        if self.prints.allow() {
            Ok(())
        } else {
            Err(format!(
                "more than {BURST} print requests at once, or more than one a second"
            ))
        }
    }

    /// Shows a notification on the host (blocking).
    pub fn notify(&self, app: &str, title: &str, body: &str) -> Result<(), String> {
        self.ask(
            Ask::Notify {
                app: app.to_owned(),
                title: title.to_owned(),
                body: body.to_owned(),
            },
            None,
            ANSWER_WAIT,
        )
        .map(drop)
    }

    fn ask(
        &self,
        ask: Ask,
        file: Option<OwnedFd>,
        wait: Duration,
    ) -> Result<Option<super::hostprint::Outcome>, String> {
        let mut guard = self
            .sock
            .lock()
            .map_err(|_| "the helper failed".to_owned())?;
        guard.1 += 1;
        let seq = guard.1;
        let bytes = serde_json::to_vec(&Numbered { seq, ask }).map_err(|e| e.to_string())?;
        let sock = &guard.0;
        let fds: Vec<i32> = file.iter().map(AsRawFd::as_raw_fd).collect();
        send(sock.as_fd(), &bytes, &fds).map_err(|e| format!("the helper is gone: {e}"))?;
        drop(file);
        let end = Instant::now() + wait;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) if Instant::now() < end => continue,
                Ok(0) => return Err("the host did not answer in time".into()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
            let (bytes, _) = recv(sock.as_fd(), 0).map_err(|e| e.to_string())?;
            if bytes.is_empty() {
                return Err("the helper is gone".into());
            }
            match serde_json::from_slice::<Answer>(&bytes) {
                // The answer to an earlier request that timed out.
                Ok(answer) if answer.seq != seq => continue,
                Ok(Answer {
                    error: None,
                    outcome,
                    ..
                }) => return Ok(outcome),
                Ok(Answer {
                    error: Some(why), ..
                }) => return Err(why),
                Err(e) => return Err(format!("an unreadable answer: {e}")),
            }
        }
    }
}

/// The helper: one request per message, one answer each, until wsbox
/// leaves.
fn serve(sock: &OwnedFd, target: Option<&Target>, name: &str) {
    // Its own limits, whatever the confined wsbox asks: links,
    // notifications and print requests as wsbox's, and at most
    // SANDBOXES_MAX sandboxes.
    let mut links = Bucket::new();
    let mut notices = Bucket::new();
    let mut prints = Bucket::new();
    let mut sandboxes = 0;
    loop {
        let (bytes, mut fds) = match recv(sock.as_fd(), 1) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
            Err(_) => return,
        };
        if bytes.is_empty() {
            return;
        }
        let Ok(Numbered { seq, ask }) = serde_json::from_slice::<Numbered>(&bytes) else {
            continue;
        };
        let mut outcome = None;
        let now = Instant::now();
        let answer = match ask {
            Ask::Open(_) if !links.take(now) => Err("too many links at once".into()),
            Ask::Open(uri) => match target {
                Some(Target::Sandbox { .. }) if sandboxes >= SANDBOXES_MAX => Err(format!(
                    "{SANDBOXES_MAX} sandboxes were started for links already"
                )),
                Some(target) => check(&uri)
                    .and_then(|()| hand_on(target, &uri))
                    .inspect(|()| {
                        if matches!(target, Target::Sandbox { .. }) {
                            sandboxes += 1;
                        }
                    }),
                None => Err("the policy denies links (portal.open_uri)".into()),
            },
            Ask::Notify { .. } if !notices.take(now) => {
                Err("too many notifications at once".into())
            }
            Ask::Notify { app, title, body } => notify(name, &app, &title, &body),
            Ask::PreparePrint { .. } | Ask::Print { .. } if !prints.take(now) => {
                Err("too many print requests at once".into())
            }
            Ask::PreparePrint {
                title,
                settings,
                page_setup,
            } => host_bus().and_then(|conn| {
                let marked = format!("[wsbox:{name}] {}", neutral_title(&title));
                super::hostprint::prepare(&conn, &marked, &settings, &page_setup)
                    .map(|o| outcome = Some(o))
            }),
            Ask::Print { title, token } => match fds.pop() {
                Some(file) => host_bus().and_then(|conn| {
                    let marked = format!("[wsbox:{name}] {}", neutral_title(&title));
                    super::hostprint::print(&conn, &marked, file, token).map(|o| outcome = Some(o))
                }),
                None => Err("no document came with the request".into()),
            },
        };
        let reply = Answer {
            seq,
            error: answer.err(),
            outcome,
        };
        let Ok(bytes) = serde_json::to_vec(&reply) else {
            return;
        };
        if send(sock.as_fd(), &bytes, &[]).is_err() {
            return;
        }
    }
}

/// A print job's title, for the host's dialog: plain, short.
fn neutral_title(title: &str) -> String {
    super::clean::neutral(title, false)
        .chars()
        .take(128)
        .collect()
}

/// Shows a notification with the host's notification service, marked.
fn notify(name: &str, app: &str, title: &str, body: &str) -> Result<(), String> {
    // Plain text from wsbox (cleaned there once): made neutral again, never
    // decoded again, and the body escaped, as servers read it as markup.
    use super::clean::{escape, neutral, APP_MAX, BODY_MAX, TITLE_MAX};
    let short = |text: &str, max: usize| -> String { text.chars().take(max).collect() };
    let app = short(&neutral(app, false), APP_MAX);
    let marked = if app.is_empty() {
        format!("[wsbox:{name}]")
    } else {
        format!("[wsbox:{name}] {app}")
    };
    // Servers that show no app name (dunst, mako) show the title.
    let title = format!("[{name}] {}", short(&neutral(title, false), TITLE_MAX));
    let body = escape(&short(&neutral(body, true), BODY_MAX));
    let conn = host_bus()?;
    let hints: HashMap<&str, Value> = HashMap::new();
    conn.call_method(
        Some("org.freedesktop.Notifications"),
        "/org/freedesktop/Notifications",
        Some("org.freedesktop.Notifications"),
        "Notify",
        &(
            marked.as_str(),
            0u32,
            "",
            title.as_str(),
            body.as_str(),
            Vec::<&str>::new(),
            hints,
            -1i32,
        ),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// The host's session bus, each call bounded.
fn host_bus() -> Result<zbus::blocking::Connection, String> {
    zbus::blocking::connection::Builder::session()
        .and_then(|b| b.method_timeout(HOST_WAIT).build())
        .map_err(|e| format!("no host session bus: {e}"))
}

/// One call on the host's session bus.
fn hand_on(target: &Target, uri: &str) -> Result<(), String> {
    let conn = host_bus()?;
    let result = match target {
        Target::Host => {
            let options = HashMap::from([("ask", Value::from(true))]);
            conn.call_method(
                Some("org.freedesktop.portal.Desktop"),
                "/org/freedesktop/portal/desktop",
                Some("org.freedesktop.portal.OpenURI"),
                "OpenURI",
                &("", uri, options),
            )
        }
        Target::Sandbox {
            profile,
            program,
            display,
        } => {
            // Named after the profile, so that its kept home is the same
            // from one link to the next; a second one while that runs gets
            // a name of its own.
            let run = |named: bool| {
                let mut options = HashMap::from([("display", Value::from(display.as_str()))]);
                if named {
                    options.insert("name", Value::from(profile.as_str()));
                }
                conn.call_method(
                    Some(crate::session::NAME),
                    crate::session::PATH,
                    Some(crate::session::NAME),
                    "Run",
                    &(profile.as_str(), vec![program.as_str(), uri], options),
                )
            };
            match run(true) {
                Err(zbus::Error::MethodError(_, Some(message), _))
                    if message.contains("is already running") =>
                {
                    run(false)
                }
                other => other,
            }
        }
    };
    result.map(drop).map_err(|e| match e {
        zbus::Error::MethodError(name, message, _) => {
            format!("{name}: {}", message.unwrap_or_default())
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_and_mail_links_pass() {
        for good in [
            "https://example.org/",
            "http://example.org/a?b=c#d",
            "HTTPS://EXAMPLE.ORG",
            "mailto:amnesia@example.org",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ssh://host",
            "http:example.org",
            "https://exa mple.org",
            "https://example.org/\n--new-instance",
            "--remote=evil",
            "",
            "x-scheme-handler-with-a-very-long-name-indeed-yes:abc",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(check(&format!("https://e.org/{}", "a".repeat(URI_MAX))).is_err());
    }
}
