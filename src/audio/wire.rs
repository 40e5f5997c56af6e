//! The PulseAudio native protocol's framing, read with the app's bytes
//! treated as hostile: every packet's length is bounded before it is read,
//! and a command's tagstruct is walked once ([`check_tagstruct`]) before
//! the `pulseaudio` crate decodes any of it, so that no length the app
//! wrote decides an allocation.
//!
//! A packet is a 20-byte descriptor (length, channel, offset high and low,
//! flags; big-endian) and its payload. Channel `u32::MAX` carries a
//! command: a tagstruct that starts with the command's tag and its
//! sequence number, both `L` (a tag byte and a big-endian u32). Any other
//! channel carries a stream's audio.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The descriptor's size.
pub const DESCRIPTOR: usize = 20;
/// The channel of commands.
pub const COMMAND: u32 = u32::MAX;
/// The largest packet wsbox reads: libpulse sends audio in blocks of at
/// most 64 KiB, and no command an app needs comes near 1 MiB.
pub const PACKET_MAX: u32 = 1 << 20;
/// The flags an audio packet may carry from the app: the seek mode (the
/// low byte). The memory-sharing flags are refused, since wsbox offers no
/// shared memory.
pub const SEEK_MODE_MASK: u32 = 0xff;

/// One packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub channel: u32,
    pub offset: u64,
    pub flags: u32,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn command(payload: Vec<u8>) -> Self {
        Self {
            channel: COMMAND,
            offset: 0,
            flags: 0,
            payload,
        }
    }

    pub fn is_command(&self) -> bool {
        self.channel == COMMAND
    }

    /// The packet as sent ([`write`] sends it without the copy).
    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DESCRIPTOR + self.payload.len());
        out.extend_from_slice(&(self.payload.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.channel.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// The command's tag and sequence number.
    pub fn head(&self) -> Option<(u32, u32)> {
        head(&self.payload)
    }
}

/// Reads one packet; `Ok(None)` at the end of the stream. A packet longer
/// than [`PACKET_MAX`] is an error.
pub fn read(r: &mut impl Read) -> io::Result<Option<Packet>> {
    let mut desc = [0u8; DESCRIPTOR];
    let mut got = 0;
    while got < DESCRIPTOR {
        match r.read(&mut desc[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let word = |i: usize| u32::from_be_bytes([desc[i], desc[i + 1], desc[i + 2], desc[i + 3]]);
    let length = word(0);
    if length > PACKET_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a packet of {length} bytes"),
        ));
    }
    let mut payload = vec![0u8; length as usize];
    r.read_exact(&mut payload)?;
    Ok(Some(Packet {
        channel: word(4),
        offset: (u64::from(word(8)) << 32) | u64::from(word(12)),
        flags: word(16),
        payload,
    }))
}

/// Writes one packet whole: its descriptor and payload in one write where
/// the socket takes it. Fails once `limit` has passed with the packet not
/// yet written (each write may also block that long: the socket's own
/// timeout), so that a peer reading a byte now and then is not waited for.
pub fn write(w: &mut impl Write, packet: &Packet, limit: Duration) -> io::Result<()> {
    let start = Instant::now();
    let mut desc = [0u8; DESCRIPTOR];
    desc[0..4].copy_from_slice(&(packet.payload.len() as u32).to_be_bytes());
    desc[4..8].copy_from_slice(&packet.channel.to_be_bytes());
    desc[8..16].copy_from_slice(&packet.offset.to_be_bytes());
    desc[16..20].copy_from_slice(&packet.flags.to_be_bytes());
    let mut bufs = [io::IoSlice::new(&desc), io::IoSlice::new(&packet.payload)];
    let mut bufs = &mut bufs[..];
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                io::IoSlice::advance_slices(&mut bufs, n);
                if !bufs.is_empty() && start.elapsed() > limit {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The tag and sequence number a command's payload starts with.
pub fn head(payload: &[u8]) -> Option<(u32, u32)> {
    if payload.len() < 10 || payload[0] != b'L' || payload[5] != b'L' {
        return None;
    }
    let tag = u32::from_be_bytes(payload[1..5].try_into().ok()?);
    let seq = u32::from_be_bytes(payload[6..10].try_into().ok()?);
    Some((tag, seq))
}

/// The payload with its sequence number replaced (`head` checked it is
/// there).
pub fn with_seq(mut payload: Vec<u8>, seq: u32) -> Vec<u8> {
    if payload.len() >= 10 {
        payload[6..10].copy_from_slice(&seq.to_be_bytes());
    }
    payload
}

/// The first `L` after the tag and sequence number: the channel or index
/// most commands name first.
pub fn first_u32(payload: &[u8]) -> Option<u32> {
    if payload.len() < 15 || payload[10] != b'L' {
        return None;
    }
    Some(u32::from_be_bytes(payload[11..15].try_into().ok()?))
}

/// The payload with its first `L` after the head replaced (`first_u32`
/// checked it is there).
pub fn with_first(mut payload: Vec<u8>, value: u32) -> Vec<u8> {
    if first_u32(&payload).is_some() {
        payload[11..15].copy_from_slice(&value.to_be_bytes());
    }
    payload
}

/// The most channels a sample spec, channel map or volume may name
/// (PulseAudio's `PA_CHANNELS_MAX`).
pub const CHANNELS_MAX: u8 = 32;

/// Walks a tagstruct and checks that every item is whole and within the
/// payload, that every length and count is within its bounds, and that
/// proplists end. Nothing is allocated. The crate's decoders may then read
/// it without meeting a length the app made up.
pub fn check_tagstruct(payload: &[u8]) -> Result<(), String> {
    let mut at = 0usize;
    let mut open_proplists = 0u32;
    while at < payload.len() {
        let tag = payload[at];
        at += 1;
        let need = |at: usize, n: usize| -> Result<usize, String> {
            let end = at
                .checked_add(n)
                .ok_or_else(|| "a length past the end".to_string())?;
            if end > payload.len() {
                return Err(format!("an item of tag {:?} past the end", tag as char));
            }
            Ok(end)
        };
        at = match tag {
            b't' => {
                let rest = &payload[at..];
                let nul = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or("a string without its end")?;
                at + nul + 1
            }
            b'N' => {
                open_proplists = open_proplists.saturating_sub(1);
                at
            }
            b'0' | b'1' => at,
            b'B' => need(at, 1)?,
            b'L' | b'V' => need(at, 4)?,
            b'R' | b'r' | b'U' | b'T' => need(at, 8)?,
            b'a' => {
                let end = need(at, 6)?;
                let channels = payload[at + 1];
                if channels == 0 || channels > CHANNELS_MAX {
                    return Err(format!("a sample spec of {channels} channels"));
                }
                end
            }
            b'm' | b'v' => {
                let end = need(at, 1)?;
                let n = payload[at];
                if n > CHANNELS_MAX {
                    return Err(format!("{n} channels"));
                }
                let width = if tag == b'm' { 1 } else { 4 };
                need(end, usize::from(n) * width)?
            }
            b'x' => {
                let end = need(at, 4)?;
                let len = u32::from_be_bytes([
                    payload[at],
                    payload[at + 1],
                    payload[at + 2],
                    payload[at + 3],
                ]);
                need(end, len as usize)?
            }
            b'P' => {
                open_proplists += 1;
                at
            }
            // A format info: its encoding (`B`) and proplist follow as
            // items of their own.
            b'f' => at,
            other => return Err(format!("an unknown tag 0x{other:02x}")),
        };
    }
    // A proplist's `N` closes it; a string item may also be `N`, so only
    // a proplist never closed at all is caught here.
    if open_proplists > 0 && !payload.ends_with(b"N") {
        return Err("a proplist without its end".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(v: u32) -> Vec<u8> {
        let mut out = vec![b'L'];
        out.extend_from_slice(&v.to_be_bytes());
        out
    }

    #[test]
    fn packets_roundtrip_and_long_ones_are_refused() {
        let p = Packet {
            channel: 3,
            offset: 0x1_0000_0002,
            flags: 1,
            payload: vec![1, 2, 3],
        };
        let bytes = p.encode();
        assert_eq!(read(&mut &bytes[..]).unwrap(), Some(p));
        assert_eq!(read(&mut &[][..]).unwrap(), None);
        let mut long = bytes.clone();
        long[0..4].copy_from_slice(&(PACKET_MAX + 1).to_be_bytes());
        assert!(read(&mut &long[..]).is_err());
        assert!(read(&mut &bytes[..10]).is_err());
    }

    #[test]
    fn the_head_and_first_argument_are_read_in_place() {
        let payload = [l(4), l(77), l(9)].concat();
        assert_eq!(head(&payload), Some((4, 77)));
        assert_eq!(first_u32(&payload), Some(9));
        let swapped = with_seq(payload, 5);
        assert_eq!(head(&swapped), Some((4, 5)));
        assert_eq!(head(b"L\0\0"), None);
        assert_eq!(first_u32(&[l(4), l(1)].concat()), None);
    }

    #[test]
    fn tagstructs_are_checked_before_anything_reads_them() {
        assert!(check_tagstruct(&[l(8), l(0), vec![b'x', 0, 0, 0, 2, 7, 7]].concat()).is_ok());
        // A cookie longer than the packet.
        let huge = [l(8), l(0), vec![b'x', 0xff, 0xff, 0xff, 0xff, 7]].concat();
        assert!(check_tagstruct(&huge).is_err());
        // Too many channels, an unended string, an unknown tag.
        assert!(check_tagstruct(&[b'a', 3, 33, 0, 0, 0xbb, 0x80]).is_err());
        assert!(check_tagstruct(&[b'v', 40]).is_err());
        assert!(check_tagstruct(b"tabc").is_err());
        assert!(check_tagstruct(b"Z").is_err());
        assert!(check_tagstruct(&[b'L', 0, 0]).is_err());
        // A proplist: key, length, value, end.
        let props = [
            b"Ptmedia.name\0".to_vec(),
            l(2),
            vec![b'x', 0, 0, 0, 2, b'a', 0],
            b"N".to_vec(),
        ]
        .concat();
        assert!(check_tagstruct(&props).is_ok());
        assert!(check_tagstruct(&props[..props.len() - 1]).is_err());
    }
}
