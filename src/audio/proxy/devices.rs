//! What the app learns of the sound devices: wsbox's made-up sink and
//! source only, by index 0, by name, or as the defaults.

use std::ffi::CStr;

use pulseaudio::protocol::{self as pa, CommandTag as T, PulseError, TagStructWrite};

use super::Conn;
use crate::audio::message::{ack, decode, error_packet, reply_packet, List};
use crate::audio::shared::{SINK_NAME, SOURCE_NAME};
use crate::audio::wire::Packet;

/// How a command asks for a device.
enum Query {
    List,
    Lookup,
    Get,
}

impl Conn {
    pub(super) fn sinks(&self, command: T, seq: u32, payload: &[u8]) -> Packet {
        let query = match command {
            T::GetSinkInfoList => Query::List,
            T::LookupSink => Query::Lookup,
            _ => Query::Get,
        };
        let present = self.shared.config.grant.playback();
        let info = || self.shared.sink_info();
        self.device(
            query,
            seq,
            payload,
            present,
            (SINK_NAME, "@DEFAULT_SINK@"),
            info,
        )
    }

    pub(super) fn sources(&self, command: T, seq: u32, payload: &[u8]) -> Packet {
        let query = match command {
            T::GetSourceInfoList => Query::List,
            T::LookupSource => Query::Lookup,
            _ => Query::Get,
        };
        let config = &self.shared.config;
        let present = config.grant.record() || config.silence;
        let info = || self.shared.source_info();
        self.device(
            query,
            seq,
            payload,
            present,
            (SOURCE_NAME, "@DEFAULT_SOURCE@"),
            info,
        )
    }

    /// The answer about one of wsbox's made-up devices, `present` or not,
    /// named `ours` or `default`. A query by index or name has the same
    /// layout for sinks and sources.
    fn device<I: TagStructWrite>(
        &self,
        query: Query,
        seq: u32,
        payload: &[u8],
        present: bool,
        (ours, default): (&CStr, &str),
        info: impl Fn() -> I,
    ) -> Packet {
        let named = || match decode::<pa::GetSinkInfo>(payload, self.version) {
            Ok(q) => matches_ours(q.index, q.name.as_deref(), ours, default),
            Err(_) => false,
        };
        match query {
            Query::List if present => reply_packet(seq, List(vec![info()]), self.version),
            Query::List => ack(seq),
            Query::Lookup if present && lookup_is(payload, ours, default) => {
                reply_packet(seq, pa::LookupReply(0), self.version)
            }
            Query::Get if present && named() => reply_packet(seq, info(), self.version),
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
