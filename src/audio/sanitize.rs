//! What wsbox changes in what the app asks of the host: the properties of
//! its streams and their volumes.

use pulseaudio::protocol as pa;

/// The app's stream properties wsbox passes on: its title
/// (`media.name`, `media.title`, `media.artist`) and a role that asks the
/// host for nothing more than playing it (`music`, `video`, `game`,
/// `event`, `animation`, `production`). Nothing that claims who the app
/// is, and not `phone`, which would pause others' streams, load an echo
/// canceller or route the stream elsewhere on PulseAudio.
pub fn media_only(props: &pa::Props) -> pa::Props {
    const TITLES: &[&[u8]] = &[b"media.name", b"media.title", b"media.artist"];
    const ROLES: &[&[u8]] = &[
        b"music\0",
        b"video\0",
        b"game\0",
        b"event\0",
        b"animation\0",
        b"production\0",
    ];
    let mut kept = pa::Props::new();
    for (key, value) in props.iter() {
        let key_bytes = key.to_bytes();
        let role_ok = key_bytes == b"media.role" && ROLES.contains(&value.as_ref());
        if TITLES.contains(&key_bytes) || role_ok {
            kept.set_bytes(key.as_ref(), value.as_ref());
        }
    }
    kept
}

/// `volume` with every channel at most 100%.
pub fn at_most_norm(volume: pa::ChannelVolume) -> pa::ChannelVolume {
    let mut out = pa::ChannelVolume::empty();
    for v in volume.channels() {
        out.push(pa::Volume::from_u32_clamped(
            v.as_u32().min(pa::Volume::NORM.as_u32()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_titles_and_plain_roles_pass() {
        let mut props = pa::Props::new();
        props.set(pa::Prop::MediaName, c"song");
        props.set(pa::Prop::MediaRole, c"music");
        props.set(pa::Prop::ApplicationName, c"Firefox");
        props.set(pa::Prop::ApplicationProcessId, c"1");
        props.set_bytes(c"media.class", b"Audio/Sink\0".as_slice());
        let kept = media_only(&props);
        assert_eq!(kept.iter().count(), 2);
        assert!(kept.get(pa::Prop::MediaName).is_some());
        assert_eq!(kept.get(pa::Prop::MediaRole), Some(b"music\0".as_slice()));
        let mut phone = pa::Props::new();
        phone.set(pa::Prop::MediaRole, c"phone");
        assert_eq!(media_only(&phone).iter().count(), 0);
    }

    #[test]
    fn volumes_stop_at_100_percent() {
        let mut loud = pa::ChannelVolume::empty();
        loud.push(pa::Volume::from_u32_clamped(0x30000));
        loud.push(pa::Volume::from_u32_clamped(0x8000));
        let v = at_most_norm(loud);
        let got: Vec<u32> = v.channels().iter().map(pa::Volume::as_u32).collect();
        assert_eq!(got, [0x10000, 0x8000]);
    }
}
