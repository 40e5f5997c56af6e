//! Notifications from inside: `org.freedesktop.portal.Notification` (GLib's
//! GNotification and libnotify 0.8 use it where `/.flatpak-info` is) and
//! `org.freedesktop.Notifications` on the sandbox's bus, for apps that
//! talk to a notification server directly. Both end here.
//!
//! What the app sends is cut down before anyone sees it: markup and links
//! are stripped, the title and body cut short ([`TITLE_MAX`], [`BODY_MAX`]),
//! at most 5 in a burst and then one a second (the rest are counted and
//! dropped). What is left is kept (the last [`KEPT_MAX`], for `wsbox
//! notifications`) and, with `portal.notifications = "host"` in window
//! mode, shown by the host's notification service under the app's name
//! marked `[wsbox:NAME]` (src/portal/opener.rs makes that call).
//! Actions, icons, sounds and hints are never passed on.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use zbus::interface;
use zbus::zvariant::{OwnedValue, Value};

use super::clean::{clean, cut, APP_MAX, BODY_MAX, TITLE_MAX};
use super::opener::Opener;
use super::reply::RateLimit;

/// How many notifications `wsbox notifications` lists: the newest.
const KEPT_MAX: usize = 32;
/// The most notifications waiting to be shown on the host; more are not
/// shown there (a print dialog may keep the host's helper busy).
const SHOWING_MAX: usize = 8;

/// A notification's app name, title and body, to show on the host.
type Showing = (String, String, String);

/// One notification, as it was passed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Its number in this sandbox.
    pub id: u32,
    /// The app's name for itself (the app says it: never trusted).
    pub app: String,
    /// The title, cleaned.
    pub title: String,
    /// The body, cleaned.
    pub body: String,
    /// Seconds since the epoch.
    pub time: u64,
    /// Whether the host was asked to show it.
    pub shown_on_host: bool,
}

/// What `wsbox notifications` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notices {
    /// The newest ones, oldest first.
    pub kept: Vec<Notice>,
    /// How many were dropped for coming too fast.
    pub dropped: u64,
}

/// The notifications of one sandbox.
#[derive(Debug)]
pub struct Notifier {
    kept: Mutex<VecDeque<Notice>>,
    limit: RateLimit,
    dropped: AtomicU64,
    next: AtomicU32,
    /// What goes to the host's service (in window mode with
    /// `notifications = "host"`): one thread shows them, in turn.
    host: Option<std::sync::mpsc::SyncSender<Showing>>,
    /// How many were kept but not shown on the host: too many waited.
    unshown: AtomicU64,
    /// `notifications = "drop"`: nothing is kept or shown.
    drop: bool,
}

impl Notifier {
    /// A notifier that keeps what it is given and forwards it to the host
    /// through `host`, if given; or, without `keep`, drops everything.
    pub fn new(host: Option<Arc<Opener>>, keep: bool) -> Self {
        Self {
            kept: Mutex::new(VecDeque::new()),
            limit: RateLimit::new(),
            dropped: AtomicU64::new(0),
            next: AtomicU32::new(1),
            host: host.filter(|_| keep).and_then(|host| {
                show_on(move |(app, title, body)| {
                    if let Err(why) = host.notify(&app, &title, &body) {
                        tracing::warn!("a notification was not shown on the host: {why}");
                    }
                })
            }),
            unshown: AtomicU64::new(0),
            drop: !keep,
        }
    }

    /// What was passed on and how many were dropped.
    pub fn list(&self) -> Notices {
        let kept = self
            .kept
            .lock()
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        Notices {
            kept,
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Takes one notification from the app; its id, or None when dropped.
    fn post(&self, app: &str, title: &str, body: &str) -> Option<u32> {
        if self.drop {
            return None;
        }
        if !self.limit.allow() {
            let before = self.dropped.fetch_add(1, Ordering::Relaxed);
            if before == 0 {
                tracing::warn!("the app sends notifications too fast: dropping some");
            }
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut notice = Notice {
            id,
            app: cut(&clean(app, false), APP_MAX),
            title: cut(&clean(title, false), TITLE_MAX),
            body: cut(&clean(body, true), BODY_MAX),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            shown_on_host: false,
        };
        if let Some(host) = &self.host {
            // Off the bus's threads; the app is not kept waiting.
            let showing = (
                notice.app.clone(),
                notice.title.clone(),
                notice.body.clone(),
            );
            notice.shown_on_host = match host.try_send(showing) {
                Ok(()) => true,
                Err(std::sync::mpsc::TrySendError::Full(_)) => {
                    let before = self.unshown.fetch_add(1, Ordering::Relaxed);
                    if before == 0 {
                        tracing::warn!(
                            "the host shows notifications too slowly: some are not shown there"
                        );
                    }
                    false
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    tracing::warn!("a notification was not shown on the host: its thread is gone");
                    false
                }
            };
        }
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() == KEPT_MAX {
                kept.pop_front();
            }
            kept.push_back(notice);
        }
        Some(id)
    }
}

/// The thread that shows notifications on the host with `show`, one
/// after the other, and the queue that feeds it ([`SHOWING_MAX`]); it
/// ends with the [`Notifier`]. None when no thread could be made.
fn show_on(
    mut show: impl FnMut(Showing) + Send + 'static,
) -> Option<std::sync::mpsc::SyncSender<Showing>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Showing>(SHOWING_MAX);
    let started = std::thread::Builder::new()
        .name("wsbox-notify".into())
        .spawn(move || {
            for showing in rx {
                show(showing);
            }
        });
    match started {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::warn!(%e, "notifications will not be shown on the host: no thread for them");
            None
        }
    }
}

/// A string option of a notification, bounded.
fn text_of(options: &HashMap<String, OwnedValue>, key: &str) -> String {
    match options.get(key).map(|v| &**v) {
        Some(Value::Str(s)) => s.chars().take(16 * BODY_MAX).collect(),
        _ => String::new(),
    }
}

/// `org.freedesktop.portal.Notification`.
pub struct NotificationPortal {
    pub notifier: Arc<Notifier>,
}

#[interface(name = "org.freedesktop.portal.Notification")]
impl NotificationPortal {
    fn add_notification(&self, id: String, notification: HashMap<String, OwnedValue>) {
        // The portal's id is the app's; the app's name is its own
        // (sandboxed apps have no app id here).
        let _ = id;
        self.notifier.post(
            "",
            &text_of(&notification, "title"),
            &text_of(&notification, "body"),
        );
    }

    fn remove_notification(&self, _id: String) {}

    #[zbus(property(emits_changed_signal = "const"), name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

/// `org.freedesktop.Notifications`, as a notification server has it.
pub struct NotificationServer {
    pub notifier: Arc<Notifier>,
}

#[interface(name = "org.freedesktop.Notifications")]
impl NotificationServer {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        // A dropped one still gets a number: the app goes on.
        self.notifier.post(&app_name, &summary, &body).unwrap_or(0)
    }

    fn close_notification(&self, _id: u32) {}

    fn get_capabilities(&self) -> Vec<&'static str> {
        vec!["body"]
    }

    fn get_server_information(&self) -> (&'static str, &'static str, &'static str, &'static str) {
        ("wsbox", "wsbox", env!("CARGO_PKG_VERSION"), "1.2")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_dropped_and_counted() {
        let notifier = Notifier::new(None, true);
        let posted: Vec<_> = (0..20)
            .filter_map(|i| notifier.post("app", &format!("n{i}"), "body"))
            .collect();
        assert!(posted.len() <= 6, "{posted:?}");
        let list = notifier.list();
        assert_eq!(list.kept.len(), posted.len());
        assert_eq!(list.dropped as usize, 20 - posted.len());
        let long = "x".repeat(10 * BODY_MAX);
        let notifier = Notifier::new(None, true);
        notifier.post(&long, &long, &long);
        let kept = &notifier.list().kept[0];
        assert_eq!(kept.title.chars().count(), TITLE_MAX);
        assert_eq!(kept.body.chars().count(), BODY_MAX);
        assert_eq!(kept.app.chars().count(), APP_MAX);
        let dropping = Notifier::new(None, false);
        assert_eq!(dropping.post("app", "t", "b"), None);
        assert_eq!(dropping.list(), Notices::default());
    }

    /// A host that shows nothing for long holds one thread and at most
    /// [`SHOWING_MAX`] notifications; the rest are not shown there.
    #[test]
    fn a_slow_host_holds_one_thread_and_a_bounded_queue() {
        use std::sync::mpsc;
        let (showing_tx, showing) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let queue = show_on(move |(_, title, _)| {
            let _ = showing_tx.send(title);
            let _ = released.lock().map(|r| r.recv());
        })
        .unwrap();
        let one = || ("app".to_owned(), "t".to_owned(), "b".to_owned());
        queue.try_send(one()).unwrap();
        // The thread shows the first, and waits.
        showing
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        for _ in 0..SHOWING_MAX {
            queue.try_send(one()).unwrap();
        }
        assert!(matches!(
            queue.try_send(one()),
            Err(mpsc::TrySendError::Full(_))
        ));
        // Released, it shows what waited, and ends with its queue.
        drop(queue);
        for _ in 0..=SHOWING_MAX {
            let _ = release.send(());
        }
        for _ in 0..SHOWING_MAX {
            showing
                .recv_timeout(std::time::Duration::from_secs(10))
                .unwrap();
        }
        assert!(matches!(
            showing.recv_timeout(std::time::Duration::from_secs(10)),
            Err(mpsc::RecvTimeoutError::Disconnected)
        ));
    }
}
