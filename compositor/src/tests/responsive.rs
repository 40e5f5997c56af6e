//! Pings while wsbox waits for an app to close: an app that answers is
//! never shown as not responding; one that leaves a ping unanswered for
//! [`NOT_RESPONDING_AFTER`] is, in the marking, until it answers again.

use std::time::{Duration, Instant};

use super::fixture::{Fixture, RED};
use crate::marking::{responding_title, NOT_RESPONDING};
use crate::responsive::NOT_RESPONDING_AFTER;

#[test]
fn an_app_that_answers_pings_stays_responding() {
    let mut f = Fixture::new();
    let id = f.add_client();
    f.map_window(id, "editor", true, None, RED);
    let start = Instant::now();
    for second in 0..10 {
        let now = start + Duration::from_secs(second);
        assert!(!f.state.ping_clients(now), "late at {second} s");
        // The ping out and the client's pong back in.
        f.roundtrip(id);
        f.roundtrip(id);
    }
    assert!(
        f.clients[id].app.pings >= 9,
        "{} pings",
        f.clients[id].app.pings
    );
    assert!(!f.state.not_responding());
}

#[test]
fn an_app_that_leaves_a_ping_unanswered_is_shown_as_not_responding() {
    let mut f = Fixture::new();
    let id = f.add_client();
    f.map_window(id, "editor", true, None, RED);
    f.clients[id].app.hung = true;
    let start = Instant::now();
    assert!(!f.state.ping_clients(start));
    f.roundtrip(id);
    assert_eq!(f.clients[id].app.pings, 1);
    // One ping at a time: no new one while it is outstanding.
    assert!(!f.state.ping_clients(start + Duration::from_secs(1)));
    f.roundtrip(id);
    assert_eq!(f.clients[id].app.pings, 1);
    assert!(!f
        .state
        .ping_clients(start + NOT_RESPONDING_AFTER - Duration::from_millis(1)));
    assert!(f.state.ping_clients(start + NOT_RESPONDING_AFTER));
    assert!(f.state.not_responding());

    // It comes back and answers: the next round clears the marking.
    f.clients[id].app.hung = false;
    for serial in std::mem::take(&mut f.clients[id].app.unanswered) {
        f.clients[id].wm_base().pong(serial);
    }
    f.roundtrip(id);
    assert!(!f
        .state
        .ping_clients(start + NOT_RESPONDING_AFTER + Duration::from_secs(1)));
    assert!(!f.state.not_responding());
}

#[test]
fn the_marking_keeps_its_suffix_whatever_the_title() {
    let long = format!("[wsbox:t] {}", "x".repeat(300));
    let title = responding_title(long, true, 128);
    assert_eq!(title.chars().count(), 128);
    assert!(title.ends_with(NOT_RESPONDING), "{title}");
    assert_eq!(responding_title("a".into(), false, 128), "a");
}
