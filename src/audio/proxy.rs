//! One app connection to the sandbox's sound endpoint, and the host
//! connection wsbox opens for it.
//!
//! ```text
//! app ──▶ pulse/native ──▶ (client thread)  ──▶ host's sound server
//!   ◀──────────────────── (host thread) ◀──
//! ```
//!
//! The client thread reads what the app sends and decides each command:
//! answered here (the server's, sink's and source's descriptions, which
//! wsbox makes up; the lists, which hold only those; the app's own
//! properties, acknowledged and dropped), passed on to the host (the app's
//! own streams only, each named by the channel or index the host gave it),
//! or refused with the protocol's access error. The host thread passes the
//! host's answers back, each matched to the command wsbox sent for it, and
//! the host's messages about the app's streams; the host's words about its
//! devices, other clients and events never reach the app.
//!
//! A stream's creation is rewritten: no device the app names is used (the
//! host's default sink or source always), the app's properties keep only
//! `media.*`, and the host's answer names wsbox's sink or source. A
//! recording stream is passed to the app only once the host has said that
//! its source is no monitor; its audio is dropped until then.

mod devices;

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pulseaudio::protocol::{self as pa, CommandTag as T, PulseError};
use wsbox_policies::AudioGrant;

use super::host::{connect_host, HANDSHAKE_WAIT, VERSION_MIN, WRITE_WAIT};
use super::message::{ack, decode, encode_command, error_packet, reply_packet, tag_of, List};
use super::sanitize::{at_most_norm, media_only};
use super::shared::{Shared, SINK_NAME, SOURCE_NAME, STREAMS_MAX};
use super::silence::{self, Silent};
use super::wire::{self, Packet};

/// Each side's read buffer.
const READ_BUFFER: usize = 64 * 1024;
/// Commands waiting for the host's answer, per connection.
const PENDING_MAX: usize = 256;
/// The client index the app is told it has.
const CLIENT_INDEX: u32 = 0;
/// Silent recording streams are numbered from here, apart from the host's
/// channels.
const SILENT_BASE: u32 = 0x4000_0000;

/// What a command sent to the host waits for.
#[derive(Debug)]
enum Pending {
    /// The answer goes to the app as it is, under the app's number.
    Forward(u32),
    /// A playback stream's creation.
    Playback(u32),
    /// A recording stream's creation.
    Record(u32),
    /// The source of a new recording stream, checked before the app has it.
    Check {
        seq: u32,
        reply: Box<pa::CreateRecordStreamReply>,
    },
    /// wsbox's own: nothing goes to the app.
    Drop,
}

/// One of the app's streams on the host.
#[derive(Debug, Clone, Copy)]
struct Own {
    /// The host's sink input or source output index (a global counter,
    /// which would tell the app how many streams others made).
    host: u32,
    /// The index the app is told, counted on this connection.
    index: u32,
}

#[derive(Debug, Default)]
struct State {
    /// The app's playback streams, by channel.
    playback: HashMap<u32, Own>,
    /// Recording streams whose source passed the check, by channel.
    record: HashMap<u32, Own>,
    next_index: u32,
    silent: HashMap<u32, Arc<Silent>>,
    pending: HashMap<u32, Pending>,
    next_seq: u32,
    next_silent: u32,
    /// Streams counted against the sandbox's limit.
    streams: usize,
}

/// One app connection.
pub struct Conn {
    shared: Arc<Shared>,
    version: u16,
    client: Mutex<UnixStream>,
    host: Mutex<UnixStream>,
    state: Mutex<State>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("version", &self.version)
            .finish()
    }
}

/// Serves one app connection until it or the host ends.
pub fn serve(client: UnixStream, shared: Arc<Shared>) {
    let conn = match handshake(client, shared) {
        Ok(conn) => Arc::new(conn),
        Err(e) => {
            tracing::debug!("audio: a connection ended in its handshake: {e}");
            return;
        }
    };
    let host_side = {
        let conn = conn.clone();
        std::thread::Builder::new()
            .name("wsbox-audio-host".into())
            .spawn(move || {
                let result = conn.host_loop();
                conn.close(result.err());
            })
    };
    if host_side.is_err() {
        conn.close(Some("no thread for the host's side".into()));
        return;
    }
    let result = conn.client_loop();
    conn.close(result.err());
    if let Ok(thread) = host_side {
        let _ = thread.join();
    }
    conn.release();
}

/// The app's AUTH, the host's connection and its AUTH and name, then the
/// app's answer.
fn handshake(mut client: UnixStream, shared: Arc<Shared>) -> Result<Conn, String> {
    client
        .set_read_timeout(Some(HANDSHAKE_WAIT))
        .and_then(|()| client.set_write_timeout(Some(WRITE_WAIT)))
        .map_err(|e| e.to_string())?;
    let packet = wire::read(&mut client)
        .map_err(|e| e.to_string())?
        .ok_or("closed")?;
    let (tag, seq) = packet.head().ok_or("no command")?;
    if !packet.is_command() || tag != T::Auth as u32 {
        return Err("the first command was not AUTH".into());
    }
    wire::check_tagstruct(&packet.payload)?;
    let auth: pa::AuthParams = decode(&packet.payload, pa::MAX_VERSION)?;
    let refuse = |client: &mut UnixStream, error: PulseError| {
        let _ = wire::write(client, &error_packet(seq, error), WRITE_WAIT);
    };
    if auth.version < VERSION_MIN {
        refuse(&mut client, PulseError::Version);
        return Err(format!("protocol version {} is too old", auth.version));
    }
    let offered = auth.version.min(pa::MAX_VERSION);
    let host = match connect_host(&shared, offered) {
        Ok(host) => host,
        Err(e) => {
            refuse(&mut client, PulseError::ConnectionRefused);
            tracing::warn!("audio: {e}");
            return Err(e);
        }
    };
    let version = host.1;
    let reply = pa::AuthReply {
        version,
        use_shm: false,
        use_memfd: false,
    };
    wire::write(&mut client, &reply_packet(seq, reply, version), WRITE_WAIT)
        .map_err(|e| e.to_string())?;
    client.set_read_timeout(None).map_err(|e| e.to_string())?;
    Ok(Conn {
        shared,
        version,
        client: Mutex::new(client),
        host: Mutex::new(host.0),
        state: Mutex::new(State {
            next_silent: SILENT_BASE,
            ..State::default()
        }),
        closed: AtomicBool::new(false),
    })
}

fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the client thread does with one command.
enum Verdict {
    /// Answer the app.
    Answer(Packet),
    /// Pass on to the host (the payload, with wsbox's sequence number put
    /// in), waiting as said.
    Host(Vec<u8>, Pending),
}

impl Conn {
    fn to_client(&self, packet: &Packet) -> Result<(), String> {
        wire::write(&mut *lock(&self.client), packet, WRITE_WAIT)
            .map_err(|e| format!("the app does not read: {e}"))
    }

    fn to_host(&self, packet: &Packet) -> Result<(), String> {
        wire::write(&mut *lock(&self.host), packet, WRITE_WAIT)
            .map_err(|e| format!("the host's sound server does not read: {e}"))
    }

    /// Ends both sides; the threads then see the end of their streams.
    fn close(&self, why: Option<String>) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(why) = why {
            tracing::info!("audio: an app connection ended: {why}");
        }
        let _ = lock(&self.client).shutdown(std::net::Shutdown::Both);
        let _ = lock(&self.host).shutdown(std::net::Shutdown::Both);
    }

    /// Gives back the connection's streams to the sandbox's count.
    fn release(&self) {
        let mut state = lock(&self.state);
        for silent in state.silent.values() {
            silent.stop();
        }
        self.shared
            .streams
            .fetch_sub(state.streams, Ordering::SeqCst);
        state.streams = 0;
        let recording = state.record.len();
        state.record.clear();
        drop(state);
        self.shared.recording_changed(-(recording as isize));
    }

    fn client_loop(self: &Arc<Self>) -> Result<(), String> {
        // Buffered: a packet's descriptor and payload in one read, mostly.
        let mut reader = std::io::BufReader::with_capacity(
            READ_BUFFER,
            lock(&self.client).try_clone().map_err(|e| e.to_string())?,
        );
        loop {
            let Some(packet) = wire::read(&mut reader).map_err(|e| e.to_string())? else {
                return Ok(());
            };
            if !packet.is_command() {
                self.audio_from_client(packet)?;
                continue;
            }
            let (tag, seq) = packet.head().ok_or("a command without its head")?;
            wire::check_tagstruct(&packet.payload)?;
            match self.decide(tag, seq, packet.payload)? {
                Verdict::Answer(answer) => self.to_client(&answer)?,
                Verdict::Host(payload, pending) => {
                    let mut state = lock(&self.state);
                    if state.pending.len() >= PENDING_MAX {
                        return Err("too many commands waiting for the host".into());
                    }
                    let ours = state.next_seq;
                    state.next_seq = state.next_seq.wrapping_add(1);
                    state.pending.insert(ours, pending);
                    drop(state);
                    self.to_host(&Packet::command(wire::with_seq(payload, ours)))?;
                }
            }
        }
    }

    /// Audio the app sends: only to its own playback streams, without
    /// shared-memory flags.
    fn audio_from_client(&self, packet: Packet) -> Result<(), String> {
        if packet.flags & !wire::SEEK_MODE_MASK != 0 {
            return Err("audio with shared-memory flags".into());
        }
        if !lock(&self.state).playback.contains_key(&packet.channel) {
            // As PulseAudio does: audio for no stream is dropped.
            return Ok(());
        }
        self.to_host(&packet)
    }

    fn decide(self: &Arc<Self>, tag: u32, seq: u32, payload: Vec<u8>) -> Result<Verdict, String> {
        let deny = |e| Ok(Verdict::Answer(error_packet(seq, e)));
        let forward = |payload| Ok(Verdict::Host(payload, Pending::Forward(seq)));
        let Some(command) = tag_of(tag) else {
            return deny(PulseError::Command);
        };
        let first = wire::first_u32(&payload);
        let state = lock(&self.state);
        let own_playback = first.is_some_and(|c| state.playback.contains_key(&c));
        let own_record = first.is_some_and(|c| state.record.contains_key(&c));
        let silent = first.and_then(|c| state.silent.get(&c).cloned());
        let host_of = |map: &HashMap<u32, Own>| {
            first.and_then(|i| map.values().find(|own| own.index == i).map(|own| own.host))
        };
        let own_input = host_of(&state.playback);
        let own_output = host_of(&state.record);
        drop(state);
        match command {
            T::CreatePlaybackStream => self.create_playback(seq, &payload),
            T::CreateRecordStream => self.create_record(seq, &payload),
            T::DeletePlaybackStream if own_playback => {
                self.forget(first.unwrap_or_default(), false);
                forward(payload)
            }
            T::DeleteRecordStream if own_record => {
                self.forget(first.unwrap_or_default(), true);
                forward(payload)
            }
            T::DrainPlaybackStream
            | T::GetPlaybackLatency
            | T::CorkPlaybackStream
            | T::FlushPlaybackStream
            | T::TriggerPlaybackStream
            | T::PrebufPlaybackStream
            | T::SetPlaybackStreamName
            | T::SetPlaybackStreamBufferAttr
            | T::UpdatePlaybackStreamSampleRate
                if own_playback =>
            {
                forward(payload)
            }
            T::GetRecordLatency
            | T::CorkRecordStream
            | T::FlushRecordStream
            | T::SetRecordStreamName
            | T::SetRecordStreamBufferAttr
            | T::UpdateRecordStreamSampleRate
                if own_record =>
            {
                forward(payload)
            }
            T::DeleteRecordStream
            | T::GetRecordLatency
            | T::CorkRecordStream
            | T::FlushRecordStream
            | T::SetRecordStreamName
            | T::SetRecordStreamBufferAttr
            | T::UpdateRecordStreamSampleRate
            | T::UpdateRecordStreamProplist
            | T::RemoveRecordStreamProplist
                if silent.is_some() =>
            {
                let silent = silent.unwrap_or_default();
                let (answer, deleted) =
                    silence::command(&silent, command, seq, &payload, self.version);
                if deleted {
                    lock(&self.state).silent.remove(&first.unwrap_or_default());
                    self.give_back_stream();
                }
                Ok(Verdict::Answer(answer))
            }
            T::SetSinkInputVolume if own_input.is_some() => {
                self.set_volume(seq, own_input.unwrap_or_default(), &payload)
            }
            T::SetSourceOutputVolume if own_output.is_some() => {
                self.set_volume(seq, own_output.unwrap_or_default(), &payload)
            }
            T::SetSinkInputMute if own_input.is_some() => {
                forward(wire::with_first(payload, own_input.unwrap_or_default()))
            }
            T::SetSourceOutputMute if own_output.is_some() => {
                forward(wire::with_first(payload, own_output.unwrap_or_default()))
            }
            // The app's own words about itself and its streams: taken,
            // never passed on (the host knows it as `[wsbox:NAME]`).
            T::SetClientName => Ok(Verdict::Answer(reply_packet(
                seq,
                pa::SetClientNameReply {
                    client_id: CLIENT_INDEX,
                },
                self.version,
            ))),
            T::UpdateClientProplist | T::RemoveClientProplist | T::Subscribe => {
                Ok(Verdict::Answer(ack(seq)))
            }
            T::UpdatePlaybackStreamProplist | T::RemovePlaybackStreamProplist if own_playback => {
                Ok(Verdict::Answer(ack(seq)))
            }
            T::UpdateRecordStreamProplist | T::RemoveRecordStreamProplist if own_record => {
                Ok(Verdict::Answer(ack(seq)))
            }
            T::GetServerInfo => Ok(Verdict::Answer(reply_packet(
                seq,
                self.shared.server_info(),
                self.version,
            ))),
            T::GetSinkInfo | T::LookupSink | T::GetSinkInfoList => {
                Ok(Verdict::Answer(self.sinks(command, seq, &payload)))
            }
            T::GetSourceInfo | T::LookupSource | T::GetSourceInfoList => {
                Ok(Verdict::Answer(self.sources(command, seq, &payload)))
            }
            T::GetClientInfo if first == Some(CLIENT_INDEX) => Ok(Verdict::Answer(reply_packet(
                seq,
                self.shared.client_info(),
                self.version,
            ))),
            T::GetClientInfoList => Ok(Verdict::Answer(reply_packet(
                seq,
                List(vec![self.shared.client_info()]),
                self.version,
            ))),
            // Lists of what the app may not see: empty.
            T::GetModuleInfoList
            | T::GetSinkInputInfoList
            | T::GetSourceOutputInfoList
            | T::GetSampleInfoList
            | T::GetCardInfoList => Ok(Verdict::Answer(ack(seq))),
            T::GetModuleInfo
            | T::GetClientInfo
            | T::GetSinkInputInfo
            | T::GetSourceOutputInfo
            | T::GetSampleInfo
            | T::GetCardInfo => deny(PulseError::NoEntity),
            T::Extension => deny(PulseError::NoExtension),
            // Streams that are not the app's, and everything else:
            // modules, the sample cache, other clients, devices, defaults.
            _ => deny(PulseError::AccessDenied),
        }
    }

    fn create_playback(&self, seq: u32, payload: &[u8]) -> Result<Verdict, String> {
        if !self.shared.config.grant.playback() {
            return Ok(Verdict::Answer(error_packet(seq, PulseError::AccessDenied)));
        }
        let mut params: pa::PlaybackStreamParams = match decode(payload, self.version) {
            Ok(params) => params,
            Err(e) => {
                tracing::debug!("audio: a playback stream refused: {e}");
                return Ok(Verdict::Answer(error_packet(seq, PulseError::Invalid)));
            }
        };
        if !self.take_stream() {
            return Ok(Verdict::Answer(error_packet(seq, PulseError::TooLarge)));
        }
        params.sink_index = None;
        params.sink_name = None;
        params.props = media_only(&params.props);
        // The host's device's own format, rate and channels would describe
        // it to the app.
        params.flags.fix_format = false;
        params.flags.fix_rate = false;
        params.flags.fix_channels = false;
        params.cvolume = params.cvolume.map(at_most_norm);
        let command = encode_command(&pa::Command::CreatePlaybackStream(params), self.version);
        Ok(Verdict::Host(command, Pending::Playback(seq)))
    }

    fn create_record(self: &Arc<Self>, seq: u32, payload: &[u8]) -> Result<Verdict, String> {
        let config = &self.shared.config;
        if !config.grant.record() && !config.silence || config.grant == AudioGrant::None {
            return Ok(Verdict::Answer(error_packet(seq, PulseError::AccessDenied)));
        }
        let mut params: pa::RecordStreamParams = match decode(payload, self.version) {
            Ok(params) => params,
            Err(_) => return Ok(Verdict::Answer(error_packet(seq, PulseError::Invalid))),
        };
        if !self.take_stream() {
            return Ok(Verdict::Answer(error_packet(seq, PulseError::TooLarge)));
        }
        if !config.grant.record() {
            return Ok(Verdict::Answer(self.start_silence(seq, &params)));
        }
        params.source_index = None;
        params.source_name = None;
        params.direct_on_input_index = None;
        params.props = media_only(&params.props);
        params.flags.fix_format = false;
        params.flags.fix_rate = false;
        params.flags.fix_channels = false;
        params.cvolume = params.cvolume.map(at_most_norm);
        // The source was checked once: the host must never move the stream
        // to another (a monitor); it ends it instead.
        params.flags.no_move = true;
        let command = encode_command(&pa::Command::CreateRecordStream(params), self.version);
        Ok(Verdict::Host(command, Pending::Record(seq)))
    }

    /// A stream of silence instead of the host's microphone.
    fn start_silence(self: &Arc<Self>, seq: u32, params: &pa::RecordStreamParams) -> Packet {
        let channel = {
            let mut state = lock(&self.state);
            let channel = state.next_silent;
            state.next_silent = state.next_silent.wrapping_add(1);
            channel
        };
        let conn = Arc::downgrade(self);
        let send = move |packet: &Packet| {
            let Some(conn) = conn.upgrade() else {
                return false;
            };
            if conn.closed.load(Ordering::SeqCst) {
                return false;
            }
            match conn.to_client(packet) {
                Ok(()) => true,
                Err(e) => {
                    conn.close(Some(e));
                    false
                }
            }
        };
        match silence::start(seq, params, channel, self.version, &self.shared, send) {
            Ok((silent, reply)) => {
                lock(&self.state).silent.insert(channel, silent);
                reply
            }
            Err(error) => {
                self.give_back_stream();
                error
            }
        }
    }

    /// Counts a new stream against the sandbox's limit.
    fn take_stream(&self) -> bool {
        let limit = STREAMS_MAX;
        let taken = self
            .shared
            .streams
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok();
        if taken {
            lock(&self.state).streams += 1;
        } else {
            tracing::info!("audio: an app asked for more than {limit} streams");
        }
        taken
    }

    /// Forgets one of the app's streams, once: a stream the app deletes
    /// while the host kills it is given back to the count only once.
    fn forget(&self, channel: u32, record: bool) -> bool {
        let mut state = lock(&self.state);
        let map = if record {
            &mut state.record
        } else {
            &mut state.playback
        };
        if map.remove(&channel).is_none() {
            return false;
        }
        let counted = state.streams > 0;
        state.streams = state.streams.saturating_sub(1);
        drop(state);
        if counted {
            self.shared.streams.fetch_sub(1, Ordering::SeqCst);
        }
        if record {
            self.shared.recording_changed(-1);
        }
        true
    }

    /// Sets the volume of one of the app's streams (the host's index
    /// `host`), at most 100%: above it, a host with flat volumes would
    /// raise its device's volume for every app.
    fn set_volume(&self, seq: u32, host: u32, payload: &[u8]) -> Result<Verdict, String> {
        let Ok(mut params) = decode::<pa::SetStreamVolumeParams>(payload, self.version) else {
            return Ok(Verdict::Answer(error_packet(seq, PulseError::Invalid)));
        };
        params.index = host;
        params.volume = at_most_norm(params.volume);
        let command = match tag_of(wire::head(payload).map_or(0, |(tag, _)| tag)) {
            Some(T::SetSourceOutputVolume) => pa::Command::SetSourceOutputVolume(params),
            _ => pa::Command::SetSinkInputVolume(params),
        };
        Ok(Verdict::Host(
            encode_command(&command, self.version),
            Pending::Forward(seq),
        ))
    }

    /// A new stream of the app's: the index it is told.
    fn own(&self, channel: u32, host: u32, record: bool) -> u32 {
        let mut state = lock(&self.state);
        let index = state.next_index;
        state.next_index = state.next_index.wrapping_add(1);
        let own = Own { host, index };
        if record {
            state.record.insert(channel, own);
        } else {
            state.playback.insert(channel, own);
        }
        index
    }

    /// Gives back one stream to the sandbox's count, unless the
    /// connection already gave back all of its own.
    fn give_back_stream(&self) {
        let mut state = lock(&self.state);
        if state.streams == 0 {
            return;
        }
        state.streams -= 1;
        drop(state);
        self.shared.streams.fetch_sub(1, Ordering::SeqCst);
    }

    fn host_loop(self: &Arc<Self>) -> Result<(), String> {
        let mut reader = std::io::BufReader::with_capacity(
            READ_BUFFER,
            lock(&self.host).try_clone().map_err(|e| e.to_string())?,
        );
        loop {
            let Some(packet) = wire::read(&mut reader).map_err(|e| e.to_string())? else {
                return Err("the host's sound server closed the connection".into());
            };
            if !packet.is_command() {
                // Audio of a recording stream the app has (checked).
                if lock(&self.state).record.contains_key(&packet.channel) {
                    self.to_client(&packet)?;
                }
                continue;
            }
            let Some((tag, seq)) = packet.head() else {
                continue;
            };
            if tag == T::Reply as u32 || tag == T::Error as u32 {
                let pending = lock(&self.state).pending.remove(&seq);
                if let Some(pending) = pending {
                    self.answer(tag == T::Reply as u32, pending, packet)?;
                }
                continue;
            }
            self.host_event(tag, packet)?;
        }
    }

    /// The host's answer to a command wsbox sent.
    fn answer(self: &Arc<Self>, ok: bool, pending: Pending, packet: Packet) -> Result<(), String> {
        let to_app = |seq: u32, packet: Packet| {
            self.to_client(&Packet::command(wire::with_seq(packet.payload, seq)))
        };
        match pending {
            Pending::Drop => Ok(()),
            Pending::Forward(seq) => to_app(seq, packet),
            Pending::Playback(seq) if !ok => {
                self.give_back_stream();
                to_app(seq, packet)
            }
            Pending::Record(seq) if !ok => {
                self.give_back_stream();
                to_app(seq, packet)
            }
            Pending::Playback(seq) => {
                let mut reply: pa::CreatePlaybackStreamReply =
                    decode(&packet.payload, self.version)?;
                reply.stream_index = self.own(reply.channel, reply.stream_index, false);
                reply.sink_index = 0;
                reply.sink_name = Some(SINK_NAME.to_owned());
                self.to_client(&reply_packet(seq, reply, self.version))
            }
            Pending::Record(seq) => {
                let reply: pa::CreateRecordStreamReply = decode(&packet.payload, self.version)?;
                let mut state = lock(&self.state);
                let ours = state.next_seq;
                state.next_seq = state.next_seq.wrapping_add(1);
                let source = reply.sink_index;
                state.pending.insert(
                    ours,
                    Pending::Check {
                        seq,
                        reply: Box::new(reply),
                    },
                );
                drop(state);
                let query = pa::Command::GetSourceInfo(pa::GetSourceInfo {
                    index: Some(source),
                    name: None,
                });
                self.to_host(&Packet::command(wire::with_seq(
                    encode_command(&query, self.version),
                    ours,
                )))
            }
            Pending::Check { seq, mut reply } => {
                let monitor = !ok
                    || decode::<pa::SourceInfo>(&packet.payload, self.version)
                        .map_or(true, |info| info.monitor_of_sink_index.is_some());
                let mut state = lock(&self.state);
                if monitor {
                    let ours = state.next_seq;
                    state.next_seq = state.next_seq.wrapping_add(1);
                    state.pending.insert(ours, Pending::Drop);
                    drop(state);
                    self.give_back_stream();
                    tracing::warn!(
                        "audio: the host's default source is a monitor of what plays; \
                         the app's recording was refused"
                    );
                    let delete = pa::Command::DeleteRecordStream(reply.channel);
                    self.to_host(&Packet::command(wire::with_seq(
                        encode_command(&delete, self.version),
                        ours,
                    )))?;
                    return self.to_client(&error_packet(seq, PulseError::NoEntity));
                }
                drop(state);
                reply.stream_index = self.own(reply.channel, reply.stream_index, true);
                self.shared.recording_changed(1);
                reply.sink_index = 0;
                reply.sink_name = Some(SOURCE_NAME.to_owned());
                self.to_client(&reply_packet(seq, *reply, self.version))
            }
        }
    }

    /// A message the host sends on its own: passed on only when it is
    /// about one of the app's streams, and never when it names a device.
    fn host_event(&self, tag: u32, packet: Packet) -> Result<(), String> {
        let Some(command) = tag_of(tag) else {
            return Ok(());
        };
        let channel = wire::first_u32(&packet.payload);
        let state = lock(&self.state);
        let playback = channel.is_some_and(|c| state.playback.contains_key(&c));
        let record = channel.is_some_and(|c| state.record.contains_key(&c));
        drop(state);
        match command {
            T::Request
            | T::Underflow
            | T::Overflow
            | T::Started
            | T::PlaybackBufferAttrChanged
            | T::PlaybackStreamEvent
                if playback =>
            {
                self.to_client(&packet)
            }
            T::RecordBufferAttrChanged | T::RecordStreamEvent if record => self.to_client(&packet),
            T::PlaybackStreamKilled if playback => {
                self.forget(channel.unwrap_or_default(), false);
                self.to_client(&packet)
            }
            T::RecordStreamKilled if record => {
                self.forget(channel.unwrap_or_default(), true);
                self.to_client(&packet)
            }
            // Never moved (no_move), but should the host move it anyway,
            // the new source was not checked: the stream ends.
            T::RecordStreamMoved if record => {
                let channel = channel.unwrap_or_default();
                self.forget(channel, true);
                tracing::warn!("audio: the host moved the app's recording stream; it was ended");
                let mut state = lock(&self.state);
                let ours = state.next_seq;
                state.next_seq = state.next_seq.wrapping_add(1);
                state.pending.insert(ours, Pending::Drop);
                drop(state);
                let delete = pa::Command::DeleteRecordStream(channel);
                self.to_host(&Packet::command(wire::with_seq(
                    encode_command(&delete, self.version),
                    ours,
                )))?;
                let killed = pa::Command::RecordStreamKilled(channel);
                self.to_client(&Packet::command(wire::with_seq(
                    encode_command(&killed, self.version),
                    u32::MAX,
                )))
            }
            // Moves name the host's devices; suspensions tell when others
            // play or record; subscription and client events are about
            // others.
            _ => Ok(()),
        }
    }
}
