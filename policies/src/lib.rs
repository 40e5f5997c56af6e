//! The policy model of wsbox: what a sandbox may see and do, as plain serde data.
//!
//! This crate only parses, validates and describes policies. It never touches the
//! system: the sandbox runtime and the compositor turn a [`Policy`] into action.
//! Every section has defaults, so a policy file names only what it changes, and
//! unknown fields are errors so a typo never silently weakens a sandbox.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The built-in profiles, embedded in the binary.
pub const PRESETS: &[(&str, &str)] = &[("default", include_str!("../presets/default.toml"))];

/// Host environment variables that belong to the host session and must never be
/// passed into a sandbox: each one names a socket or credential outside it.
pub const HOST_SESSION_VARIABLES: &[&str] = &[
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_SYSTEM_BUS_ADDRESS",
    "DISPLAY",
    "XAUTHORITY",
    "WAYLAND_DISPLAY",
    "WAYLAND_SOCKET",
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "XDG_RUNTIME_DIR",
    "XDG_SESSION_ID",
    "XDG_SEAT",
    "XDG_VTNR",
    "PULSE_SERVER",
    "PIPEWIRE_REMOTE",
    "SESSION_MANAGER",
    "KRB5CCNAME",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
];

/// Sandbox directories wsbox builds itself; a bind may go inside them but not
/// replace them whole (a host /etc would bring shadow and ssh keys along).
const RESERVED_SANDBOX_DIRS: &[&str] = &["/", "/etc", "/usr", "/run", "/tmp", "/var", "/home"];

/// Kernel interfaces wsbox mounts itself; nothing may be bound into them.
const RESERVED_SANDBOX_TREES: &[&str] = &["/proc", "/dev", "/sys", "/run/wsbox"];

/// Errors from loading or validating a policy. Messages name the file, the line
/// and the field involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("failed to read policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid policy {origin}{location}: {message}")]
    Parse {
        origin: String,
        location: String,
        message: String,
    },
    #[error("invalid policy {origin}: {field}: {message}")]
    Invalid {
        origin: String,
        field: String,
        message: String,
    },
    #[error("unknown profile {name:?} (built-in profiles: {known})")]
    UnknownProfile { name: String, known: String },
}

/// A whole policy. Later features add sections; each section defaults to the
/// strictest setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// One line for humans: what this policy is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub identity: Identity,
    #[serde(default)]
    pub filesystem: Filesystem,
    #[serde(default)]
    pub environment: Environment,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub display: Display,
    #[serde(default)]
    pub keyboard: Keyboard,
    #[serde(default)]
    pub clipboard: Clipboard,
}

/// How the sandbox's windows are shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Display {
    /// The colour of wsbox's frame around the sandbox's windows, `#rrggbb`.
    #[serde(default = "default_color")]
    pub color: String,
    /// In window mode: who draws the host window's title bar.
    #[serde(default)]
    pub host_decorations: HostDecorations,
}

impl Default for Display {
    fn default() -> Self {
        Self {
            color: default_color(),
            host_decorations: HostDecorations::default(),
        }
    }
}

/// Who draws the title bar of a sandbox's host window. wsbox's coloured
/// border is drawn either way: the marking never depends on the host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostDecorations {
    /// wsbox draws its own title bar with the marked title and a close
    /// button, on every host.
    #[default]
    Own,
    /// The host draws its title bar (xdg-decoration server-side) when it
    /// offers one, showing the marked title wsbox sets; wsbox's own bar
    /// otherwise.
    Server,
}

fn default_color() -> String {
    "#e66100".to_owned()
}

impl Display {
    /// The frame colour as RGB; `validate` has checked it.
    pub fn rgb(&self) -> [u8; 3] {
        parse_color(&self.color).unwrap_or([0xe6, 0x61, 0x00])
    }
}

/// Parses `#rrggbb`.
pub fn parse_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// The xkb keymap of the sandbox's keyboard. Empty fields fall back to the
/// XKB_DEFAULT_* variables, then to xkb's defaults (us).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keyboard {
    #[serde(default)]
    pub rules: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub layout: String,
    #[serde(default)]
    pub variant: String,
    #[serde(default)]
    pub options: String,
}

/// What may cross between the sandbox's clipboard and the host's (window
/// mode). Inside one sandbox the clipboard always works; the primary
/// selection never crosses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clipboard {
    #[serde(default)]
    pub mode: ClipboardMode,
    /// The most bytes one copy or paste carries across; larger ones are
    /// refused whole.
    #[serde(default = "default_clipboard_max_bytes")]
    pub max_bytes: u64,
}

impl Default for Clipboard {
    fn default() -> Self {
        Self {
            mode: ClipboardMode::default(),
            max_bytes: default_clipboard_max_bytes(),
        }
    }
}

fn default_clipboard_max_bytes() -> u64 {
    1 << 20
}

/// The largest `clipboard.max_bytes`: what crosses is held in memory.
pub const CLIPBOARD_MAX_BYTES_LIMIT: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipboardMode {
    /// Only by the user's gesture in the sandbox's window: Ctrl+Shift+C
    /// copies the sandbox's selection to the host, Ctrl+Shift+V the host's
    /// into the sandbox. Text only, at most `max_bytes`.
    #[default]
    Gesture,
    /// Nothing crosses, ever.
    Isolated,
    /// The convenience choice, less safe: the clipboard follows the host's
    /// keyboard focus. While the sandbox's window has it, the host's
    /// selection is copied in and what an app inside copies goes out (text
    /// only, at most `max_bytes`); an app inside can read whatever the user
    /// copied elsewhere once its window is focused.
    Auto,
}

/// What the sandbox calls itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The host name inside the sandbox (UTS namespace and /etc/hostname).
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// /etc/machine-id: new for every run, or the same for every run of a
    /// sandbox with the same name.
    #[serde(default)]
    pub machine_id: MachineId,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            hostname: default_hostname(),
            machine_id: MachineId::default(),
        }
    }
}

/// How the sandbox's /etc/machine-id is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineId {
    /// Random for every run.
    #[default]
    Random,
    /// Derived from the sandbox's name and a secret key of the invoking
    /// user: stable across runs of one app, unrelated to the host's and to
    /// other apps'.
    Stable,
}

fn default_hostname() -> String {
    "sandbox".to_owned()
}

/// File system grants beyond the fixed minimal root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filesystem {
    /// Extra bind mounts of host paths.
    #[serde(default)]
    pub bind: Vec<Bind>,
    /// Mount a read-only sysfs at /sys. It shows hardware details and serials.
    #[serde(default)]
    pub sys: bool,
    /// The app's home: an empty tmpfs when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<Home>,
}

/// A persistent home: a host directory that keeps the app's $HOME across
/// runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Home {
    /// The host directory (absolute or `~/…`); `<name>` stands for the
    /// sandbox's name. Created 0700 when missing.
    pub persist: PathBuf,
}

/// One host path made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// The host path (absolute; `~` stands for the invoking user's home).
    pub host: PathBuf,
    /// Where it appears inside; the host path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<PathBuf>,
    #[serde(default)]
    pub mode: Access,
    /// A device, socket or FIFO may be bound here; refused otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub special: bool,
}

impl Bind {
    /// The path inside the sandbox.
    pub fn target(&self) -> &Path {
        self.sandbox.as_deref().unwrap_or(&self.host)
    }
}

/// Read-only or read-write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    #[default]
    Ro,
    Rw,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Ro => "ro",
            Access::Rw => "rw",
        })
    }
}

/// The environment of the app. It starts empty: wsbox sets HOME, USER, PATH,
/// XDG_RUNTIME_DIR and friends, then adds what is listed here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Host variables passed through when set on the host.
    #[serde(default)]
    pub pass: Vec<String>,
    /// Variables set to fixed values (they win over `pass`).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

/// Network access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub mode: NetworkMode,
    /// Mode `tor`: the host's Tor SOCKS port, `HOST:PORT`.
    #[serde(default = "default_tor")]
    pub tor: String,
    /// Mode `user`: whether the host's LAN (RFC 1918, link-local, ULA) is
    /// reachable. The host's loopback never is.
    #[serde(default)]
    pub allow_lan: bool,
    /// Loopback ports of the host made reachable at the same address inside,
    /// each one explicitly: `tcp:127.0.0.1:631`.
    #[serde(default)]
    pub forward: Vec<String>,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            mode: NetworkMode::default(),
            tor: default_tor(),
            allow_lan: false,
            forward: Vec::new(),
        }
    }
}

/// Where Tor's SOCKS port usually is, and where the sandbox finds it inside.
pub const TOR_SOCKS_DEFAULT: &str = "127.0.0.1:9050";

/// At most this many forwarded ports (pid 1 passes the listening sockets
/// to wsbox in one message of bounded size).
pub const MAX_FORWARDS: usize = 16;

/// Ports Tor and Tor Browser's Tor listen on (SOCKS 9050/9150, control
/// 9051/9151, TransPort 9040): forwarded raw, they would bypass the relay's
/// per-sandbox isolation, and a control port tells the host's real address.
pub const TOR_PORTS: &[u16] = &[9040, 9050, 9051, 9150, 9151];

fn default_tor() -> String {
    TOR_SOCKS_DEFAULT.to_owned()
}

impl Network {
    /// The host's Tor SOCKS address; `validate` has checked it.
    pub fn tor_addr(&self) -> Option<SocketAddr> {
        parse_socket_addr(&self.tor).ok()
    }

    /// The forwarded loopback addresses; `validate` has checked them.
    pub fn forward_addrs(&self) -> Vec<SocketAddr> {
        self.forward
            .iter()
            .filter_map(|f| parse_forward(f).ok())
            .collect()
    }
}

/// The network modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Only the sandbox's own loopback interface.
    #[default]
    None,
    /// The host's network namespace: everything the host reaches.
    Host,
    /// User-mode networking (pasta, else slirp4netns): outbound TCP, UDP and
    /// DNS; not the host's loopback, not the LAN unless `allow_lan`.
    User,
    /// No route anywhere; 127.0.0.1:9050 inside leads to the host's Tor
    /// SOCKS port, with per-sandbox stream isolation.
    Tor,
}

impl NetworkMode {
    /// The mode's name as the policy and `--net` spell it.
    pub fn name(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::User => "user",
            NetworkMode::Tor => "tor",
        }
    }

    /// A mode by name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::None, Self::Host, Self::User, Self::Tor]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

/// `HOST:PORT` with a numeric IPv4 or IPv6 (`[::1]:9050`) address and a
/// port other than 0.
pub fn parse_socket_addr(text: &str) -> Result<SocketAddr, String> {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => Err(format!("{text:?}: port 0 is not a port")),
        Err(_) => Err(format!(
            "{text:?} is not an address of the form HOST:PORT (numeric, e.g. 127.0.0.1:9050)"
        )),
    }
}

/// A `forward` entry: `tcp:ADDR:PORT` with a loopback ADDR.
pub fn parse_forward(text: &str) -> Result<SocketAddr, String> {
    let Some(rest) = text.strip_prefix("tcp:") else {
        return Err(format!(
            "{text:?} is not a forward of the form tcp:127.0.0.1:PORT (only tcp is supported)"
        ));
    };
    let addr = parse_socket_addr(rest)?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{text:?}: only the host's loopback ports can be forwarded"
        ));
    }
    Ok(addr)
}

/// How hard the kernel's security features are required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub landlock: Requirement,
}

/// Whether a kernel feature is required or used when available.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// Refuse to start without it.
    #[default]
    Required,
    /// Use it when the kernel has it; say so when it does not.
    BestEffort,
}

impl Policy {
    /// Parses and validates policy text. `origin` names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, Error> {
        let policy: Policy = toml::from_str(text).map_err(|err| Error::Parse {
            origin: origin.to_owned(),
            location: err
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default(),
            message: err.message().trim().replace('\n', " "),
        })?;
        policy.validate(origin)?;
        Ok(policy)
    }

    /// Loads a policy file.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Result<Self, Error> {
        let text = builtin_text(name)?;
        Self::from_toml(text, &format!("profile {name}"))
    }

    /// The effective policy as TOML, every default spelled out.
    pub fn to_toml(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        toml::to_string_pretty(self).unwrap_or_else(|err| format!("# cannot render: {err}\n"))
    }

    /// Checks what serde cannot: paths, names and reserved places.
    pub fn validate(&self, origin: &str) -> Result<(), Error> {
        let invalid = |field: String, message: String| Error::Invalid {
            origin: origin.to_owned(),
            field,
            message,
        };
        validate_hostname(&self.identity.hostname)
            .map_err(|m| invalid("identity.hostname".into(), m))?;
        if parse_color(&self.display.color).is_none() {
            return Err(invalid(
                "display.color".into(),
                format!(
                    "{:?} is not a colour of the form #rrggbb",
                    self.display.color
                ),
            ));
        }
        if !(1..=CLIPBOARD_MAX_BYTES_LIMIT).contains(&self.clipboard.max_bytes) {
            return Err(invalid(
                "clipboard.max_bytes".into(),
                format!(
                    "{} is not between 1 and {CLIPBOARD_MAX_BYTES_LIMIT}",
                    self.clipboard.max_bytes
                ),
            ));
        }
        self.validate_network()
            .map_err(|(field, m)| invalid(field.into(), m))?;
        for (i, bind) in self.filesystem.bind.iter().enumerate() {
            let field = format!("filesystem.bind[{i}]");
            validate_host_path(&bind.host).map_err(|m| invalid(format!("{field}.host"), m))?;
            validate_sandbox_path(bind.target())
                .map_err(|m| invalid(format!("{field}.sandbox"), m))?;
        }
        if let Some(home) = &self.filesystem.home {
            validate_host_path(&home.persist)
                .map_err(|m| invalid("filesystem.home.persist".into(), m))?;
        }
        for name in &self.environment.pass {
            validate_env_name(name).map_err(|m| invalid("environment.pass".into(), m))?;
            if HOST_SESSION_VARIABLES.contains(&name.as_str()) || name.starts_with("DBUS_") {
                return Err(invalid(
                    "environment.pass".into(),
                    format!(
                        "{name} belongs to the host session and is never passed into a sandbox"
                    ),
                ));
            }
        }
        for (name, value) in &self.environment.set {
            validate_env_name(name).map_err(|m| invalid("environment.set".into(), m))?;
            if value.contains('\0') {
                return Err(invalid(
                    format!("environment.set.{name}"),
                    "value contains a NUL byte".into(),
                ));
            }
        }
        Ok(())
    }
}

impl Policy {
    fn validate_network(&self) -> Result<(), (&'static str, String)> {
        let net = &self.network;
        let tor = parse_socket_addr(&net.tor).map_err(|m| ("network.tor", m))?;
        let mut inside = Vec::new();
        if net.mode == NetworkMode::Tor {
            inside.push(parse_socket_addr(TOR_SOCKS_DEFAULT).unwrap_or(tor));
        }
        if net.forward.len() > MAX_FORWARDS {
            return Err((
                "network.forward",
                format!("{} forwards; at most {MAX_FORWARDS}", net.forward.len()),
            ));
        }
        for forward in &net.forward {
            let addr = parse_forward(forward).map_err(|m| ("network.forward", m))?;
            if net.mode == NetworkMode::Host {
                return Err((
                    "network.forward",
                    format!(
                        "{forward:?}: mode \"host\" shares the host's loopback already; \
                         forwards need mode none, user or tor"
                    ),
                ));
            }
            if inside.contains(&addr) {
                return Err((
                    "network.forward",
                    format!("{forward:?}: port {} is already in use inside", addr.port()),
                ));
            }
            if net.mode == NetworkMode::Tor
                && (TOR_PORTS.contains(&addr.port()) || addr.port() == tor.port())
            {
                return Err((
                    "network.forward",
                    format!(
                        "{forward:?}: port {} is one of Tor's own (SOCKS, control or \
                         transparent proxy port); in mode \"tor\" it is not forwarded, the \
                         app gets Tor only through 127.0.0.1:9050",
                        addr.port()
                    ),
                ));
            }
            inside.push(addr);
        }
        if self.filesystem.sys && net.mode == NetworkMode::Host {
            return Err((
                "filesystem.sys",
                "a sysfs cannot be mounted in the host's network namespace (mode \"host\"); \
                 use another network mode or no /sys"
                    .into(),
            ));
        }
        if net.allow_lan && net.mode != NetworkMode::User {
            return Err((
                "network.allow_lan",
                format!(
                    "only mode \"user\" reaches a LAN, not mode {:?}",
                    net.mode.name()
                ),
            ));
        }
        Ok(())
    }
}

/// The text of a built-in profile.
pub fn builtin_text(name: &str) -> Result<&'static str, Error> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| Error::UnknownProfile {
            name: name.to_owned(),
            known: PRESETS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    // A span should end on a character boundary; if not, count up to the
    // last one before it rather than fail.
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// A host name as RFC 1123 allows it: 1–63 letters, digits and inner hyphens.
pub fn validate_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid host name (1-63 letters, digits and inner hyphens)"
        ))
    }
}

/// An environment variable name: letters, digits and underscores, not starting with a digit.
pub fn validate_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid environment variable name"))
    }
}

/// A host path in a policy: absolute (or `~`-relative), without `..`.
pub fn validate_host_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if !(path.is_absolute() || text == "~" || text.starts_with("~/")) {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{} contains '..'", path.display()));
    }
    Ok(())
}

/// A path inside the sandbox: absolute, normal components only, and not one of
/// the places wsbox sets up itself.
pub fn validate_sandbox_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if text == "~" || text.starts_with("~/") {
        // The app's home; expanded by the runtime.
        return Ok(());
    }
    if !path.is_absolute() {
        return Err(format!("{} is not an absolute path", path.display()));
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
    {
        return Err(format!(
            "{} must not contain '.' or '..' components",
            path.display()
        ));
    }
    let normal: PathBuf = path.components().collect();
    if RESERVED_SANDBOX_DIRS.iter().any(|r| normal == Path::new(r)) {
        return Err(format!(
            "{} is built by wsbox and cannot be replaced (bind into it instead)",
            path.display()
        ));
    }
    if let Some(tree) = RESERVED_SANDBOX_TREES
        .iter()
        .find(|r| normal.starts_with(Path::new(r)))
    {
        return Err(format!(
            "{} is inside {tree}, which wsbox sets up itself",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_validates() {
        for (name, _) in PRESETS {
            let policy = Policy::builtin(name).unwrap();
            assert!(policy.description.is_some(), "{name} has no description");
        }
    }

    #[test]
    fn default_preset_equals_the_strict_defaults_apart_from_description() {
        let mut preset = Policy::builtin("default").unwrap();
        preset.description = None;
        let mut strict = Policy::default();
        strict.environment.pass = preset.environment.pass.clone();
        assert_eq!(preset, strict);
        assert_eq!(preset.network.mode, NetworkMode::None);
        assert_eq!(preset.security.landlock, Requirement::Required);
        assert!(!preset.filesystem.sys);
    }

    #[test]
    fn empty_text_is_the_strict_default() {
        assert_eq!(Policy::from_toml("", "t").unwrap(), Policy::default());
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let err = Policy::from_toml("[identity]\nhostname = \"a\"\nfoo = 1\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("p.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("foo"), "{err}");
        assert!(!err.contains('\n'), "error must be one line: {err}");
    }

    #[test]
    fn errors_in_non_ascii_text_keep_their_position() {
        let err = Policy::from_toml("description = \"Grüße\"\n[identity]\nhöst = 1\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn unknown_network_mode_is_refused() {
        let err = Policy::from_toml("[network]\nmode = \"wifi\"\n", "p.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("wifi"), "{err}");
    }

    #[test]
    fn network_modes_parse_with_their_options() {
        for mode in ["none", "host", "user", "tor"] {
            let p = Policy::from_toml(&format!("[network]\nmode = \"{mode}\"\n"), "t").unwrap();
            assert_eq!(p.network.mode.name(), mode);
            assert_eq!(NetworkMode::from_name(mode), Some(p.network.mode));
        }
        assert_eq!(NetworkMode::from_name("wifi"), None);
        let p = Policy::from_toml(
            "[network]\nmode = \"tor\"\ntor = \"[::1]:9150\"\nforward = [\"tcp:127.0.0.1:631\", \"tcp:[::1]:8080\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.network.tor_addr(), Some("[::1]:9150".parse().unwrap()));
        assert_eq!(
            p.network.forward_addrs(),
            vec![
                "127.0.0.1:631".parse::<SocketAddr>().unwrap(),
                "[::1]:8080".parse().unwrap()
            ]
        );
        let p = Policy::from_toml("[network]\nmode = \"user\"\nallow_lan = true\n", "t").unwrap();
        assert!(p.network.allow_lan);
        // Tor's ports are refused in mode tor only.
        assert!(Policy::from_toml("[network]\nforward = [\"tcp:127.0.0.1:9051\"]\n", "t").is_ok());
        let many: Vec<String> = (0..=MAX_FORWARDS)
            .map(|i| format!("\"tcp:127.0.0.1:{}\"", 2000 + i))
            .collect();
        let text = format!("[network]\nforward = [{}]\n", many.join(", "));
        let err = Policy::from_toml(&text, "t").unwrap_err().to_string();
        assert!(err.contains("at most 16"), "{err}");
        assert_eq!(
            Policy::default().network.tor_addr(),
            Some("127.0.0.1:9050".parse().unwrap())
        );
    }

    #[test]
    fn bad_network_options_are_refused_with_their_field() {
        for (text, field, says) in [
            ("tor = \"localhost:9050\"", "network.tor", "HOST:PORT"),
            ("tor = \"127.0.0.1\"", "network.tor", "HOST:PORT"),
            ("tor = \"127.0.0.1:0\"", "network.tor", "port 0"),
            (
                "forward = [\"udp:127.0.0.1:53\"]",
                "network.forward",
                "only tcp",
            ),
            (
                "forward = [\"tcp:192.168.1.1:80\"]",
                "network.forward",
                "loopback",
            ),
            (
                "forward = [\"tcp:127.0.0.1:99999\"]",
                "network.forward",
                "HOST:PORT",
            ),
            (
                "mode = \"tor\"\nforward = [\"tcp:127.0.0.1:9050\"]",
                "network.forward",
                "already in use",
            ),
            (
                "forward = [\"tcp:127.0.0.1:631\", \"tcp:127.0.0.1:631\"]",
                "network.forward",
                "already in use",
            ),
            (
                "mode = \"tor\"\nforward = [\"tcp:127.0.0.1:9051\"]",
                "network.forward",
                "Tor's own",
            ),
            (
                "mode = \"tor\"\nforward = [\"tcp:[::1]:9150\"]",
                "network.forward",
                "Tor's own",
            ),
            (
                "mode = \"tor\"\ntor = \"127.0.0.1:7000\"\nforward = [\"tcp:127.0.0.1:7000\"]",
                "network.forward",
                "Tor's own",
            ),
            (
                "mode = \"host\"\nforward = [\"tcp:127.0.0.1:631\"]",
                "network.forward",
                "host",
            ),
            (
                "mode = \"tor\"\nallow_lan = true",
                "network.allow_lan",
                "user",
            ),
        ] {
            let err = Policy::from_toml(&format!("[network]\n{text}\n"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(field) && err.contains(says), "{text}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn machine_id_is_random_unless_stable_is_asked() {
        assert_eq!(Policy::default().identity.machine_id, MachineId::Random);
        let p = Policy::from_toml("[identity]\nmachine_id = \"stable\"\n", "t").unwrap();
        assert_eq!(p.identity.machine_id, MachineId::Stable);
        assert!(Policy::from_toml("[identity]\nmachine_id = \"host\"\n", "t").is_err());
    }

    #[test]
    fn binds_parse_with_defaults() {
        let p = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/srv/a\"\n[[filesystem.bind]]\nhost = \"/srv/b\"\nsandbox = \"/data\"\nmode = \"rw\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(p.filesystem.bind.len(), 2);
        assert_eq!(p.filesystem.bind[0].mode, Access::Ro);
        assert_eq!(p.filesystem.bind[0].target(), Path::new("/srv/a"));
        assert_eq!(p.filesystem.bind[1].mode, Access::Rw);
        assert_eq!(p.filesystem.bind[1].target(), Path::new("/data"));
    }

    #[test]
    fn bad_binds_are_refused_with_their_field() {
        for (text, field) in [
            (
                "[[filesystem.bind]]\nhost = \"rel\"\n",
                "filesystem.bind[0].host",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/a/../b\"\n",
                "filesystem.bind[0].host",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/a\"\nsandbox = \"/proc/x\"\n",
                "filesystem.bind[0].sandbox",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/\"\n",
                "filesystem.bind[0].sandbox",
            ),
            (
                "[[filesystem.bind]]\nhost = \"/etc\"\n",
                "filesystem.bind[0].sandbox",
            ),
        ] {
            let err = Policy::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(field), "{text:?}: {err}");
        }
    }

    #[test]
    fn persistent_home_parses_and_is_checked() {
        let p = Policy::from_toml(
            "[filesystem]\nhome = { persist = \"~/.local/share/wsbox/<name>\" }\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            p.filesystem.home.as_ref().map(|h| h.persist.clone()),
            Some(PathBuf::from("~/.local/share/wsbox/<name>"))
        );
        assert_eq!(Policy::from_toml(&p.to_toml(), "round").unwrap(), p);
        for text in [
            "[filesystem]\nhome = { persist = \"rel\" }\n",
            "[filesystem]\nhome = { persist = \"/a/../b\" }\n",
        ] {
            let err = Policy::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains("filesystem.home.persist"), "{err}");
        }
        let err = Policy::from_toml("[filesystem]\nhome = { keep = \"/a\" }\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keep"), "{err}");
    }

    #[test]
    fn special_files_need_the_bind_s_grant() {
        let p = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/run/x.sock\"\nsandbox = \"/tmp/x.sock\"\nspecial = true\n",
            "t",
        )
        .unwrap();
        assert!(p.filesystem.bind[0].special);
        assert!(
            !Policy::from_toml("[[filesystem.bind]]\nhost = \"/a\"\n", "t")
                .unwrap()
                .filesystem
                .bind[0]
                .special
        );
        let err = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/a\"\nsandbox = \"/run/wsbox/files/a\"\n",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/run/wsbox"), "{err}");
    }

    #[test]
    fn host_session_variables_cannot_be_passed() {
        for name in [
            "DBUS_SESSION_BUS_ADDRESS",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "DBUS_FOO",
        ] {
            let text = format!("[environment]\npass = [\"{name}\"]\n");
            let err = Policy::from_toml(&text, "t").unwrap_err().to_string();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(Policy::from_toml("[identity]\nhostname = \"a b\"\n", "t").is_err());
        assert!(Policy::from_toml("[identity]\nhostname = \"\"\n", "t").is_err());
        assert!(Policy::from_toml("[environment]\nset = { \"1A\" = \"x\" }\n", "t").is_err());
        assert!(Policy::from_toml("[environment]\nset = { \"A=B\" = \"x\" }\n", "t").is_err());
    }

    #[test]
    fn colors_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_color("#ff0080"), Some([255, 0, 128]));
        assert_eq!(parse_color("ff0080"), None);
        assert_eq!(parse_color("#ff008"), None);
        assert_eq!(parse_color("#gg0000"), None);
        let err = Policy::from_toml("[display]\ncolor = \"red\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("display.color"), "{err}");
        assert_eq!(Policy::default().display.rgb(), [0xe6, 0x61, 0x00]);
    }

    #[test]
    fn clipboard_defaults_to_gesture_and_checks_its_fields() {
        let policy = Policy::from_toml("", "t").unwrap();
        assert_eq!(policy.clipboard.mode, ClipboardMode::Gesture);
        assert_eq!(policy.clipboard.max_bytes, 1 << 20);
        let policy =
            Policy::from_toml("[clipboard]\nmode = \"isolated\"\nmax_bytes = 4096\n", "t").unwrap();
        assert_eq!(policy.clipboard.mode, ClipboardMode::Isolated);
        assert_eq!(policy.clipboard.max_bytes, 4096);
        let policy = Policy::from_toml("[clipboard]\nmode = \"auto\"\n", "t").unwrap();
        assert_eq!(policy.clipboard.mode, ClipboardMode::Auto);
        let policy = Policy::from_toml("[display]\nhost_decorations = \"server\"\n", "t").unwrap();
        assert_eq!(policy.display.host_decorations, HostDecorations::Server);
        assert!(Policy::from_toml("[display]\nhost_decorations = \"host\"\n", "t").is_err());
        for (text, field) in [
            ("[clipboard]\nmax_bytes = 0\n", "clipboard.max_bytes"),
            (
                "[clipboard]\nmax_bytes = 100000000000\n",
                "clipboard.max_bytes",
            ),
        ] {
            let err = Policy::from_toml(text, "t").unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
        let err = Policy::from_toml("[clipboard]\nmode = \"open\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `open`"), "{err}");
    }

    #[test]
    fn to_toml_round_trips() {
        let p = Policy::from_toml(
            "[[filesystem.bind]]\nhost = \"/srv\"\nmode = \"rw\"\n[environment]\nset = { A = \"1\" }\n",
            "t",
        )
        .unwrap();
        assert_eq!(Policy::from_toml(&p.to_toml(), "round").unwrap(), p);
    }

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let err = Policy::builtin("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("default"), "{err}");
    }
}
