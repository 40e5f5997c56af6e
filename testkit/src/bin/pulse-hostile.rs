//! A hostile PulseAudio client, for tests/audio.rs: run inside a sandbox
//! with `--audio`, against wsbox's sound endpoint (`PULSE_SERVER`).
//!
//! `pulse-hostile MODE [ARG]`:
//! - `streams N`: one connection asks for N playback streams; prints
//!   `created C refused R`.
//! - `churn N`: N connections (half at protocol 13) that ask for a stream
//!   and go before the answer; prints `churned N connections`.
//! - `stall`: sends commands without ever reading the answers; prints
//!   `disconnected after N commands` once wsbox drops it (or `never` after
//!   60 s).
//! - `spoof`: claims to be Firefox (client and stream properties), plays
//!   silence for ARG seconds; prints `playing` once the stream exists.
//! - `fuzz SEED`: 200 connections of malformed packets and commands from
//!   a seeded generator; prints `fuzzed C connections, D dropped by the
//!   server`.

// A test program: a broken assumption is a failed test, reported loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CString;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use pulseaudio::protocol::{self as pa, Command};

fn socket_path() -> String {
    let server = std::env::var("PULSE_SERVER").unwrap_or_default();
    server.strip_prefix("unix:").unwrap_or(&server).to_owned()
}

/// Connects and authenticates; the socket and the protocol version.
fn connect(name: &str, props: Option<pa::Props>) -> (UnixStream, u16) {
    connect_at(name, props, pa::MAX_VERSION)
}

/// [`connect`], offering protocol `offered`.
fn connect_at(name: &str, props: Option<pa::Props>, offered: u16) -> (UnixStream, u16) {
    let mut sock = UnixStream::connect(socket_path()).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = Command::Auth(pa::AuthParams {
        version: offered,
        supports_shm: false,
        supports_memfd: false,
        cookie: vec![0; 256],
    });
    pa::write_command_message(&mut sock, 0, &auth, offered).unwrap();
    let mut reader = BufReader::new(sock.try_clone().unwrap());
    let (_, reply): (u32, pa::AuthReply) =
        pa::read_reply_message(&mut reader, offered).expect("auth reply");
    let version = reply.version;
    let props = props.unwrap_or_else(|| {
        let mut p = pa::Props::new();
        p.set(pa::Prop::ApplicationName, CString::new(name).unwrap());
        p
    });
    pa::write_command_message(&mut sock, 1, &Command::SetClientName(props), version).unwrap();
    let _: (u32, pa::SetClientNameReply) =
        pa::read_reply_message(&mut reader, version).expect("name reply");
    (sock, version)
}

/// `sync_id` apart for each stream, as libpulse makes them: streams with
/// the same one are played in sync, which PulseAudio then checks.
fn stream_params(props: pa::Props, sync_id: u32) -> pa::PlaybackStreamParams {
    pa::PlaybackStreamParams {
        sync_id,
        sample_spec: pa::SampleSpec {
            format: pa::SampleFormat::S16Le,
            channels: 2,
            sample_rate: 48000,
        },
        channel_map: pa::ChannelMap::stereo(),
        cvolume: Some(pa::ChannelVolume::norm(2)),
        sink_name: Some(c"testsink".to_owned()),
        props,
        buffer_attr: pa::stream::BufferAttr {
            max_length: u32::MAX,
            target_length: u32::MAX,
            pre_buffering: u32::MAX,
            minimum_request_length: u32::MAX,
            fragment_size: u32::MAX,
        },
        ..Default::default()
    }
}

/// Reads until the reply (or error) to `seq`, skipping the server's other
/// messages; Ok(true) for a reply.
fn wait_reply(sock: &mut UnixStream, seq: u32) -> Result<(Vec<u8>, bool), String> {
    loop {
        let mut desc = [0u8; 20];
        std::io::Read::read_exact(sock, &mut desc).map_err(|e| e.to_string())?;
        let len = u32::from_be_bytes(desc[0..4].try_into().unwrap()) as usize;
        let channel = u32::from_be_bytes(desc[4..8].try_into().unwrap());
        let mut payload = vec![0u8; len];
        std::io::Read::read_exact(sock, &mut payload).map_err(|e| e.to_string())?;
        if channel != u32::MAX || payload.len() < 10 {
            continue;
        }
        let tag = u32::from_be_bytes(payload[1..5].try_into().unwrap());
        let s = u32::from_be_bytes(payload[6..10].try_into().unwrap());
        if s == seq && (tag == 0 || tag == 2) {
            return Ok((payload, tag == 2));
        }
    }
}

fn streams(n: u32) {
    let (mut sock, version) = connect("streams", None);
    let (mut created, mut refused) = (0, 0);
    for i in 0..n {
        let seq = 10 + i;
        let cmd = Command::CreatePlaybackStream(stream_params(pa::Props::new(), i));
        if pa::write_command_message(&mut sock, seq, &cmd, version).is_err() {
            break;
        }
        match wait_reply(&mut sock, seq) {
            Ok((_, true)) => created += 1,
            Ok((_, false)) => refused += 1,
            Err(e) => {
                println!("lost the connection: {e}");
                break;
            }
        }
    }
    println!("created {created} refused {refused}");
}

/// `n` connections, half of them at protocol 13, each asking for a stream
/// and gone before the answer.
fn churn(n: u32) {
    for i in 0..n {
        let offered = if i % 2 == 0 { 13 } else { pa::MAX_VERSION };
        let (mut sock, version) = connect_at("churn", None, offered);
        let cmd = Command::CreatePlaybackStream(stream_params(pa::Props::new(), 0));
        let _ = pa::write_command_message(&mut sock, 7, &cmd, version);
    }
    println!("churned {n} connections");
}

fn stall() {
    let (mut sock, version) = connect("stall", None);
    sock.set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(60) {
        let mut buf = Vec::new();
        pa::write_command_message(
            &mut buf,
            100 + sent as u32,
            &Command::GetSinkInfoList,
            version,
        )
        .unwrap();
        if sock.write_all(&buf).is_err() {
            println!("disconnected after {sent} commands");
            return;
        }
        sent += 1;
    }
    println!("never disconnected ({sent} commands)");
}

fn spoof(seconds: u64) {
    let mut props = pa::Props::new();
    props.set(pa::Prop::ApplicationName, c"Firefox");
    props.set(pa::Prop::ApplicationProcessId, c"1");
    props.set(pa::Prop::ApplicationProcessBinary, c"firefox-esr");
    let (mut sock, version) = connect("spoof", Some(props.clone()));
    let mut stream_props = props;
    stream_props.set(pa::Prop::MediaName, c"spoofed tone");
    let cmd = Command::CreatePlaybackStream(stream_params(stream_props, 0));
    pa::write_command_message(&mut sock, 5, &cmd, version).unwrap();
    let (payload, ok) = wait_reply(&mut sock, 5).expect("stream reply");
    assert!(ok, "the stream was refused");
    let mut cursor = std::io::Cursor::new(&payload[10..]);
    let reply: pa::CreatePlaybackStreamReply = pa::TagStructReader::new(&mut cursor, version)
        .read()
        .expect("stream reply");
    println!("playing");
    let end = Instant::now() + Duration::from_secs(seconds);
    let chunk = vec![0u8; 19200];
    while Instant::now() < end {
        if pa::write_memblock(&mut sock, reply.channel, &chunk, 0).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A small xorshift generator: the same seed, the same run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn fuzz(seed: u64) {
    let mut rng = Rng(seed | 1);
    let tags = b"tNLBRraxm10TUvPVf";
    let (mut connections, mut dropped) = (0, 0);
    for _ in 0..200 {
        let (mut sock, _) = connect("fuzz", None);
        connections += 1;
        sock.set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        for _ in 0..rng.below(40) + 1 {
            let mut payload = Vec::new();
            // Mostly commands: a real tag number, a sequence, then random
            // items with lengths that may lie.
            let command = rng.below(4) != 0;
            if command {
                payload.push(b'L');
                payload.extend_from_slice(&(rng.below(110) as u32).to_be_bytes());
                payload.push(b'L');
                payload.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            }
            for _ in 0..rng.below(12) {
                payload.push(tags[rng.below(tags.len() as u64) as usize]);
                let n = match rng.below(3) {
                    0 => 4,
                    1 => rng.below(16) as usize,
                    _ => rng.below(300) as usize,
                };
                for _ in 0..n {
                    let byte = if rng.below(5) == 0 {
                        0xff
                    } else {
                        rng.next() as u8
                    };
                    payload.push(byte);
                }
            }
            let channel = if command || rng.below(2) == 0 {
                u32::MAX
            } else {
                rng.below(4) as u32
            };
            // Sometimes a descriptor that lies about the length.
            let length = match rng.below(10) {
                0 => rng.next() as u32,
                _ => payload.len() as u32,
            };
            let mut packet = Vec::new();
            packet.extend_from_slice(&length.to_be_bytes());
            packet.extend_from_slice(&channel.to_be_bytes());
            packet.extend_from_slice(&[0; 8]);
            packet.extend_from_slice(&(rng.below(3) as u32 * 0x4000_0000).to_be_bytes());
            packet.extend_from_slice(&payload);
            if sock.write_all(&packet).is_err() {
                dropped += 1;
                break;
            }
        }
    }
    println!("fuzzed {connections} connections, {dropped} dropped by the server");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.get(1).map(String::as_str) {
        Some("streams") => streams(arg(2, 1000) as u32),
        Some("stall") => stall(),
        Some("churn") => churn(arg(2, 40) as u32),
        Some("spoof") => spoof(arg(2, 5)),
        Some("fuzz") => fuzz(arg(2, 1)),
        _ => {
            eprintln!("usage: pulse-hostile streams N | stall | spoof SECONDS | fuzz SEED");
            std::process::exit(2);
        }
    }
}
