//! Recording streams of silence (`record_denied = "silence"`): answered
//! by wsbox alone, at the rate the app asked, from a thread of their own;
//! the host's microphone is never opened.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pulseaudio::protocol::{self as pa, CommandTag as T, PulseError};

use super::message::{ack, error_packet, reply_packet};
use super::shared::{Shared, SOURCE_NAME, STREAMS_MAX};
use super::wire::Packet;

/// The rates and channels a stream of silence may have.
const RATE_MIN: u32 = 1000;
const RATE_MAX: u32 = 192_000;
const CHANNELS_MAX: u8 = 8;
/// The largest block of silence sent at once.
const FRAGMENT_MAX: usize = 64 * 1024;

/// One stream of silence; it stops when told or when `send` fails.
#[derive(Debug, Default)]
pub struct Silent {
    corked: AtomicBool,
    stopped: AtomicBool,
    sent: AtomicU64,
}

impl Silent {
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// Starts a stream of silence on `channel` for the app's `params`; the
/// reply to its creation, or the error to send instead. `send` writes one
/// packet to the app and says whether the app is still there.
pub fn start(
    seq: u32,
    params: &pa::RecordStreamParams,
    channel: u32,
    version: u16,
    shared: &Arc<Shared>,
    send: impl Fn(&Packet) -> bool + Send + 'static,
) -> Result<(Arc<Silent>, Packet), Packet> {
    let spec = params.sample_spec;
    let frame = spec.format.bytes_per_sample() * usize::from(spec.channels);
    let rate = spec.sample_rate;
    if frame == 0 || !(RATE_MIN..=RATE_MAX).contains(&rate) || spec.channels > CHANNELS_MAX {
        return Err(error_packet(seq, PulseError::Invalid));
    }
    // A thread per stream, counted until it ends: deleting and creating
    // streams in a loop does not pile up threads.
    let taken = shared
        .silent_threads
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < STREAMS_MAX).then_some(n + 1)
        })
        .is_ok();
    if !taken {
        return Err(error_packet(seq, PulseError::TooLarge));
    }
    let per_second = frame * rate as usize;
    // Fragments of 20 ms unless the app asked for one between 1 ms and 1 s.
    let asked = params.buffer_attr.fragment_size as usize;
    // At most 64 KiB at once, as libpulse's own blocks.
    let fragment = if (per_second / 1000..=per_second).contains(&asked) {
        asked
    } else {
        per_second / 50
    }
    .clamp(frame, FRAGMENT_MAX.max(frame));
    let fragment = fragment - fragment % frame;
    let silent = Arc::new(Silent::default());
    silent
        .corked
        .store(params.flags.start_corked, Ordering::SeqCst);
    let reply = pa::CreateRecordStreamReply {
        channel,
        stream_index: channel,
        buffer_attr: pa::stream::BufferAttr {
            max_length: (fragment * 4) as u32,
            fragment_size: fragment as u32,
            ..Default::default()
        },
        sample_spec: spec,
        channel_map: params.channel_map,
        stream_latency: 0,
        sink_index: 0,
        sink_name: Some(SOURCE_NAME.to_owned()),
        suspended: false,
        format: pa::FormatInfo::new(pa::FormatEncoding::Pcm),
    };
    let period = Duration::from_secs_f64(fragment as f64 / per_second as f64);
    let stream = silent.clone();
    let counted = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("wsbox-audio-silence".into())
        .spawn(move || {
            let zeros = Packet {
                channel,
                offset: 0,
                flags: 0,
                payload: vec![0; fragment],
            };
            let mut next = Instant::now() + period;
            while !stream.stopped.load(Ordering::SeqCst) {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                next += period;
                if stream.corked.load(Ordering::SeqCst) {
                    continue;
                }
                if !send(&zeros) {
                    break;
                }
                stream.sent.fetch_add(fragment as u64, Ordering::SeqCst);
            }
            counted.silent_threads.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        shared.silent_threads.fetch_sub(1, Ordering::SeqCst);
        return Err(error_packet(seq, PulseError::Internal));
    }
    Ok((silent, reply_packet(seq, reply, version)))
}

/// Answers a command about a stream of silence; true when it deleted it.
pub fn command(
    silent: &Silent,
    command: T,
    seq: u32,
    payload: &[u8],
    version: u16,
) -> (Packet, bool) {
    match command {
        T::DeleteRecordStream => {
            silent.stop();
            (ack(seq), true)
        }
        T::CorkRecordStream => {
            // `L` channel, then the cork as a boolean.
            let corked = payload.get(15) == Some(&b'1');
            silent.corked.store(corked, Ordering::SeqCst);
            (ack(seq), false)
        }
        T::GetRecordLatency => {
            let sent = silent.sent.load(Ordering::SeqCst) as i64;
            let latency = pa::RecordLatency {
                sink_usec: 0,
                source_usec: 0,
                playing: !silent.corked.load(Ordering::SeqCst),
                local_time: client_time(payload),
                remote_time: SystemTime::now(),
                write_offset: sent,
                read_offset: sent,
            };
            (reply_packet(seq, latency, version), false)
        }
        _ => (ack(seq), false),
    }
}

/// The time a latency query carries (`T` after the channel), read here:
/// the app's microseconds may be out of range.
fn client_time(payload: &[u8]) -> SystemTime {
    let word = |i: usize| {
        payload
            .get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    match (payload.get(15), word(16), word(20)) {
        (Some(b'T'), Some(secs), Some(usecs)) => {
            UNIX_EPOCH
                + Duration::from_secs(u64::from(secs))
                + Duration::from_micros(u64::from(usecs.min(999_999)))
        }
        _ => SystemTime::now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_query_time_out_of_range_is_clamped() {
        let mut payload = vec![b'L', 0, 0, 0, 57, b'L', 0, 0, 0, 1, b'L', 0, 0, 0, 0, b'T'];
        payload.extend_from_slice(&5u32.to_be_bytes());
        payload.extend_from_slice(&u32::MAX.to_be_bytes());
        let t = client_time(&payload);
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_micros(5_999_999)
        );
    }

    fn shared() -> Arc<Shared> {
        let (notify, _) = crate::helper::seqpacket_pair().unwrap();
        Arc::new(Shared {
            cookie: Vec::new(),
            config: crate::audio::shared::Config {
                grant: wsbox_policies::AudioGrant::Playback,
                silence: true,
                name: "t".into(),
                host: "/nonexistent".into(),
            },
            streams: Default::default(),
            connections: Default::default(),
            silent_threads: Default::default(),
            recording: Default::default(),
            notify,
        })
    }

    fn params(rate: u32, channels: u8) -> pa::RecordStreamParams {
        pa::RecordStreamParams {
            sample_spec: pa::SampleSpec {
                format: pa::SampleFormat::S16Le,
                channels,
                sample_rate: rate,
            },
            ..Default::default()
        }
    }

    #[test]
    fn silence_is_refused_out_of_range_and_beyond_the_threads_limit() {
        let shared = shared();
        for (rate, channels) in [(0, 2), (768_000, 2), (48_000, 32)] {
            assert!(start(1, &params(rate, channels), 7, 35, &shared, |_| true).is_err());
        }
        // Every stream's thread counts until it has ended.
        let mut streams = Vec::new();
        for i in 0..STREAMS_MAX {
            let (silent, _) = start(1, &params(48_000, 2), i as u32, 35, &shared, |_| true)
                .unwrap_or_else(|_| panic!("stream {i}"));
            streams.push(silent);
        }
        assert!(start(1, &params(48_000, 2), 99, 35, &shared, |_| true).is_err());
        for silent in &streams {
            silent.stop();
        }
        // Each ends within a period (20 ms), and gives its thread back.
        let deadline = Instant::now() + Duration::from_secs(5);
        while shared.silent_threads.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(shared.silent_threads.load(Ordering::SeqCst), 0);
        assert!(start(1, &params(48_000, 2), 100, 35, &shared, |_| true).is_ok());
    }
}
