//! The app's side of D-Bus authentication, rewritten on its way to the
//! proxy: the identity of every `AUTH EXTERNAL` becomes the relay's uid.
//!
//! EXTERNAL sends the uid the client believes it has, and the bus compares
//! it with the uid of the connection. Inside, the app is uid 1000; the
//! host's accessibility bus sees the proxy, which runs as whoever ran
//! wsbox (root, or any uid), and the proxy forwards the authentication as
//! it is. Without the rewriting the bus would refuse every app whose user
//! is not uid 1000 on the host.
//!
//! What the app sends before `BEGIN` is held to what a client may send:
//! after the credentials byte, lines of printable ASCII that start with a
//! capital letter, at most [`AUTH_MAX`] bytes in all; anything else ends
//! the connection.

/// The most bytes the app may send before `BEGIN`.
pub const AUTH_MAX: usize = 16 * 1024;

/// The authentication the app sends, rewritten.
#[derive(Debug)]
pub struct Auth {
    /// The relay's uid, hex-encoded as EXTERNAL wants it.
    identity: String,
    /// The credentials byte (a NUL) has come.
    started: bool,
    /// An incomplete line.
    pending: Vec<u8>,
    /// Bytes taken so far.
    taken: usize,
    /// Commands passed on so far: the bus answers each but `BEGIN` with
    /// one line.
    commands: usize,
}

/// What the app's bytes became.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// Bytes for the proxy; authentication goes on.
    More(Vec<u8>),
    /// The last of the authentication, `BEGIN` included; `answers`: how
    /// many lines the bus answers in all; `rest`: what came after `BEGIN`
    /// (the first messages).
    Done {
        auth: Vec<u8>,
        answers: usize,
        rest: Vec<u8>,
    },
}

impl Auth {
    /// The rewriting for a relay running as `uid`.
    pub fn new(uid: u32) -> Self {
        Self {
            identity: hex(uid.to_string().as_bytes()),
            started: false,
            pending: Vec::new(),
            taken: 0,
            commands: 0,
        }
    }

    /// Takes the next bytes from the app; an error ends the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<Fed, String> {
        let mut out = Vec::with_capacity(bytes.len() + 16);
        if !self.started {
            match bytes.split_first() {
                None => return Ok(Fed::More(out)),
                Some((0, rest)) => {
                    out.push(0);
                    self.started = true;
                    bytes = rest;
                }
                Some(_) => return Err("no credentials byte".into()),
            }
        }
        self.pending.extend_from_slice(bytes);
        while let Some(end) = find_line_end(&self.pending) {
            self.taken += end + 2;
            if self.taken > AUTH_MAX {
                return Err(format!("more than {AUTH_MAX} bytes before BEGIN"));
            }
            let line: Vec<u8> = self.pending.drain(..end + 2).take(end).collect();
            check_line(&line)?;
            if line == b"AUTH EXTERNAL" || line.starts_with(b"AUTH EXTERNAL ") {
                out.extend_from_slice(b"AUTH EXTERNAL ");
                out.extend_from_slice(self.identity.as_bytes());
            } else {
                out.extend_from_slice(&line);
            }
            out.extend_from_slice(b"\r\n");
            if line == b"BEGIN" {
                return Ok(Fed::Done {
                    auth: out,
                    answers: self.commands,
                    rest: std::mem::take(&mut self.pending),
                });
            }
            self.commands += 1;
        }
        if self.taken + self.pending.len() > AUTH_MAX {
            return Err(format!("more than {AUTH_MAX} bytes before BEGIN"));
        }
        Ok(Fed::More(out))
    }
}

fn find_line_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// A line of the authentication: printable ASCII, a command first.
fn check_line(line: &[u8]) -> Result<(), String> {
    if !line.first().is_some_and(u8::is_ascii_uppercase) {
        return Err("an authentication line that is no command".into());
    }
    if !line.iter().all(|&b| (b' '..=b'~').contains(&b)) {
        return Err("an authentication line that is not printable ASCII".into());
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bus's side of the authentication: as many lines as the app's
/// commands, passed on as they come; then messages.
#[derive(Debug, Default)]
pub struct Answers {
    /// An incomplete line.
    pending: Vec<u8>,
    /// Lines passed on so far.
    passed: usize,
}

impl Answers {
    /// Takes bytes from the bus; `expected`: how many lines it answers in
    /// all, once the app's `BEGIN` has gone (before that, only lines can
    /// come). Returns the lines to pass on and, once all have come, what
    /// followed them.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        expected: impl Fn() -> Option<usize>,
    ) -> Result<(Vec<u8>, Option<Vec<u8>>), String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            if expected().is_some_and(|n| self.passed >= n) {
                return Ok((out, Some(std::mem::take(&mut self.pending))));
            }
            let Some(end) = find_line_end(&self.pending) else {
                break;
            };
            out.extend(self.pending.drain(..end + 2));
            self.passed += 1;
        }
        if self.pending.len() > AUTH_MAX {
            return Err(format!("an answer longer than {AUTH_MAX} bytes"));
        }
        Ok((out, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(auth: &mut Auth, parts: &[&[u8]]) -> (Vec<u8>, Option<(usize, Vec<u8>)>) {
        let mut out = Vec::new();
        for part in parts {
            match auth.feed(part).unwrap() {
                Fed::More(bytes) => out.extend(bytes),
                Fed::Done {
                    auth,
                    answers,
                    rest,
                } => {
                    out.extend(auth);
                    return (out, Some((answers, rest)));
                }
            }
        }
        (out, None)
    }

    #[test]
    fn the_claimed_identity_becomes_the_relays() {
        // GDBus and libdbus as uid 1000 inside, the relay as uid 0.
        let mut auth = Auth::new(0);
        let (out, done) = all(
            &mut auth,
            &[
                b"\0AUTH EXTERNAL 31303030\r\n",
                b"NEGOTIATE_UNIX_FD\r\n",
                b"BEGIN\r\nl\x01\0\x01 message",
            ],
        );
        assert_eq!(
            out,
            b"\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n".to_vec()
        );
        assert_eq!(done, Some((2, b"l\x01\0\x01 message".to_vec())));
        // Without an identity, and split anywhere.
        let mut auth = Auth::new(1001);
        let (out, done) = all(
            &mut auth,
            &[b"\0", b"AUTH EXTER", b"NAL\r", b"\nDATA\r\nBEGI", b"N\r\n"],
        );
        assert_eq!(
            out,
            b"\0AUTH EXTERNAL 31303031\r\nDATA\r\nBEGIN\r\n".to_vec()
        );
        assert_eq!(done, Some((2, Vec::new())));
    }

    #[test]
    fn other_mechanisms_pass_unchanged() {
        let mut auth = Auth::new(0);
        let (out, done) = all(&mut auth, &[b"\0AUTH ANONYMOUS 6162\r\nAUTH\r\n"]);
        assert_eq!(done, None);
        assert_eq!(out, b"\0AUTH ANONYMOUS 6162\r\nAUTH\r\n".to_vec());
    }

    #[test]
    fn what_no_client_sends_ends_the_connection() {
        for bad in [
            &b"AUTH EXTERNAL 30\r\n"[..],
            b"\0auth external\r\n",
            b"\0 AUTH EXTERNAL 30\r\n",
            b"\0AUTH EXTERNAL \x1b[0m\r\n",
            b"\0AUTH EXTERNAL \xc3\xa9\r\n",
            b"\0\r\n",
        ] {
            assert!(Auth::new(0).feed(bad).is_err(), "{bad:?}");
        }
        let mut auth = Auth::new(0);
        assert!(auth.feed(b"\0DATA ").is_ok());
        assert!(auth.feed(&vec![b'a'; AUTH_MAX]).is_err());
        let mut auth = Auth::new(0);
        let many = b"DATA\r\n".repeat(AUTH_MAX / 6 + 1);
        assert!(auth.feed(b"\0").is_ok());
        assert!(auth.feed(&many).is_err());
    }

    #[test]
    fn the_bus_answers_each_command_with_one_line() {
        // A client that sends everything at once: the answers and the
        // reply to Hello may come in one piece.
        let mut answers = Answers::default();
        let (lines, rest) = answers
            .feed(b"OK 1234\r\nAGREE_UNIX_FD\r\nl\x02\x01\x01", || Some(2))
            .unwrap();
        assert_eq!(lines, b"OK 1234\r\nAGREE_UNIX_FD\r\n".to_vec());
        assert_eq!(rest, Some(b"l\x02\x01\x01".to_vec()));
        // Before BEGIN, lines only, however they are cut.
        let mut answers = Answers::default();
        let (lines, rest) = answers.feed(b"OK 12", || None).unwrap();
        assert_eq!((lines, rest), (Vec::new(), None));
        let (lines, rest) = answers.feed(b"34\r\n", || None).unwrap();
        assert_eq!((lines, rest), (b"OK 1234\r\n".to_vec(), None));
        let (lines, rest) = answers.feed(b"", || Some(1)).unwrap();
        assert_eq!((lines, rest), (Vec::new(), Some(Vec::new())));
    }
}
