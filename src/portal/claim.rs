//! wsbox's names on the sandbox's bus, claimed before the daemon runs.
//!
//! wsbox connects to the bus's socket as soon as it exists, before pid 1
//! starts the daemon, and writes its whole handshake at once ([`write`]):
//! the SASL lines (`AUTH ANONYMOUS`, `NEGOTIATE_UNIX_FD`, `BEGIN`), then
//! `Hello` and a `RequestName` (DO_NOT_QUEUE) for each of the portal's
//! names. The connection waits first in the socket's backlog with all of
//! that in it before the daemon's first loop; the socket hands connections
//! out in the order they came, and dbus-daemon reads and handles wsbox's
//! calls before anything of a connection the app opens later, even one
//! that writes its whole handshake at once as wsbox does
//! (tests/portal/race.py). So the app need not wait for wsbox: wsbox reads
//! the answers beside the app's start ([`read_auth`], [`Claim::take`]),
//! and should a name have gone to another connection all the same, the
//! sandbox stops with an error that says so. Later losses (an app that
//! queued for a name and then got wsbox cut off the bus) are watched for
//! in src/portal/server.rs.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::time::Instant;

use anyhow::{Context, Result};
use zbus::message::Type;
use zbus::Message;

use super::reply::NAME;

/// The names wsbox owns on the bus.
pub const NAMES: [&str; 2] = [NAME, "org.freedesktop.Notifications"];

/// `RequestName`'s flag DO_NOT_QUEUE: a name wsbox cannot have at once
/// is an error, never a place in a queue.
const DO_NOT_QUEUE: u32 = 4;

/// `RequestName`'s answer when the caller now owns the name.
const PRIMARY_OWNER: u32 = 1;

/// The longest SASL line wsbox reads from the daemon.
const MAX_LINE: usize = 512;

/// The serials of the calls [`write`] sent: `Hello`, then one
/// `RequestName` per name of [`NAMES`].
#[derive(Debug, Clone)]
pub struct Claim {
    hello: u32,
    names: Vec<(&'static str, u32)>,
}

/// Writes wsbox's whole handshake on `stream`, which the daemon has not
/// accepted yet (the socket holds what is written meanwhile).
pub fn write(stream: &mut UnixStream) -> Result<Claim> {
    use std::io::Write;
    fn call(member: &'static str) -> zbus::Result<zbus::message::Builder<'static>> {
        Message::method_call("/org/freedesktop/DBus", member)?
            .destination("org.freedesktop.DBus")?
            .interface("org.freedesktop.DBus")
    }
    let hello = call("Hello")?.build(&())?;
    let mut bytes = b"\0AUTH ANONYMOUS 7773626f78\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n".to_vec();
    bytes.extend_from_slice(hello.data());
    let mut names = Vec::new();
    for name in NAMES {
        let request = call("RequestName")?.build(&(name, DO_NOT_QUEUE))?;
        bytes.extend_from_slice(request.data());
        names.push((name, request.primary_header().serial_num().get()));
    }
    stream
        .write_all(&bytes)
        .context("failed to write to the sandbox's bus")?;
    Ok(Claim {
        hello: hello.primary_header().serial_num().get(),
        names,
    })
}

/// Reads the daemon's SASL answers, up to the start of its messages: `OK
/// <guid>`, then `AGREE_UNIX_FD`, by `deadline`. Returns the bus's guid.
/// Reads a byte at a time so that nothing of the messages behind them is
/// taken.
pub fn read_auth(stream: &mut UnixStream, deadline: Instant) -> Result<String> {
    let mut read_line = || read_line(stream, deadline);
    let ok = read_line()?;
    let guid = ok
        .strip_prefix("OK ")
        .filter(|g| g.len() == 32 && g.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("the sandbox's bus refused wsbox: {ok:?}"))?
        .to_owned();
    let agree = read_line()?;
    anyhow::ensure!(
        agree == "AGREE_UNIX_FD",
        "the sandbox's bus does not pass file descriptors: {agree:?}"
    );
    Ok(guid)
}

fn read_line(stream: &mut UnixStream, deadline: Instant) -> Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(
            !left.is_zero(),
            "the sandbox's bus did not answer wsbox in time"
        );
        stream
            .set_read_timeout(Some(left))
            .context("failed to read from the sandbox's bus")?;
        let n = match stream.read(&mut byte) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                anyhow::bail!("the sandbox's bus did not answer wsbox in time")
            }
            Err(e) => return Err(e).context("failed to read from the sandbox's bus"),
        };
        anyhow::ensure!(n == 1, "the sandbox's bus closed wsbox's connection");
        if byte[0] == b'\n' && line.last() == Some(&b'\r') {
            line.pop();
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(byte[0]);
        anyhow::ensure!(
            line.len() <= MAX_LINE,
            "the sandbox's bus sent a line of more than {MAX_LINE} bytes"
        );
    }
}

/// What the answers so far say.
#[derive(Debug, Default)]
pub struct Answers {
    /// wsbox's unique name, from `Hello`'s answer.
    pub unique_name: Option<String>,
    /// The names `RequestName` gave wsbox.
    owned: Vec<&'static str>,
}

impl Claim {
    /// Takes one message of the bus; an error when it answers one of
    /// wsbox's calls with anything but success.
    pub fn take(&self, answers: &mut Answers, message: &Message) -> Result<()> {
        let header = message.header();
        let Some(serial) = header.reply_serial().map(|s| s.get()) else {
            return Ok(());
        };
        // Only the bus answers wsbox's calls to it.
        if header.sender().map(|s| s.as_str()) != Some("org.freedesktop.DBus") {
            return Ok(());
        }
        let name = self
            .names
            .iter()
            .find(|(_, s)| *s == serial)
            .map(|(n, _)| *n);
        let what = match name {
            _ if serial == self.hello => "Hello".to_owned(),
            Some(name) => format!("RequestName {name}"),
            None => return Ok(()),
        };
        match message.message_type() {
            Type::Error => {
                let error = header
                    .error_name()
                    .map_or_else(|| "an error".to_owned(), |e| e.to_string());
                anyhow::bail!("the sandbox's bus answered {what} with {error}");
            }
            Type::MethodReturn if serial == self.hello => {
                let name: String = message
                    .body()
                    .deserialize()
                    .with_context(|| format!("the sandbox's bus answered {what} oddly"))?;
                answers.unique_name = Some(name);
            }
            Type::MethodReturn => {
                let code: u32 = message
                    .body()
                    .deserialize()
                    .with_context(|| format!("the sandbox's bus answered {what} oddly"))?;
                anyhow::ensure!(
                    code == PRIMARY_OWNER,
                    "the sandbox's bus gave the name to another connection ({what}: {code}); \
                     only wsbox may own it"
                );
                if let Some(name) = name.filter(|n| !answers.owned.contains(n)) {
                    answers.owned.push(name);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether every call has its answer.
    pub fn done(&self, answers: &Answers) -> bool {
        answers.unique_name.is_some() && answers.owned.len() == self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply_to(
        call: &Message,
        body: impl zbus::export::serde::Serialize + zbus::zvariant::Type,
    ) -> Message {
        Message::method_return(&call.header())
            .unwrap()
            .sender("org.freedesktop.DBus")
            .unwrap()
            .build(&body)
            .unwrap()
    }

    /// The calls [`write`] sent, parsed back from the stream's other end,
    /// after the SASL lines.
    fn written() -> (Claim, Vec<Message>) {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        let claim = write(&mut ours).unwrap();
        drop(ours);
        let mut bytes = Vec::new();
        theirs.read_to_end(&mut bytes).unwrap();
        let sasl = b"\0AUTH ANONYMOUS 7773626f78\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
        assert!(bytes.starts_with(sasl), "{bytes:?}");
        let mut rest = &bytes[sasl.len()..];
        let mut calls = Vec::new();
        while !rest.is_empty() {
            let fields = u32::from_le_bytes(rest[12..16].try_into().unwrap()) as usize;
            let body = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
            let len = (16 + fields).next_multiple_of(8) + body;
            let data = zbus::zvariant::serialized::Data::new(
                rest[..len].to_vec(),
                zbus::zvariant::serialized::Context::new_dbus(zbus::zvariant::LE, 0),
            );
            // SAFETY: the bytes are a message zbus itself encoded.
            calls.push(unsafe { Message::from_bytes(data) }.unwrap());
            rest = &rest[len..];
        }
        (claim, calls)
    }

    #[test]
    fn the_handshake_asks_for_every_name_without_queueing() {
        let (_, calls) = written();
        let members: Vec<String> = calls
            .iter()
            .map(|c| c.header().member().unwrap().to_string())
            .collect();
        assert_eq!(members, ["Hello", "RequestName", "RequestName"]);
        for (call, name) in calls[1..].iter().zip(NAMES) {
            let (asked, flags): (String, u32) = call.body().deserialize().unwrap();
            assert_eq!((asked.as_str(), flags), (name, DO_NOT_QUEUE));
        }
    }

    #[test]
    fn the_names_must_all_be_wsbox_s() {
        let (claim, calls) = written();
        let mut answers = Answers::default();
        claim
            .take(&mut answers, &reply_to(&calls[0], ":1.0"))
            .unwrap();
        claim
            .take(&mut answers, &reply_to(&calls[1], PRIMARY_OWNER))
            .unwrap();
        assert!(!claim.done(&answers));
        // EXISTS (3): another connection had it first.
        let err = claim
            .take(&mut answers, &reply_to(&calls[2], 3u32))
            .unwrap_err();
        assert!(err.to_string().contains("another connection"), "{err}");
        claim
            .take(&mut answers, &reply_to(&calls[2], PRIMARY_OWNER))
            .unwrap();
        assert!(claim.done(&answers));
        assert_eq!(answers.unique_name.as_deref(), Some(":1.0"));
    }

    fn soon() -> Instant {
        Instant::now() + std::time::Duration::from_secs(5)
    }

    #[test]
    fn only_the_bus_answers_and_each_name_counts_once() {
        let (claim, calls) = written();
        let mut answers = Answers::default();
        claim
            .take(&mut answers, &reply_to(&calls[0], ":1.0"))
            .unwrap();
        // The same answer twice is still one name.
        for _ in 0..2 {
            claim
                .take(&mut answers, &reply_to(&calls[1], PRIMARY_OWNER))
                .unwrap();
        }
        assert!(!claim.done(&answers));
        // A "reply" from anyone but the bus is not an answer.
        let forged = Message::method_return(&calls[2].header())
            .unwrap()
            .sender(":1.7")
            .unwrap()
            .build(&PRIMARY_OWNER)
            .unwrap();
        claim.take(&mut answers, &forged).unwrap();
        assert!(!claim.done(&answers));
    }

    #[test]
    fn a_silent_bus_is_given_up_at_the_deadline() {
        let (mut ours, _theirs) = UnixStream::pair().unwrap();
        let start = Instant::now();
        let deadline = start + std::time::Duration::from_millis(200);
        let err = read_auth(&mut ours, deadline).unwrap_err();
        assert!(err.to_string().contains("in time"), "{err}");
        assert!(start.elapsed() < std::time::Duration::from_secs(3));
    }

    #[test]
    fn an_error_answer_is_an_error() {
        let (claim, calls) = written();
        let error = Message::error(
            &calls[1].header(),
            "org.freedesktop.DBus.Error.AccessDenied",
        )
        .unwrap()
        .sender("org.freedesktop.DBus")
        .unwrap()
        .build(&("no",))
        .unwrap();
        let err = claim.take(&mut Answers::default(), &error).unwrap_err();
        assert!(err.to_string().contains("AccessDenied"), "{err}");
    }

    #[test]
    fn the_auth_answers_are_read_up_to_the_messages_and_no_further() {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        std::io::Write::write_all(
            &mut theirs,
            b"OK 0123456789abcdef0123456789abcdef\r\nAGREE_UNIX_FD\r\nl\x02",
        )
        .unwrap();
        assert_eq!(
            read_auth(&mut ours, soon()).unwrap(),
            "0123456789abcdef0123456789abcdef"
        );
        let mut next = [0u8; 2];
        ours.read_exact(&mut next).unwrap();
        assert_eq!(&next, b"l\x02");

        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut theirs, b"REJECTED EXTERNAL\r\n").unwrap();
        let err = read_auth(&mut ours, soon()).unwrap_err();
        assert!(err.to_string().contains("refused"), "{err}");

        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut theirs, &[b'x'; 600]).unwrap();
        assert!(read_auth(&mut ours, soon()).is_err());
    }
}
