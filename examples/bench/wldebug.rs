//! `WAYLAND_DEBUG` lines, read the same way by the launch and X11 tables:
//! libwayland's client side and wayland-backend's server side, both
//! stamped with CLOCK_REALTIME in µs cut to 32 bits.

use std::time::{SystemTime, UNIX_EPOCH};

/// CLOCK_REALTIME in µs.
pub(super) fn realtime_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// ms from `t0` (µs) to a libwayland stamp (µs, the low 32 bits).
pub(super) fn since(t0: u64, stamp: u32) -> Result<f64, String> {
    // Both cut to 32 bits, as libwayland does: right across a wrap too.
    let us = stamp.wrapping_sub(t0 as u32);
    if u64::from(us) > 600_000_000 {
        return Err(format!(
            "a WAYLAND_DEBUG stamp {stamp} µs that is not after the spawn ({t0} µs)"
        ));
    }
    Ok(f64::from(us) / 1000.0)
}

/// One request line, as libwayland's client logs it
/// (`[   1234.567]  -> wl_surface@7.attach(wl_buffer@9, 0, 0)`) or as
/// wayland-backend's server does (`[1234.567][rs] <- wl_surface@7.attach,
/// (9, 0, 0)`).
pub(super) struct Request<'a> {
    pub stamp: u32,
    pub interface: &'a str,
    pub id: u32,
    pub method: &'a str,
    /// Between the parentheses.
    pub args: &'a str,
}

impl<'a> Request<'a> {
    pub fn parse(line: &'a str) -> Option<Request<'a>> {
        let (stamp, rest) = line.strip_prefix('[')?.split_once(']')?;
        let (ms, us) = stamp.trim().split_once('.')?;
        let stamp = (ms.parse::<u64>().ok()? * 1000 + us.parse::<u64>().ok()?) as u32;
        let rest = rest.strip_prefix("[rs]").unwrap_or(rest).trim_start();
        let rest = rest
            .strip_prefix("-> ")
            .or_else(|| rest.strip_prefix("<- "))?;
        let (object, rest) = rest.split_once('.')?;
        let (interface, id) = object.split_once('@')?;
        let (method, args) = rest.split_once('(')?;
        Some(Request {
            stamp,
            interface,
            id: id.parse().ok()?,
            method: method.trim_end_matches([',', ' ']),
            args: args.strip_suffix(')')?,
        })
    }

    pub fn arg(&self, n: usize) -> Option<&'a str> {
        self.args.split(", ").nth(n)
    }
}

/// An object argument's id, None for a null one: `wl_buffer@9` or `nil`
/// (client side), `9` or `0` (server side).
pub(super) fn object(arg: &str) -> Option<u32> {
    let id = arg.rsplit_once('@').map_or(arg, |(_, id)| id);
    id.parse().ok().filter(|&id| id != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_read_across_the_32_bit_wrap() {
        // libwayland prints the low 32 bits of the µs, as ms.µs.
        let t0 = (7u64 << 32) + 4_294_967_000;
        let r = Request::parse("[      0.704]  -> wl_surface@7.commit()").unwrap();
        assert_eq!(
            (r.stamp, r.interface, r.id, r.method),
            (704, "wl_surface", 7, "commit")
        );
        assert_eq!(since(t0, r.stamp), Ok(1.0));
        assert!(since(t0, 4_294_966_000).is_err(), "before the spawn");
    }

    #[test]
    fn both_sides_lines_parse_and_events_do_not() {
        let r = Request::parse("[2450059.557][rs] <- wl_surface@21.attach, (25, 0, 0)").unwrap();
        assert_eq!((r.method, r.arg(0).and_then(object)), ("attach", Some(25)));
        let r = Request::parse("[   11.001]  -> wl_surface@4.attach(nil, 0, 0)").unwrap();
        assert_eq!(r.arg(0).and_then(object), None);
        assert!(Request::parse("[4152415.018] xdg_surface@20.configure(2)").is_none());
    }
}
