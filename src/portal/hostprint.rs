//! Printing in window mode: the app's print dialog is the host's. The
//! helper that makes wsbox's calls on the host's bus (src/portal/opener.rs)
//! asks the host's `org.freedesktop.portal.Print` as an ordinary host app
//! would: PreparePrint (the host shows its print dialog, the title marked
//! `[wsbox:NAME]`), then Print with the document the app rendered, passed
//! on open. What goes to the host is the app's print settings and page
//! setup, of plain values only, and the document; what comes back is the
//! settings, page setup and token the host's dialog chose.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zbus::zvariant::{OwnedValue, Value};

/// How long the user may take in the host's print dialog.
pub const DIALOG_WAIT: Duration = Duration::from_secs(600);
/// The thread that waits for the host's Response to a request.
const RESPONSE_THREAD: &str = "wsbox-print-response";
/// The most settings passed either way, and the longest string.
const SETTINGS_MAX: usize = 64;
const STRING_MAX: usize = 256;

/// A plain value of a print setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Plain {
    Str(String),
    F64(f64),
    I32(i32),
    U32(u32),
    I64(i64),
    Bool(bool),
}

/// Settings of plain values, bounded.
pub type Settings = HashMap<String, Plain>;

/// `values` of plain types only (at most 64, strings of at most 256 bytes).
pub fn plain(values: &HashMap<String, OwnedValue>) -> Settings {
    values
        .iter()
        .filter(|(k, _)| k.len() <= 64)
        .filter_map(|(k, v)| {
            let v = match &**v {
                Value::Str(s) if s.len() <= STRING_MAX => Plain::Str(s.to_string()),
                Value::F64(n) => Plain::F64(*n),
                Value::I32(n) => Plain::I32(*n),
                Value::U32(n) => Plain::U32(*n),
                Value::I64(n) => Plain::I64(*n),
                Value::Bool(b) => Plain::Bool(*b),
                _ => return None,
            };
            Some((k.clone(), v))
        })
        .take(SETTINGS_MAX)
        .collect()
}

/// `settings` as D-Bus values.
pub fn owned(settings: &Settings) -> HashMap<String, OwnedValue> {
    settings
        .iter()
        .filter_map(|(k, v)| {
            let value = match v {
                Plain::Str(s) => Value::from(s.clone()),
                Plain::F64(n) => Value::from(*n),
                Plain::I32(n) => Value::from(*n),
                Plain::U32(n) => Value::from(*n),
                Plain::I64(n) => Value::from(*n),
                Plain::Bool(b) => Value::from(*b),
            };
            OwnedValue::try_from(value).ok().map(|v| (k.clone(), v))
        })
        .collect()
}

/// What the host's dialog chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    pub settings: Settings,
    pub page_setup: Settings,
    pub token: u32,
}

/// The host's answer to a print request: its code (0 done, 1 cancelled,
/// 2 other) and, for PreparePrint, what was chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub code: u32,
    pub prepared: Option<Prepared>,
}

/// Asks the host's portal on `conn` and waits for the request's Response,
/// for at most `wait`. When none comes (the call failed, or the user took
/// too long) `conn` is closed: the thread that watched for the Response,
/// and the connection it held, end with it.
fn ask_host(
    conn: &zbus::blocking::Connection,
    method: &str,
    wait: Duration,
    body: impl FnOnce(&str) -> Result<zbus::message::Message, zbus::Error>,
) -> Result<(u32, HashMap<String, OwnedValue>), String> {
    let unique = conn
        .unique_name()
        .map(|n| n.to_string())
        .ok_or("the session bus gave no name")?;
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let token = format!(
        "wsbox_print_{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let path = super::reply::request_path(&unique, &token);
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.freedesktop.portal.Request")
        .and_then(|r| r.member("Response"))
        .and_then(|r| r.path(path.as_str()))
        .map(|r| r.build())
        .map_err(|e| e.to_string())?;
    // Subscribed before the call: the Response may come at once.
    let responses = zbus::blocking::MessageIterator::for_match_rule(rule, conn, Some(4))
        .map_err(|e| format!("failed to watch the host's answer: {e}"))?;
    let (tx, rx) = mpsc::channel();
    // Ends with the first Response, or when the connection closes (its
    // messages end).
    std::thread::Builder::new()
        .name(RESPONSE_THREAD.into())
        .spawn(move || {
            for message in responses {
                let Ok(message) = message else { continue };
                if let Ok(body) = message
                    .body()
                    .deserialize::<(u32, HashMap<String, OwnedValue>)>()
                {
                    let _ = tx.send(body);
                    return;
                }
            }
        })
        .map_err(|e| e.to_string())?;
    let answered = body(&token)
        .map_err(|e| format!("the host's portal refused {method}: {e}"))
        .and_then(|_| {
            rx.recv_timeout(wait)
                .map_err(|_| format!("the host's portal did not answer {method}"))
        });
    if answered.is_err() {
        // No Response is coming: the watching thread would wait for one,
        // with the connection, for good.
        if let Err(e) = conn.clone().close() {
            tracing::debug!(%e, "failed to close the connection to the host's bus");
        }
    }
    answered
}

/// PreparePrint on the host: its print dialog, titled `title`.
pub fn prepare(
    conn: &zbus::blocking::Connection,
    title: &str,
    settings: &Settings,
    page_setup: &Settings,
) -> Result<Outcome, String> {
    let (code, results) = ask_host(conn, "PreparePrint", DIALOG_WAIT, |token| {
        let options: HashMap<&str, Value> = HashMap::from([
            ("handle_token", Value::from(token)),
            ("modal", Value::from(true)),
        ]);
        conn.call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.portal.Print"),
            "PreparePrint",
            &("", title, owned(settings), owned(page_setup), options),
        )
    })?;
    if code != 0 {
        return Ok(Outcome {
            code,
            prepared: None,
        });
    }
    let dict = |key: &str| -> Settings {
        results
            .get(key)
            .and_then(|v| HashMap::<String, OwnedValue>::try_from(v.try_clone().ok()?).ok())
            .map(|d| plain(&d))
            .unwrap_or_default()
    };
    let token = results
        .get("token")
        .and_then(|v| u32::try_from(&**v).ok())
        .unwrap_or(0);
    Ok(Outcome {
        code,
        prepared: Some(Prepared {
            settings: dict("settings"),
            page_setup: dict("page-setup"),
            token,
        }),
    })
}

/// Print on the host: the document `file`, with the `token` of its
/// PreparePrint.
pub fn print(
    conn: &zbus::blocking::Connection,
    title: &str,
    file: OwnedFd,
    token: u32,
) -> Result<Outcome, String> {
    let fd = zbus::zvariant::OwnedFd::from(file);
    let (code, _) = ask_host(conn, "Print", DIALOG_WAIT, |handle| {
        let options: HashMap<&str, Value> = HashMap::from([
            ("handle_token", Value::from(handle)),
            ("token", Value::from(token)),
        ]);
        conn.call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.portal.Print"),
            "Print",
            &("", title, zbus::zvariant::Fd::from(&fd), options),
        )
    })?;
    Ok(Outcome {
        code,
        prepared: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads still waiting for a Response (a thread's name is cut to 15
    /// bytes).
    fn watching() -> usize {
        let short = &RESPONSE_THREAD[..15];
        std::fs::read_dir("/proc/self/task")
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|comm| comm.trim_end() == short)
                    })
                    .count()
            })
            .unwrap_or(0)
    }

    /// Answered, refused or not answered in time, a request leaves no
    /// thread behind (one used to wait, with the connection, for good).
    #[test]
    fn every_request_s_thread_ends() {
        let dir = std::path::PathBuf::from(format!("/tmp/wsbox-hostprint.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bus = testkit::HostBus::start(&dir, None).unwrap();
        let connect = || {
            zbus::blocking::connection::Builder::address(bus.address.as_str())
                .and_then(|b| b.method_timeout(Duration::from_secs(20)).build())
                .unwrap()
        };
        let wait = Duration::from_millis(300);
        let id = |conn: &zbus::blocking::Connection| {
            conn.call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "GetId",
                &(),
            )
        };

        // Answered: the Response comes while the call is made.
        let conn = connect();
        let host = connect();
        let answered = ask_host(&conn, "PreparePrint", Duration::from_secs(20), |token| {
            let unique = conn.unique_name().unwrap().to_string();
            let results: HashMap<String, OwnedValue> =
                HashMap::from([("token".to_owned(), OwnedValue::from(7u32))]);
            host.emit_signal(
                Some(unique.as_str()),
                super::super::reply::request_path(&unique, token).as_str(),
                "org.freedesktop.portal.Request",
                "Response",
                &(0u32, results),
            )?;
            id(&conn)
        })
        .unwrap();
        assert_eq!(answered.0, 0);
        assert_eq!(
            answered.1.get("token").map(|v| u32::try_from(&**v)),
            Some(Ok(7))
        );

        // Refused: no portal on this bus.
        let conn = connect();
        let refused = ask_host(&conn, "PreparePrint", wait, |token| {
            let options: HashMap<&str, Value> =
                HashMap::from([("handle_token", Value::from(token))]);
            conn.call_method(
                Some("org.freedesktop.portal.Desktop"),
                "/org/freedesktop/portal/desktop",
                Some("org.freedesktop.portal.Print"),
                "PreparePrint",
                &(
                    "",
                    "t",
                    HashMap::<&str, Value>::new(),
                    HashMap::<&str, Value>::new(),
                    options,
                ),
            )
        });
        assert!(refused.unwrap_err().contains("refused PreparePrint"));

        // Not answered in time.
        let conn = connect();
        let late = ask_host(&conn, "Print", wait, |_| id(&conn));
        assert!(late.unwrap_err().contains("did not answer Print"));

        let ended = testkit::poll(Duration::from_secs(10), || (watching() == 0).then_some(()));
        let still = watching();
        drop(bus);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(ended.is_some(), "{still} threads still wait for a Response");
    }
}
