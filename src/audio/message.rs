//! The messages wsbox writes itself (replies, errors, the commands it
//! sends the host) and the reading of the parts of messages it decodes,
//! on the `pulseaudio` crate's tagstructs.

use std::io::Cursor;

use pulseaudio::protocol::{
    self as pa, CommandTag as T, PulseError, TagStructReader, TagStructWrite, TagStructWriter,
};

use super::wire::{self, Packet};

pub(super) fn error_name(payload: &[u8]) -> String {
    wire::first_u32(payload)
        .and_then(|code| {
            let mut bytes = vec![b'L'];
            bytes.extend_from_slice(&code.to_be_bytes());
            TagStructReader::new(&mut Cursor::new(bytes), pa::MAX_VERSION)
                .read_enum::<PulseError>()
                .ok()
        })
        .map_or_else(|| "an unknown error".into(), |e| e.to_string())
}

/// Decodes what follows a payload's tag and sequence number.
pub(super) fn decode<R: pa::TagStructRead>(payload: &[u8], version: u16) -> Result<R, String> {
    let mut cursor = Cursor::new(payload.get(10..).unwrap_or_default());
    TagStructReader::new(&mut cursor, version)
        .read::<R>()
        .map_err(|e| format!("a malformed message: {e}"))
}

pub(super) fn encode_with(seq: u32, tag: u32, version: u16, body: impl TagStructWrite) -> Packet {
    let mut payload = Vec::new();
    let mut ts = TagStructWriter::new(&mut payload, version);
    // Writing into a Vec fails only on values the protocol cannot carry,
    // which wsbox's own never are; such a reply goes out empty.
    let _ = ts
        .write_u32(tag)
        .and_then(|()| ts.write_u32(seq))
        .and_then(|()| ts.write(body));
    Packet::command(payload)
}

pub(super) fn reply_packet(seq: u32, body: impl TagStructWrite, version: u16) -> Packet {
    encode_with(seq, T::Reply as u32, version, body)
}

pub(super) fn ack(seq: u32) -> Packet {
    reply_packet(seq, Nothing, pa::MAX_VERSION)
}

pub(super) fn error_packet(seq: u32, error: PulseError) -> Packet {
    encode_with(seq, T::Error as u32, pa::MAX_VERSION, Code(error as u32))
}

/// A reply with nothing after the sequence number (an ack, an empty list).
pub(super) struct Nothing;

impl TagStructWrite for Nothing {
    fn write(&self, _: &mut TagStructWriter<'_>, _: u16) -> Result<(), pa::ProtocolError> {
        Ok(())
    }
}

pub(super) struct Code(u32);

impl TagStructWrite for Code {
    fn write(&self, w: &mut TagStructWriter<'_>, _: u16) -> Result<(), pa::ProtocolError> {
        w.write_u32(self.0)
    }
}

/// A list reply: the items one after the other.
pub(super) struct List<I>(pub(super) Vec<I>);

impl<I: TagStructWrite> TagStructWrite for List<I> {
    fn write(&self, w: &mut TagStructWriter<'_>, _: u16) -> Result<(), pa::ProtocolError> {
        for item in &self.0 {
            w.write(item)?;
        }
        Ok(())
    }
}

pub(super) fn encode_command(command: &pa::Command, version: u16) -> Vec<u8> {
    let mut payload = Vec::new();
    // Only values decoded from a checked tagstruct or made by wsbox.
    let _ = command.write_tag_prefixed(0, &mut payload, version);
    payload
}

pub(super) fn tag_of(tag: u32) -> Option<T> {
    let mut bytes = vec![b'L'];
    bytes.extend_from_slice(&tag.to_be_bytes());
    TagStructReader::new(&mut Cursor::new(bytes), pa::MAX_VERSION)
        .read_enum::<T>()
        .ok()
}
