//! Whether the app still answers: while wsbox waits for it to close (after
//! a close request or `wsbox stop`), it pings every client with a window
//! (xdg_wm_base.ping, one outstanding at a time), and an app that has not
//! answered one for a while is shown as not responding in the marking.
//! Nothing here stops an app; `wsbox run` decides that, and the user's
//! second close does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use smithay::utils::SERIAL_COUNTER;
use smithay::wayland::shell::xdg::ShellClient;

use crate::state::State;

/// How long an unanswered ping makes an app not responding.
pub const NOT_RESPONDING_AFTER: Duration = Duration::from_secs(5);

/// When the client's outstanding ping was sent; None when it answered.
#[derive(Debug, Default)]
struct PingSent(Mutex<Option<Instant>>);

fn sent_at(client: &ShellClient) -> Option<Instant> {
    client
        .with_data(|data| {
            data.get::<PingSent>()
                .and_then(|p| p.0.lock().ok().and_then(|s| *s))
        })
        .ok()
        .flatten()
}

impl State {
    /// Pings every client that has a window and has no ping outstanding;
    /// then says whether one has left a ping unanswered for
    /// [`NOT_RESPONDING_AFTER`] by `now`, and shows it in the marking.
    pub fn ping_clients(&mut self, now: Instant) -> bool {
        let mut clients: Vec<ShellClient> = Vec::new();
        for window in self.core.space.elements() {
            if let Some(toplevel) = window.toplevel() {
                let client = toplevel.client();
                if client.alive() && !clients.contains(&client) {
                    clients.push(client);
                }
            }
        }
        let mut late = false;
        for client in &clients {
            match sent_at(client) {
                Some(at) => late |= now.saturating_duration_since(at) >= NOT_RESPONDING_AFTER,
                None => {
                    if client.send_ping(SERIAL_COUNTER.next_serial()).is_ok() {
                        let _ = client.with_data(|data| {
                            data.insert_if_missing_threadsafe(PingSent::default);
                            if let Some(ping) = data.get::<PingSent>() {
                                if let Ok(mut sent) = ping.0.lock() {
                                    *sent = Some(now);
                                }
                            }
                        });
                    }
                }
            }
        }
        self.set_not_responding(late);
        late
    }

    /// A client answered its ping.
    pub(crate) fn pong(&mut self, client: &ShellClient) {
        let _ = client.with_data(|data| {
            if let Some(ping) = data.get::<PingSent>() {
                if let Ok(mut sent) = ping.0.lock() {
                    *sent = None;
                }
            }
        });
    }

    /// Whether the marking says the app is not responding.
    pub fn not_responding(&self) -> bool {
        self.core.not_responding
    }

    /// Shows (or no longer shows) in the marking that the app does not
    /// respond.
    pub fn set_not_responding(&mut self, late: bool) {
        if self.core.not_responding != late {
            self.core.not_responding = late;
            self.core.needs_redraw = true;
            tracing::info!(not_responding = late, "the app's responsiveness changed");
        }
    }
}
