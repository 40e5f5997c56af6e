//! An app that asks wsbox's portal for a file again and again, for the
//! bench's portal table (run inside a sandbox with a bus). For each round:
//! calls FileChooser.OpenFile, prints `asked N`, waits for the Response,
//! reads the first granted file and prints `granted N NS` with the
//! monotonic clock (shared with the host: no time namespace) once the
//! file is read. Usage: portal-client ROUNDS

use std::collections::HashMap;
use std::io::Write;

use zbus::blocking::{Connection, MessageIterator};
use zbus::zvariant::{OwnedValue, Value};

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `file:///a%20b` → `/a b`.
fn path_of(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("file://")?.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        if rest[i] == b'%' {
            let hex = std::str::from_utf8(rest.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(rest[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let conn = Connection::session()?;
    let sender = conn
        .unique_name()
        .ok_or("no unique name")?
        .trim_start_matches(':')
        .replace('.', "_");
    for round in 0..rounds {
        let token = format!("bench{round}");
        let path = format!("/org/freedesktop/portal/desktop/request/{sender}/{token}");
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.portal.Request")?
            .member("Response")?
            .path(path.as_str())?
            .build();
        let mut responses = MessageIterator::for_match_rule(rule, &conn, Some(1))?;
        let options: HashMap<&str, Value<'_>> =
            HashMap::from([("handle_token", Value::from(token.as_str()))]);
        conn.call_method(
            Some("org.freedesktop.portal.Desktop"),
            "/org/freedesktop/portal/desktop",
            Some("org.freedesktop.portal.FileChooser"),
            "OpenFile",
            &("", "bench", options),
        )?;
        println!("asked {round}");
        std::io::stdout().flush()?;
        let message = responses.next().ok_or("the bus went away")??;
        let (code, results): (u32, HashMap<String, OwnedValue>) = message.body().deserialize()?;
        if code != 0 {
            return Err(format!("response {code}").into());
        }
        let uris: Vec<String> = results
            .get("uris")
            .ok_or("no uris")?
            .try_clone()?
            .try_into()?;
        let file = uris.first().and_then(|u| path_of(u)).ok_or("no path")?;
        let bytes = std::fs::read(&file)?;
        println!("granted {round} {} {}", monotonic_ns(), bytes.len());
        std::io::stdout().flush()?;
    }
    // Stays, so that the sandbox does too, until it is stopped.
    loop {
        std::thread::park();
    }
}
