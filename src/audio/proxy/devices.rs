//! What the app learns of the sound devices: wsbox's made-up sink and
//! source only, by index 0, by name, or as the defaults.

use std::ffi::CStr;

use pulseaudio::protocol::{self as pa, CommandTag as T, PulseError};

use super::Conn;
use crate::audio::message::{ack, decode, error_packet, reply_packet, List};
use crate::audio::shared::{SINK_NAME, SOURCE_NAME};
use crate::audio::wire::Packet;

impl Conn {
    pub(super) fn sinks(&self, command: T, seq: u32, payload: &[u8]) -> Packet {
        let playback = self.shared.config.grant.playback();
        let named = |payload: &[u8]| -> bool {
            match decode::<pa::GetSinkInfo>(payload, self.version) {
                Ok(query) => matches_ours(
                    query.index,
                    query.name.as_deref(),
                    SINK_NAME,
                    "@DEFAULT_SINK@",
                ),
                Err(_) => false,
            }
        };
        match command {
            T::GetSinkInfoList if playback => {
                reply_packet(seq, List(vec![self.shared.sink_info()]), self.version)
            }
            T::GetSinkInfoList => ack(seq),
            T::LookupSink if playback && lookup_is(payload, SINK_NAME, "@DEFAULT_SINK@") => {
                reply_packet(seq, pa::LookupReply(0), self.version)
            }
            T::GetSinkInfo if playback && named(payload) => {
                reply_packet(seq, self.shared.sink_info(), self.version)
            }
            _ => error_packet(seq, PulseError::NoEntity),
        }
    }

    pub(super) fn sources(&self, command: T, seq: u32, payload: &[u8]) -> Packet {
        let config = &self.shared.config;
        let any = config.grant.record() || config.silence;
        let named = |payload: &[u8]| -> bool {
            match decode::<pa::GetSourceInfo>(payload, self.version) {
                Ok(query) => matches_ours(
                    query.index,
                    query.name.as_deref(),
                    SOURCE_NAME,
                    "@DEFAULT_SOURCE@",
                ),
                Err(_) => false,
            }
        };
        match command {
            T::GetSourceInfoList if any => {
                reply_packet(seq, List(vec![self.shared.source_info()]), self.version)
            }
            T::GetSourceInfoList => ack(seq),
            T::LookupSource if any && lookup_is(payload, SOURCE_NAME, "@DEFAULT_SOURCE@") => {
                reply_packet(seq, pa::LookupReply(0), self.version)
            }
            T::GetSourceInfo if any && named(payload) => {
                reply_packet(seq, self.shared.source_info(), self.version)
            }
            _ => error_packet(seq, PulseError::NoEntity),
        }
    }
}

/// Whether a query by index or name names wsbox's device.
fn matches_ours(index: Option<u32>, name: Option<&CStr>, ours: &CStr, default: &str) -> bool {
    match (index, name) {
        (Some(0), _) => true,
        (None, Some(name)) => name == ours || name.to_bytes() == default.as_bytes(),
        _ => false,
    }
}

fn lookup_is(payload: &[u8], ours: &CStr, default: &str) -> bool {
    let rest = payload.get(10..).unwrap_or_default();
    let Some(name) = rest.strip_prefix(b"t") else {
        return false;
    };
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    name == ours.to_bytes() || name == default.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_the_devices_wsbox_makes_up() {
        assert!(matches_ours(Some(0), None, SINK_NAME, "@DEFAULT_SINK@"));
        assert!(matches_ours(
            None,
            Some(c"@DEFAULT_SINK@"),
            SINK_NAME,
            "@DEFAULT_SINK@"
        ));
        assert!(matches_ours(
            None,
            Some(SINK_NAME),
            SINK_NAME,
            "@DEFAULT_SINK@"
        ));
        assert!(!matches_ours(Some(1), None, SINK_NAME, "@DEFAULT_SINK@"));
        assert!(!matches_ours(
            None,
            Some(c"alsa_output.pci-0000_00_1f.3.analog-stereo"),
            SINK_NAME,
            "@DEFAULT_SINK@"
        ));
    }
}
