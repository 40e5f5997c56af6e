//! The `[audio]` section: whether the app may play sound, record it, or
//! neither. The app never reaches the host's sound server: wsbox serves a
//! PulseAudio endpoint of its own inside and passes on only the streams
//! the grant allows (docs/audio.md).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What the app may do with sound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AudioGrant {
    /// No sound server inside at all.
    #[default]
    #[serde(rename = "none")]
    None,
    /// Playback streams to one sink wsbox makes up.
    #[serde(rename = "playback")]
    Playback,
    /// Recording streams from one source wsbox makes up, which carries the
    /// host's default source (never a monitor).
    #[serde(rename = "record")]
    Record,
    /// Both.
    #[serde(rename = "playback+record")]
    PlaybackRecord,
}

impl AudioGrant {
    /// Every value, as written in a policy and on the command line.
    pub const NAMES: &[&str] = &["none", "playback", "record", "playback+record"];

    pub fn playback(self) -> bool {
        matches!(self, Self::Playback | Self::PlaybackRecord)
    }

    pub fn record(self) -> bool {
        matches!(self, Self::Record | Self::PlaybackRecord)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Playback => "playback",
            Self::Record => "record",
            Self::PlaybackRecord => "playback+record",
        }
    }
}

impl fmt::Display for AudioGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AudioGrant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Self::None),
            "playback" => Ok(Self::Playback),
            "record" => Ok(Self::Record),
            "playback+record" | "record+playback" => Ok(Self::PlaybackRecord),
            other => Err(format!(
                "unknown audio grant {other:?}: one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// What a recording stream gets without the `record` grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordDenied {
    /// The protocol's access error: the app says it cannot record.
    #[default]
    Refuse,
    /// A stream of silence at the asked rate, for apps that will not start
    /// without a microphone. The host's microphone is never opened.
    Silence,
}

/// The app and sound.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audio {
    /// `none` (no sound server inside), `playback`, `record` or
    /// `playback+record`.
    #[serde(default)]
    pub allow: AudioGrant,
    /// Without `record`: `refuse` a recording stream (the default) or give
    /// it `silence`. Only meaningful when `allow` is not `none`.
    #[serde(default)]
    pub record_denied: RecordDenied,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn none_unless_the_policy_grants_it() {
        let p = Policy::from_toml("", "t").unwrap();
        assert_eq!(p.audio.allow, AudioGrant::None);
        assert_eq!(p.audio.record_denied, RecordDenied::Refuse);
        let p = Policy::from_toml(
            "[audio]\nallow = \"playback+record\"\nrecord_denied = \"silence\"\n",
            "t",
        )
        .unwrap();
        assert!(p.audio.allow.playback() && p.audio.allow.record());
        assert_eq!(p.audio.record_denied, RecordDenied::Silence);
        assert!(Policy::from_toml("[audio]\nallow = \"all\"\n", "t").is_err());
        assert!(Policy::from_toml("[audio]\nrecord_denied = \"zeros\"\n", "t").is_err());
        assert!(Policy::from_toml("[audio]\nmicrophone = true\n", "t").is_err());
        assert!(Policy::default()
            .to_toml()
            .contains("[audio]\nallow = \"none\"\nrecord_denied = \"refuse\"\n"));
    }

    #[test]
    fn names_parse_as_written() {
        for name in AudioGrant::NAMES {
            assert_eq!(name.parse::<AudioGrant>().unwrap().name(), *name);
        }
        assert!(!AudioGrant::Playback.record());
        assert!(!AudioGrant::Record.playback());
        assert!("mic".parse::<AudioGrant>().is_err());
    }
}
