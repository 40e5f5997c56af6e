//! The host chooser's connection to the host's session bus: made on first
//! use and again once lost, with the portal's Response signals routed to
//! the request waiting on each path; and the host's settings, read once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::{OwnedValue, Value};

use crate::portal::server::request_path;
use crate::portal::settings::{Setting, ALLOWED};

/// The host's desktop portal.
pub const DESKTOP: &str = "org.freedesktop.portal.Desktop";
pub const DESKTOP_PATH: &str = "/org/freedesktop/portal/desktop";
pub const FILE_CHOOSER: &str = "org.freedesktop.portal.FileChooser";
const SETTINGS: &str = "org.freedesktop.portal.Settings";
pub const REQUEST: &str = "org.freedesktop.portal.Request";

/// How long the helper waits for the host's session bus to take its
/// connection.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// How long a call to the host's portal may take: the portal may be
/// started on demand (D-Bus activation), which takes a while on a cold
/// start. The user's answer, which comes as a signal later, has no limit.
const CALL_WAIT: Duration = Duration::from_secs(30);
/// How long the settings may take at start, wsbox's wait included: the
/// app waits meanwhile.
pub const SETTINGS_WAIT: Duration = Duration::from_secs(2);
/// The most files one choice grants, as `wsbox choose` (the control
/// socket's `CHOICE_MAX`).
pub const URIS_MAX: usize = 16;

/// What wakes a request's thread.
#[derive(Debug)]
pub enum Wake {
    /// A Response signal on the request's path, from `sender`.
    Response {
        sender: String,
        code: u32,
        uris: Vec<String>,
    },
    /// The app closed the request, or wsbox ended.
    Close,
    /// The host's portal `owner` left the bus: its requests never answer.
    Gone { owner: String },
    /// The host's bus went away.
    Lost,
}

type Routes = Arc<Mutex<HashMap<String, mpsc::Sender<Wake>>>>;

/// The connection to the host's session bus and the routing of the
/// portal's Response signals to the requests waiting for them.
pub struct Link {
    pub conn: Connection,
    /// The request paths this connection's requests wait on.
    pub routes: Routes,
    alive: Arc<AtomicBool>,
}

/// The host's bus, connected on first use and again after it was lost.
pub struct HostBus {
    state: Mutex<BusState>,
}

#[derive(Default)]
struct BusState {
    live: Option<Arc<Link>>,
    /// A connection still being made: a bus that never answers holds one
    /// thread, however often it is tried.
    connecting: Option<mpsc::Receiver<zbus::Result<Connection>>>,
}

/// `m` locked; a panic elsewhere left plain data.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a call failed, and whether it is because the host has no portal.
pub struct Failure {
    pub why: String,
    pub no_portal: bool,
}

impl Failure {
    pub fn no_portal(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            no_portal: true,
        }
    }

    pub fn other(why: impl Into<String>) -> Self {
        Self {
            why: why.into(),
            no_portal: false,
        }
    }

    /// A failed call to the host's portal: "no such service (or
    /// interface)" means the host has no portal.
    pub fn call(e: &zbus::Error) -> Self {
        let missing = matches!(e, zbus::Error::MethodError(name, _, _) if [
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "org.freedesktop.DBus.Error.NameHasNoOwner",
            "org.freedesktop.DBus.Error.UnknownInterface",
            "org.freedesktop.DBus.Error.UnknownMethod",
            "org.freedesktop.DBus.Error.UnknownObject",
        ]
        .contains(&name.as_str()));
        Self {
            why: e.to_string(),
            no_portal: missing,
        }
    }
}

impl HostBus {
    /// Not connected yet: [`HostBus::link`] connects.
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
        }
    }

    /// The live connection, made now (within [`CONNECT_WAIT`]) if there is
    /// none.
    pub fn link(&self) -> Result<Arc<Link>, Failure> {
        let mut state = lock(&self.state);
        if let Some(live) = state
            .live
            .as_ref()
            .filter(|l| l.alive.load(Ordering::SeqCst))
        {
            return Ok(live.clone());
        }
        let made = match state.connecting.take() {
            Some(made) => made,
            None => start_connecting()?,
        };
        match made.recv_timeout(CONNECT_WAIT) {
            Ok(Ok(conn)) => {
                let link = Arc::new(route(conn)?);
                state.live = Some(link.clone());
                Ok(link)
            }
            Ok(Err(e)) => Err(Failure::no_portal(format!("no session bus: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                state.connecting = Some(made);
                Err(Failure::no_portal(format!(
                    "the session bus did not answer within {} s",
                    CONNECT_WAIT.as_secs()
                )))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(Failure::other("failed to connect to the session bus"))
            }
        }
    }
}

/// Starts connecting to the host's session bus
/// (`DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, as other host
/// apps do), on a thread: the handshake has no time limit of its own.
fn start_connecting() -> Result<mpsc::Receiver<zbus::Result<Connection>>, Failure> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("host-bus-connect".into())
        .spawn(move || {
            let built = zbus::blocking::connection::Builder::session()
                .and_then(|b| b.method_timeout(CALL_WAIT).build());
            let _ = tx.send(built);
        })
        .map_err(|e| Failure::other(format!("failed to start a thread: {e}")))?;
    Ok(rx)
}

/// `conn` with the portal's Response signals routed to the requests, and
/// the portal watched: subscribed before any request, since the Response
/// may come at once.
fn route(conn: Connection) -> Result<Link, Failure> {
    let unique = conn
        .unique_name()
        .map(|n| n.to_string())
        .ok_or_else(|| Failure::other("the session bus gave no name"))?;
    let path = request_path(&unique, "t");
    let prefix = path.rsplit_once('/').map_or(path.as_str(), |(p, _)| p);
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(REQUEST)
        .and_then(|r| r.member("Response"))
        .and_then(|r| r.path_namespace(prefix))
        .map(|r| r.build())
        .map_err(|e| Failure::other(e.to_string()))?;
    let responses = MessageIterator::for_match_rule(rule, &conn, Some(64))
        .map_err(|e| Failure::other(format!("failed to watch the portal's answers: {e}")))?;
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender("org.freedesktop.DBus")
        .and_then(|r| r.interface("org.freedesktop.DBus"))
        .and_then(|r| r.member("NameOwnerChanged"))
        .and_then(|r| r.arg(0, DESKTOP))
        .map(|r| r.build())
        .map_err(|e| Failure::other(e.to_string()))?;
    let owners = MessageIterator::for_match_rule(rule, &conn, Some(16))
        .map_err(|e| Failure::other(format!("failed to watch the portal: {e}")))?;
    let routes: Routes = Arc::default();
    let alive = Arc::new(AtomicBool::new(true));
    let (r, a) = (routes.clone(), alive.clone());
    std::thread::Builder::new()
        .name("host-responses".into())
        .spawn(move || route_responses(responses, &r, &a))
        .map_err(|e| Failure::other(format!("failed to start a thread: {e}")))?;
    let r = routes.clone();
    std::thread::Builder::new()
        .name("host-portal-watch".into())
        .spawn(move || watch_portal(owners, &r))
        .map_err(|e| Failure::other(format!("failed to start a thread: {e}")))?;
    Ok(Link {
        conn,
        routes,
        alive,
    })
}

/// Hands every Response signal to the request waiting on its path; once
/// the connection ends, tells every waiting request.
fn route_responses(responses: MessageIterator, routes: &Routes, alive: &AtomicBool) {
    for message in responses {
        let Ok(message) = message else { continue };
        let header = message.header();
        let (Some(path), Some(sender)) = (header.path(), header.sender()) else {
            continue;
        };
        let Ok((code, results)) = message
            .body()
            .deserialize::<(u32, HashMap<String, OwnedValue>)>()
        else {
            continue;
        };
        let uris = results.get("uris").map(|v| strings(v)).unwrap_or_default();
        let route = lock(routes).get(path.as_str()).cloned();
        if let Some(route) = route {
            let _ = route.send(Wake::Response {
                sender: sender.to_string(),
                code,
                uris,
            });
        }
    }
    alive.store(false, Ordering::SeqCst);
    for (_, route) in lock(routes).drain() {
        let _ = route.send(Wake::Lost);
    }
}

/// Tells every waiting request when the host's portal leaves the bus (it
/// crashed, or was restarted): what it was asked is not answered any more.
fn watch_portal(owners: MessageIterator, routes: &Routes) {
    for message in owners {
        let Ok(message) = message else { continue };
        let Ok((_, old, _)) = message.body().deserialize::<(String, String, String)>() else {
            continue;
        };
        if old.is_empty() {
            continue;
        }
        for route in lock(routes).values() {
            let _ = route.send(Wake::Gone { owner: old.clone() });
        }
    }
}

/// An `as` value's strings, at most [`URIS_MAX`] + 1 of them (more is
/// refused later).
fn strings(value: &Value<'_>) -> Vec<String> {
    let Value::Array(array) = value else {
        return Vec::new();
    };
    array
        .iter()
        .take(URIS_MAX + 1)
        .filter_map(|v| match v {
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        })
        .collect()
}

/// The host's values of the allowlisted settings, read with its Settings
/// portal within [`SETTINGS_WAIT`].
pub fn read_settings(bus: &HostBus) -> Result<Vec<(String, String, Setting)>, String> {
    let link = bus.link().map_err(|f| f.why)?;
    let mut namespaces: Vec<&str> = ALLOWED.iter().map(|(ns, _, _)| *ns).collect();
    namespaces.dedup();
    let (tx, rx) = mpsc::channel();
    let conn = link.conn.clone();
    let names: Vec<String> = namespaces.iter().map(|n| (*n).to_owned()).collect();
    std::thread::Builder::new()
        .name("host-settings".into())
        .spawn(move || {
            let read = conn
                .call_method(
                    Some(DESKTOP),
                    DESKTOP_PATH,
                    Some(SETTINGS),
                    "ReadAll",
                    &(names,),
                )
                .and_then(|reply| {
                    reply
                        .body()
                        .deserialize::<HashMap<String, HashMap<String, OwnedValue>>>()
                });
            let _ = tx.send(read);
        })
        .map_err(|e| e.to_string())?;
    let all = match rx.recv_timeout(SETTINGS_WAIT) {
        Ok(Ok(all)) => all,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            return Err(format!(
                "no answer within {} s",
                SETTINGS_WAIT.as_secs_f32()
            ))
        }
    };
    Ok(host_settings(&all))
}

/// The allowlisted keys of `all` (the host's ReadAll), each as its
/// allowlisted type; other keys and values of another type are left out.
fn host_settings(
    all: &HashMap<String, HashMap<String, OwnedValue>>,
) -> Vec<(String, String, Setting)> {
    let mut out = Vec::new();
    for (ns, key, like) in ALLOWED {
        let Some(value) = all.get(*ns).and_then(|keys| keys.get(*key)) else {
            continue;
        };
        if let Some(setting) = setting(value, like) {
            out.push(((*ns).to_owned(), (*key).to_owned(), setting));
        }
    }
    out
}

/// `value` (variants unwrapped) as a setting of `like`'s type.
fn setting(value: &Value<'_>, like: &Setting) -> Option<Setting> {
    let mut value = value;
    // ReadAll gives the value in a variant; some give it in two.
    for _ in 0..4 {
        match value {
            Value::Value(inner) => value = inner,
            _ => break,
        }
    }
    Some(match (value, like) {
        (Value::U32(v), Setting::U32(_)) => Setting::U32(*v),
        (Value::I32(v), Setting::I32(_)) => Setting::I32(*v),
        (Value::F64(v), Setting::F64(_)) if v.is_finite() => Setting::F64(*v),
        (Value::Bool(v), Setting::Bool(_)) => Setting::Bool(*v),
        (Value::Str(v), Setting::Str(_)) if v.len() <= 256 => Setting::Str(v.to_string()),
        (Value::Structure(s), Setting::Rgb(..)) => match s.fields() {
            [Value::F64(r), Value::F64(g), Value::F64(b)]
                if [r, g, b].iter().all(|c| (0.0..=1.0).contains(*c)) =>
            {
                Setting::Rgb(*r, *g, *b)
            }
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_settings_keep_only_allowed_keys_of_their_type() {
        let owned = |v: Value<'_>| OwnedValue::try_from(v).unwrap();
        let mut appearance = HashMap::new();
        appearance.insert(
            "color-scheme".to_owned(),
            owned(Value::Value(Box::new(Value::U32(1)))),
        );
        appearance.insert(
            "accent-color".to_owned(),
            owned(Value::from((0.2f64, 0.4f64, 2.0f64))),
        );
        appearance.insert("contrast".to_owned(), owned(Value::U32(1)));
        let mut interface = HashMap::new();
        interface.insert("gtk-theme".to_owned(), owned(Value::from("Adwaita-dark")));
        interface.insert("cursor-size".to_owned(), owned(Value::U32(24)));
        let mut background = HashMap::new();
        background.insert("picture-uri".to_owned(), owned(Value::from("file:///x")));
        let all = HashMap::from([
            ("org.freedesktop.appearance".to_owned(), appearance),
            ("org.gnome.desktop.interface".to_owned(), interface),
            ("org.gnome.desktop.background".to_owned(), background),
        ]);
        let mut got = host_settings(&all);
        got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        assert_eq!(
            got,
            vec![
                (
                    "org.freedesktop.appearance".to_owned(),
                    "color-scheme".to_owned(),
                    Setting::U32(1)
                ),
                (
                    "org.gnome.desktop.interface".to_owned(),
                    "gtk-theme".to_owned(),
                    Setting::Str("Adwaita-dark".into())
                ),
            ]
        );
    }

    #[test]
    fn an_accent_colour_in_range_is_kept() {
        let value = Value::from((0.2f64, 0.4f64, 1.0f64));
        assert_eq!(
            setting(&value, &Setting::Rgb(0.0, 0.0, 0.0)),
            Some(Setting::Rgb(0.2, 0.4, 1.0))
        );
        assert_eq!(setting(&Value::from("x"), &Setting::U32(0)), None);
    }
}
