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

use crate::helper::{fork_helper, recv, send, seqpacket_pair};

/// The longest link handed on.
pub const URI_MAX: usize = 4096;
/// How long the portal waits for the opener: a sandbox's start included.
const ANSWER_WAIT: Duration = Duration::from_secs(60);
/// At most this many links in a burst, then one per [`REFILL`].
const BURST: u32 = 5;
const REFILL: Duration = Duration::from_secs(1);

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
/// at most [`URI_MAX`] bytes without spaces or control characters. What
/// else a link could be (`file`, `javascript`, a scheme that starts a
/// program on the host) is refused, with the reason.
pub fn check(uri: &str) -> Result<(), String> {
    if uri.len() > URI_MAX {
        return Err(format!("a link longer than {URI_MAX} bytes"));
    }
    if uri
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\u{7f}')
    {
        return Err("a link with spaces or control characters".into());
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
}

/// Refills one token per [`REFILL`], up to [`BURST`].
#[derive(Debug)]
pub struct Bucket {
    tokens: u32,
    since: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn new() -> Self {
        Self {
            tokens: BURST,
            since: Instant::now(),
        }
    }

    /// Takes a token at `now`; false when none is left.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.since);
        let refilled = (elapsed.as_millis() / REFILL.as_millis()) as u32;
        if refilled > 0 {
            self.tokens = (self.tokens + refilled).min(BURST);
            self.since = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// wsbox's side of the helper.
#[derive(Debug)]
pub struct Opener {
    /// One request at a time: the answer follows its question.
    sock: Mutex<OwnedFd>,
    /// For links; notifications have their own (src/portal/notify.rs).
    bucket: Mutex<Bucket>,
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
            sock: Mutex::new(ours),
            bucket: Mutex::new(Bucket::new()),
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
        let allowed = self
            .bucket
            .lock()
            .map(|mut b| b.take(Instant::now()))
            .unwrap_or(false);
        if !allowed {
            return Err(format!(
                "more than {BURST} links at once, or more than one a second"
            ));
        }
        self.ask(&Ask::Open(uri.to_owned()))
    }

    /// Shows a notification on the host (blocking).
    pub fn notify(&self, app: &str, title: &str, body: &str) -> Result<(), String> {
        self.ask(&Ask::Notify {
            app: app.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
        })
    }

    fn ask(&self, ask: &Ask) -> Result<(), String> {
        let bytes = serde_json::to_vec(ask).map_err(|e| e.to_string())?;
        let sock = self
            .sock
            .lock()
            .map_err(|_| "the helper failed".to_owned())?;
        send(sock.as_fd(), &bytes, &[]).map_err(|e| format!("the helper is gone: {e}"))?;
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(ANSWER_WAIT.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Err("the host did not answer in time".into()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
        let (answer, _) = recv(sock.as_fd(), 0).map_err(|e| e.to_string())?;
        match answer.as_slice() {
            b"" => Err("the helper is gone".into()),
            b"ok" => Ok(()),
            other => Err(String::from_utf8_lossy(other).into_owned()),
        }
    }
}

/// The helper: one request per message, one answer each, until wsbox
/// leaves.
fn serve(sock: &OwnedFd, target: Option<&Target>, name: &str) {
    loop {
        let (bytes, _) = match recv(sock.as_fd(), 0) {
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
            Err(_) => return,
        };
        if bytes.is_empty() {
            return;
        }
        let answer = match serde_json::from_slice::<Ask>(&bytes) {
            Ok(Ask::Open(uri)) => match target {
                Some(target) => check(&uri).and_then(|()| hand_on(target, &uri)),
                None => Err("the policy denies links (portal.open_uri)".into()),
            },
            Ok(Ask::Notify { app, title, body }) => notify(name, &app, &title, &body),
            Err(_) => Err("an unreadable request".into()),
        };
        let reply = match answer {
            Ok(()) => "ok".to_owned(),
            Err(why) => why,
        };
        if send(sock.as_fd(), reply.as_bytes(), &[]).is_err() {
            return;
        }
    }
}

/// Shows a notification with the host's notification service, marked.
fn notify(name: &str, app: &str, title: &str, body: &str) -> Result<(), String> {
    use super::clean::{clean, APP_MAX, BODY_MAX, TITLE_MAX};
    let short = |text: &str, max: usize| -> String { text.chars().take(max).collect() };
    let app = short(&clean(app, false), APP_MAX);
    let marked = if app.is_empty() {
        format!("[wsbox:{name}]")
    } else {
        format!("[wsbox:{name}] {app}")
    };
    let conn =
        zbus::blocking::Connection::session().map_err(|e| format!("no host session bus: {e}"))?;
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
            short(&clean(title, false), TITLE_MAX).as_str(),
            short(&clean(body, true), BODY_MAX).as_str(),
            Vec::<&str>::new(),
            hints,
            -1i32,
        ),
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// One call on the host's session bus.
fn hand_on(target: &Target, uri: &str) -> Result<(), String> {
    let conn =
        zbus::blocking::Connection::session().map_err(|e| format!("no host session bus: {e}"))?;
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

    #[test]
    fn the_bucket_allows_a_burst_then_one_a_second() {
        let start = Instant::now();
        let mut bucket = Bucket::new();
        bucket.since = start;
        for _ in 0..BURST {
            assert!(bucket.take(start));
        }
        assert!(!bucket.take(start));
        assert!(!bucket.take(start + REFILL / 2));
        assert!(bucket.take(start + REFILL));
        assert!(!bucket.take(start + REFILL));
    }
}
