//! Waiting for a state instead of for a time: a test asks again until what
//! it waits for is there, or its limit passes. Nothing else in the kit or
//! the tests sleeps to wait for something to happen.

use std::thread;
use std::time::{Duration, Instant};

/// The first pause of [`poll`]; it doubles up to [`SLOWEST`].
const FASTEST: Duration = Duration::from_millis(5);
/// The longest pause of [`poll`]: a check may start processes (swaymsg,
/// grim, `wsbox windows`), and a test must not crowd out what it watches.
const SLOWEST: Duration = Duration::from_millis(100);

/// Calls `f` until it returns something or `limit` passes; `f` runs once
/// more after the limit, so that a slow last check still counts. Quick to
/// see a state that comes soon, light on the machine for one that comes
/// late.
pub fn poll<T>(limit: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    poll_paced(limit, f, |pause| (pause * 2).min(SLOWEST))
}

/// Like [`poll`], at one steady `interval`: for timing a start-up (the
/// bench), where a growing pause would add to what is measured.
pub fn poll_every<T>(
    interval: Duration,
    limit: Duration,
    f: impl FnMut() -> Option<T>,
) -> Option<T> {
    poll_paced(limit, f, |_| interval)
}

fn poll_paced<T>(
    limit: Duration,
    mut f: impl FnMut() -> Option<T>,
    next: impl Fn(Duration) -> Duration,
) -> Option<T> {
    let end = Instant::now() + limit;
    let mut pause = next(FASTEST / 2);
    loop {
        let last = Instant::now() >= end;
        if let Some(value) = f() {
            return Some(value);
        }
        if last {
            return None;
        }
        thread::sleep(pause.min(end.saturating_duration_since(Instant::now())));
        pause = next(pause);
    }
}

/// [`poll`] that fails the test with `what` when the limit passes.
pub fn wait_for<T>(what: &str, limit: Duration, f: impl FnMut() -> Option<T>) -> T {
    poll(limit, f).unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_that_comes_is_returned() {
        let mut calls = 0;
        let got = poll(Duration::from_secs(5), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(got, Some(3));
    }

    #[test]
    fn a_state_that_never_comes_ends_after_the_limit_with_a_last_check() {
        let started = Instant::now();
        let mut calls = 0;
        let got: Option<()> = poll(Duration::from_millis(50), || {
            calls += 1;
            None
        });
        assert_eq!(got, None);
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(calls >= 3, "{calls} checks in 50 ms");
    }

    #[test]
    fn poll_every_keeps_its_pace() {
        let started = Instant::now();
        let mut calls = 0;
        let _: Option<()> = poll_every(Duration::from_millis(1), Duration::from_millis(30), || {
            calls += 1;
            None
        });
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(calls >= 10, "{calls} checks in 30 ms at 1 ms");
    }
}
