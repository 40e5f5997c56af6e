//! D-Bus messages as the relay sees them: where each one ends, the few
//! header fields its filter reads, and the one message it writes itself.
//! The bytes come from the app (hostile) or from the bus through
//! xdg-dbus-proxy; every length is checked, every read bounded, and what
//! is not a well-formed message of the D-Bus specification ends the
//! connection. Bodies are never parsed: they pass through, or are dropped
//! with their message.

/// Message types.
pub const METHOD_CALL: u8 = 1;
pub const METHOD_RETURN: u8 = 2;
pub const ERROR: u8 = 3;
/// The flag of a call that wants no reply (and of every reply).
pub const NO_REPLY_EXPECTED: u8 = 1;
/// The most bytes of header fields: real ones take a few hundred.
pub const FIELDS_MAX: usize = 64 * 1024;
/// The longest message the specification allows.
pub const MESSAGE_MAX: usize = 128 * 1024 * 1024;

/// The fixed part of every message.
const FIXED: usize = 16;

/// What the filter reads of a message's header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Little-endian (else big-endian).
    pub little: bool,
    pub kind: u8,
    pub flags: u8,
    pub serial: u32,
    pub member: Option<String>,
    pub reply_serial: Option<u32>,
    /// Where the reply serial's value is in the header.
    pub reply_serial_at: Option<usize>,
    pub destination: Option<String>,
    pub sender: Option<String>,
}

/// Where the serial is in every message.
pub const SERIAL_AT: usize = 8;

/// Writes `value` at `at` of a message's header in its byte order.
pub fn set_u32(bytes: &mut [u8], at: usize, little: bool, value: u32) {
    let value = if little {
        value.to_le_bytes()
    } else {
        value.to_be_bytes()
    };
    if let Some(slot) = bytes.get_mut(at..at + 4) {
        slot.copy_from_slice(&value);
    }
}

/// Bytes of a message to pass on: its first piece is its whole header
/// (`head`, read); `ends` on its last piece.
#[derive(Debug, PartialEq, Eq)]
pub struct Piece {
    pub bytes: Vec<u8>,
    pub head: Option<Header>,
    pub ends: bool,
}

/// Splits a byte stream into messages: each header is read whole and
/// judged, then its body passes or is dropped as it comes.
#[derive(Debug, Default)]
pub struct Framer {
    /// The header being read.
    head: Vec<u8>,
    /// Body bytes of the current message still to come.
    body_left: usize,
    /// Whether the current message passes.
    passing: bool,
    /// The longest message taken (0: D-Bus's own limit).
    max: usize,
}

impl Framer {
    /// A framer that refuses messages longer than `max` bytes.
    pub fn at_most(max: usize) -> Self {
        Self {
            max,
            ..Self::default()
        }
    }

    /// Takes the next bytes; `judge` says of each header whether its
    /// message passes, and may change the header's bytes (not their
    /// length). Returns what passes, in order.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        mut judge: impl FnMut(&Header, &mut [u8]) -> bool,
    ) -> Result<Vec<Piece>, String> {
        let mut out = Vec::new();
        loop {
            if self.body_left > 0 {
                if data.is_empty() {
                    break;
                }
                let n = self.body_left.min(data.len());
                self.body_left -= n;
                if self.passing {
                    out.push(Piece {
                        bytes: data[..n].to_vec(),
                        head: None,
                        ends: self.body_left == 0,
                    });
                }
                data = &data[n..];
                continue;
            }
            // The fixed part first, then the whole header with its padding.
            if self.head.len() < FIXED {
                data = self.take(data, FIXED);
                if self.head.len() < FIXED {
                    break;
                }
            }
            let want = header_len(&self.head, self.max)?;
            data = self.take(data, want);
            if self.head.len() < want {
                break;
            }
            let (header, body_len) = parse(&self.head)?;
            self.passing = judge(&header, &mut self.head);
            self.body_left = body_len;
            let head = std::mem::take(&mut self.head);
            if self.passing {
                out.push(Piece {
                    bytes: head,
                    head: Some(header),
                    ends: body_len == 0,
                });
            }
        }
        Ok(out)
    }

    /// Moves bytes of `data` into the header, up to `want` in all; returns
    /// the rest.
    fn take<'d>(&mut self, data: &'d [u8], want: usize) -> &'d [u8] {
        let n = want.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..n]);
        &data[n..]
    }
}

/// A reader of one message's header, in its byte order.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    little: bool,
}

impl Reader<'_> {
    fn align(&mut self, to: usize) -> Result<(), String> {
        let pos = self.pos.div_ceil(to) * to;
        if pos > self.bytes.len() {
            return Err("a header field runs past the header".into());
        }
        self.pos = pos;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("a header field runs past the header")?;
        let got = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(got)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.align(4)?;
        let b: [u8; 4] = self
            .take(4)?
            .try_into()
            .map_err(|_| "a short number".to_owned())?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// A string or object path: length, bytes, NUL.
    fn string(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.u32()?).map_err(|e| e.to_string())?;
        let text = self.take(len)?.to_vec();
        if self.u8()? != 0 {
            return Err("a string without its NUL".into());
        }
        String::from_utf8(text).map_err(|_| "a string that is not UTF-8".into())
    }

    /// A signature: one length byte, bytes, NUL.
    fn signature(&mut self) -> Result<Vec<u8>, String> {
        let len = usize::from(self.u8()?);
        let sig = self.take(len)?.to_vec();
        if self.u8()? != 0 {
            return Err("a signature without its NUL".into());
        }
        Ok(sig)
    }

    /// Skips a value of the basic type `t`.
    fn skip(&mut self, t: u8) -> Result<(), String> {
        match t {
            b'y' => self.take(1).map(drop),
            b'n' | b'q' => self.align(2).and_then(|()| self.take(2).map(drop)),
            b'b' | b'i' | b'u' | b'h' => self.u32().map(drop),
            b'x' | b't' | b'd' => self.align(8).and_then(|()| self.take(8).map(drop)),
            b's' | b'o' => self.string().map(drop),
            b'g' => self.signature().map(drop),
            _ => Err("a header field of a type no header field has".into()),
        }
    }
}

/// The length of the header the fixed part in `fixed` announces, with the
/// padding before the body.
fn header_len(fixed: &[u8], max: usize) -> Result<usize, String> {
    let (_, fields_len, body_len) = sizes(fixed)?;
    let len = (FIXED + fields_len).div_ceil(8) * 8;
    let max = if max == 0 {
        MESSAGE_MAX
    } else {
        max.min(MESSAGE_MAX)
    };
    if len.saturating_add(body_len) > max {
        return Err(format!("a message longer than {max} bytes"));
    }
    Ok(len)
}

/// Byte order, header fields' length and body length, checked.
fn sizes(fixed: &[u8]) -> Result<(bool, usize, usize), String> {
    let little = match fixed.first() {
        Some(b'l') => true,
        Some(b'B') => false,
        _ => return Err("not a D-Bus message".into()),
    };
    if fixed.get(3) != Some(&1) {
        return Err("a message of another protocol version".into());
    }
    let mut r = Reader {
        bytes: fixed,
        pos: 4,
        little,
    };
    let body_len = r.u32()? as usize;
    let _serial = r.u32()?;
    let fields_len = r.u32()? as usize;
    if fields_len > FIELDS_MAX {
        return Err(format!("more than {FIELDS_MAX} bytes of header fields"));
    }
    Ok((little, fields_len, body_len))
}

/// The header of the message whose whole header (and padding) is `head`,
/// and its body's length.
pub fn parse(head: &[u8]) -> Result<(Header, usize), String> {
    let (little, fields_len, body_len) = sizes(head)?;
    if head.len() < FIXED + fields_len {
        return Err("a header cut short".into());
    }
    let kind = head[1];
    if !(1..=4).contains(&kind) {
        return Err("a message of no known type".into());
    }
    let mut r = Reader {
        bytes: &head[..FIXED + fields_len],
        pos: 8,
        little,
    };
    let mut header = Header {
        little,
        kind,
        flags: head[2],
        serial: r.u32()?,
        ..Header::default()
    };
    if header.serial == 0 {
        return Err("a message with serial 0".into());
    }
    r.pos = FIXED;
    while r.pos < r.bytes.len() {
        r.align(8)?;
        let code = r.u8()?;
        let sig = r.signature()?;
        let [t] = sig[..] else {
            return Err("a header field of a type no header field has".into());
        };
        match (code, t) {
            (3, b's') => header.member = Some(r.string()?),
            (5, b'u') => {
                r.align(4)?;
                header.reply_serial_at = Some(r.pos);
                header.reply_serial = Some(r.u32()?);
            }
            (6, b's') => header.destination = Some(r.string()?),
            (7, b's') => header.sender = Some(r.string()?),
            (1, b'o') | (2 | 4, b's') | (8, b'g') | (9, b'u') => r.skip(t)?,
            (0..=9, _) => return Err(format!("header field {code} of the wrong type")),
            // Fields a later version may add: skipped, as the
            // specification says.
            _ => r.skip(t)?,
        }
    }
    Ok((header, body_len))
}

/// A reply to the call `serial` of `destination` with one empty string,
/// little-endian, with its own `serial`.
pub fn empty_string_reply(serial: u32, reply_to: u32, destination: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    let field = |fields: &mut Vec<u8>, code: u8, sig: u8, value: &[u8], align: usize| {
        fields.resize(fields.len().div_ceil(8) * 8, 0);
        fields.extend_from_slice(&[code, 1, sig, 0]);
        fields.resize(fields.len().div_ceil(align) * align, 0);
        fields.extend_from_slice(value);
    };
    field(&mut fields, 5, b'u', &reply_to.to_le_bytes(), 4);
    let mut dest = u32::try_from(destination.len())
        .unwrap_or(0)
        .to_le_bytes()
        .to_vec();
    dest.extend_from_slice(destination.as_bytes());
    dest.push(0);
    field(&mut fields, 6, b's', &dest, 4);
    field(&mut fields, 8, b'g', &[1, b's', 0], 1);
    // The body: a string of length 0 and its NUL.
    let body = [0u8; 5];
    let mut msg = vec![b'l', METHOD_RETURN, NO_REPLY_EXPECTED, 1];
    msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
    msg.extend_from_slice(&serial.to_le_bytes());
    msg.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    msg.extend_from_slice(&fields);
    msg.resize(msg.len().div_ceil(8) * 8, 0);
    msg.extend_from_slice(&body);
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A method call as libdbus writes it (little-endian): Hello to the
    /// bus, 1 byte of body.
    fn call(serial: u32, member: &str, body: &[u8]) -> Vec<u8> {
        let mut fields = Vec::new();
        let string = |fields: &mut Vec<u8>, code: u8, sig: u8, s: &str| {
            fields.resize(fields.len().div_ceil(8) * 8, 0);
            fields.extend_from_slice(&[code, 1, sig, 0]);
            fields.extend_from_slice(&(s.len() as u32).to_le_bytes());
            fields.extend_from_slice(s.as_bytes());
            fields.push(0);
        };
        string(&mut fields, 1, b'o', "/org/freedesktop/DBus");
        string(&mut fields, 3, b's', member);
        string(&mut fields, 7, b's', ":1.7");
        let mut msg = vec![b'l', METHOD_CALL, 0, 1];
        msg.extend_from_slice(&(body.len() as u32).to_le_bytes());
        msg.extend_from_slice(&serial.to_le_bytes());
        msg.extend_from_slice(&(fields.len() as u32).to_le_bytes());
        msg.extend_from_slice(&fields);
        msg.resize(msg.len().div_ceil(8) * 8, 0);
        msg.extend_from_slice(body);
        msg
    }

    #[test]
    fn headers_are_read() {
        let msg = call(7, "GetApplicationBusAddress", b"");
        let (header, body) = parse(&msg).unwrap();
        assert_eq!(
            header,
            Header {
                little: true,
                kind: METHOD_CALL,
                flags: 0,
                serial: 7,
                member: Some("GetApplicationBusAddress".into()),
                reply_serial: None,
                reply_serial_at: None,
                destination: None,
                sender: Some(":1.7".into()),
            }
        );
        assert_eq!(body, 0);
    }

    #[test]
    fn the_reply_is_well_formed() {
        let msg = empty_string_reply(0xffff_fff0, 42, ":1.23");
        assert_eq!(msg.len() % 8, 5, "header padded to 8, then 5 body bytes");
        let (header, body) = parse(&msg[..msg.len() - 5]).unwrap();
        assert_eq!(body, 5);
        assert_eq!(header.kind, METHOD_RETURN);
        assert_eq!(header.flags, NO_REPLY_EXPECTED);
        assert_eq!(header.serial, 0xffff_fff0);
        assert_eq!(header.reply_serial, Some(42));
        assert_eq!(header.destination.as_deref(), Some(":1.23"));
        assert_eq!(&msg[msg.len() - 5..], &[0, 0, 0, 0, 0]);
        // Its serials can be changed in place.
        let mut moved = msg.clone();
        set_u32(&mut moved, SERIAL_AT, true, 3);
        set_u32(&mut moved, header.reply_serial_at.unwrap(), true, 4);
        let (header, _) = parse(&moved[..moved.len() - 5]).unwrap();
        assert_eq!((header.serial, header.reply_serial), (3, Some(4)));
        // Read as zbus reads messages off a bus.
        let data = zbus::zvariant::serialized::Data::new(
            msg.clone(),
            zbus::zvariant::serialized::Context::new_dbus(zbus::zvariant::LE, 0),
        );
        // SAFETY: test only; zbus checks the encoding as it parses.
        let parsed = unsafe { zbus::Message::from_bytes(data) }.unwrap();
        assert_eq!(parsed.body().deserialize::<String>().unwrap(), "");
        assert_eq!(parsed.header().reply_serial().map(|s| s.get()), Some(42));
    }

    #[test]
    fn messages_are_framed_however_they_arrive() {
        let first = call(1, "Hello", b"");
        let second = call(2, "GetApplicationBusAddress", b"abc");
        let third = call(3, "Ping", b"defgh");
        let stream = [first.clone(), second, third.clone()].concat();
        for step in [1, 3, 7, 16, 100, stream.len()] {
            let mut framer = Framer::default();
            let mut passed = Vec::new();
            let mut seen = Vec::new();
            for chunk in stream.chunks(step) {
                let pieces = framer
                    .feed(chunk, |h, _| {
                        seen.push(h.serial);
                        h.member.as_deref() != Some("GetApplicationBusAddress")
                    })
                    .unwrap();
                passed.extend(pieces);
            }
            assert_eq!(seen, [1, 2, 3], "chunks of {step}");
            let bytes: Vec<u8> = passed.iter().flat_map(|p| p.bytes.clone()).collect();
            assert_eq!(
                bytes,
                [first.clone(), third.clone()].concat(),
                "chunks of {step}"
            );
            // Each passed message ends on a piece marked so.
            assert_eq!(
                passed.iter().filter(|p| p.ends).count(),
                2,
                "chunks of {step}"
            );
            assert!(passed.last().unwrap().ends);
        }
    }

    #[test]
    fn no_bytes_make_it_panic() {
        // A fixed pseudo-random walk: valid messages, cut and flipped.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let valid = [
            call(1, "Hello", b""),
            call(2, "GetApplicationBusAddress", b"xyz"),
        ]
        .concat();
        for _ in 0..2000 {
            let mut bytes = valid.clone();
            for _ in 0..(next() % 4) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.truncate((next() as usize) % (bytes.len() + 1));
            let mut framer = Framer::default();
            for chunk in bytes.chunks(1 + (next() as usize) % 9) {
                if framer
                    .feed(chunk, |h, head| {
                        if let Some(at) = h.reply_serial_at {
                            set_u32(head, at, h.little, 1);
                        }
                        next() % 2 == 0
                    })
                    .is_err()
                {
                    break;
                }
            }
        }
    }

    #[test]
    fn what_is_no_message_ends_the_stream() {
        let good = call(5, "Ping", b"");
        let mut bad_endian = good.clone();
        bad_endian[0] = b'x';
        let mut bad_version = good.clone();
        bad_version[3] = 2;
        let mut serial_zero = good.clone();
        serial_zero[8..12].copy_from_slice(&0u32.to_le_bytes());
        let mut huge_fields = good.clone();
        huge_fields[12..16].copy_from_slice(&(FIELDS_MAX as u32 + 1).to_le_bytes());
        let mut huge_body = good.clone();
        huge_body[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut past_end = good.clone();
        // The member's length points past the header.
        let at = good.windows(4).position(|w| w == b"Ping").unwrap() - 4;
        past_end[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        let mut wrong_type = good.clone();
        let sig = good.windows(3).position(|w| w == [3, 1, b's']).unwrap();
        wrong_type[sig + 2] = b'u';
        assert!(parse(&good[..20]).is_err(), "a header cut short");
        for (what, bytes) in [
            ("endian", bad_endian),
            ("version", bad_version),
            ("serial", serial_zero),
            ("fields", huge_fields),
            ("body", huge_body),
            ("past the end", past_end),
            ("type", wrong_type),
        ] {
            let result = Framer::default().feed(&bytes, |_, _| true);
            assert!(result.is_err(), "{what}: {result:?}");
        }
    }
}
