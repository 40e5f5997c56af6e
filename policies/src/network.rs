//! The `[network]` section: the network mode with its own settings, the
//! host's Tor SOCKS port and the host's loopback ports forwarded inside,
//! each parsed once, when the policy is loaded. It only describes the
//! network; wsbox's `net` module plans and starts it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::value::parsed_value;

/// The fields of the section, as refusals name them.
pub(crate) const TOR_FIELD: &str = "network.tor";
pub(crate) const ALLOW_LAN_FIELD: &str = "network.allow_lan";
pub(crate) const FORWARD_FIELD: &str = "network.forward";

/// Where Tor's SOCKS port usually is, and where the sandbox finds it inside.
pub const TOR_SOCKS_DEFAULT: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9050));

/// At most this many forwarded ports (pid 1 passes the listening sockets
/// to wsbox in one message of bounded size).
pub const MAX_FORWARDS: usize = 16;

/// Ports Tor and Tor Browser's Tor listen on (SOCKS 9050/9150, control
/// 9051/9151, TransPort 9040): forwarded raw, they would bypass the relay's
/// per-sandbox isolation, and a control port tells the host's real address.
pub const TOR_PORTS: &[u16] = &[9040, 9050, 9051, 9150, 9151];

/// Network access. In TOML the section is flat (`mode`, `tor`, `allow_lan`,
/// `forward`); here the LAN grant belongs to mode `user`, so that no other
/// mode can hold one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NetworkTable", into = "NetworkTable")]
pub struct Network {
    pub mode: NetworkMode,
    /// The host's Tor SOCKS port, where mode `tor` leads. The other modes
    /// keep it as well: `--net tor` without an address takes it from here.
    pub tor: TorAddr,
    /// Loopback ports of the host made reachable at the same address inside,
    /// each one explicitly: `tcp:127.0.0.1:631`.
    pub forward: Vec<Forward>,
}

impl Network {
    /// Whether the host's LAN is reachable: only ever in mode `user`.
    pub fn allow_lan(&self) -> bool {
        matches!(self.mode, NetworkMode::User { allow_lan: true })
    }

    /// The host's Tor SOCKS address.
    pub fn tor_addr(&self) -> SocketAddr {
        self.tor.addr()
    }

    /// The forwarded loopback addresses, in the policy's order.
    pub fn forward_addrs(&self) -> Vec<SocketAddr> {
        self.forward.iter().map(Forward::addr).collect()
    }

    /// Checks the rules between the forwards, the mode and the Tor address.
    /// They hold for the section as a whole, so they are checked again once
    /// the command line has changed it.
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        let refuse = |message: String| Err(Refusal::new(FORWARD_FIELD, message));
        if self.forward.len() > MAX_FORWARDS {
            return refuse(format!(
                "{} forwards; at most {MAX_FORWARDS}",
                self.forward.len()
            ));
        }
        let mut inside = Vec::new();
        if self.mode == NetworkMode::Tor {
            inside.push(TOR_SOCKS_DEFAULT);
        }
        for forward in &self.forward {
            let (text, addr) = (forward.as_str(), forward.addr());
            if self.mode == NetworkMode::Host {
                return refuse(format!(
                    "{text:?}: mode \"host\" shares the host's loopback already; \
                     forwards need mode none, user or tor"
                ));
            }
            if inside.contains(&addr) {
                return refuse(format!(
                    "{text:?}: port {} is already in use inside",
                    addr.port()
                ));
            }
            if self.mode == NetworkMode::Tor
                && (TOR_PORTS.contains(&addr.port()) || addr.port() == self.tor.addr().port())
            {
                return refuse(format!(
                    "{text:?}: port {} is one of Tor's own (SOCKS, control or \
                     transparent proxy port); in mode \"tor\" it is not forwarded, the \
                     app gets Tor only through 127.0.0.1:9050",
                    addr.port()
                ));
            }
            inside.push(addr);
        }
        Ok(())
    }
}

/// The network modes, each with the settings only it has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Only the sandbox's own loopback interface.
    #[default]
    None,
    /// The host's network namespace: everything the host reaches.
    Host,
    /// User-mode networking (pasta, else slirp4netns): outbound TCP, UDP and
    /// DNS; not the host's loopback, not the LAN unless `allow_lan`.
    User {
        /// Whether the host's LAN (RFC 1918, link-local, ULA) is reachable.
        /// The host's loopback never is.
        allow_lan: bool,
    },
    /// No route anywhere; 127.0.0.1:9050 inside leads to the host's Tor
    /// SOCKS port ([`Network::tor`]), with per-sandbox stream isolation.
    Tor,
}

impl NetworkMode {
    /// The mode's name as the policy and `--net` spell it.
    pub fn name(self) -> &'static str {
        ModeName::from(self).name()
    }

    /// A mode by name, with its settings at their strictest (no LAN).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            ModeName::None,
            ModeName::Host,
            ModeName::User,
            ModeName::Tor,
        ]
        .into_iter()
        .find(|m| m.name() == name)
        .map(|m| m.mode(false))
    }
}

/// `[network]` as TOML spells it: the mode by name, the LAN grant beside
/// it. Its fields are in the order `policy show` prints them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkTable {
    #[serde(default)]
    mode: ModeName,
    #[serde(default)]
    tor: TorAddr,
    #[serde(default)]
    allow_lan: bool,
    #[serde(default)]
    forward: Vec<Forward>,
}

/// A mode's name alone: what `mode = "…"` parses into.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ModeName {
    #[default]
    None,
    Host,
    User,
    Tor,
}

impl ModeName {
    fn name(self) -> &'static str {
        match self {
            ModeName::None => "none",
            ModeName::Host => "host",
            ModeName::User => "user",
            ModeName::Tor => "tor",
        }
    }

    fn mode(self, allow_lan: bool) -> NetworkMode {
        match self {
            ModeName::None => NetworkMode::None,
            ModeName::Host => NetworkMode::Host,
            ModeName::User => NetworkMode::User { allow_lan },
            ModeName::Tor => NetworkMode::Tor,
        }
    }
}

impl From<NetworkMode> for ModeName {
    fn from(mode: NetworkMode) -> Self {
        match mode {
            NetworkMode::None => ModeName::None,
            NetworkMode::Host => ModeName::Host,
            NetworkMode::User { .. } => ModeName::User,
            NetworkMode::Tor => ModeName::Tor,
        }
    }
}

impl TryFrom<NetworkTable> for Network {
    type Error = Refusal;

    fn try_from(table: NetworkTable) -> Result<Self, Refusal> {
        let mode = table.mode.mode(table.allow_lan);
        if table.allow_lan && !matches!(mode, NetworkMode::User { .. }) {
            return Err(Refusal::new(
                ALLOW_LAN_FIELD,
                format!(
                    "only mode \"user\" reaches a LAN, not mode {:?}",
                    mode.name()
                ),
            ));
        }
        Ok(Self {
            mode,
            tor: table.tor,
            forward: table.forward,
        })
    }
}

impl From<Network> for NetworkTable {
    fn from(network: Network) -> Self {
        Self {
            mode: network.mode.into(),
            allow_lan: network.allow_lan(),
            tor: network.tor,
            forward: network.forward,
        }
    }
}

/// The host's Tor SOCKS port: a numeric `HOST:PORT` (IPv6 as
/// `[::1]:9150`), port not 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TorAddr {
    text: String,
    addr: SocketAddr,
}

parsed_value!(TorAddr, TOR_FIELD);

impl TorAddr {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for TorAddr {
    fn default() -> Self {
        Self {
            text: TOR_SOCKS_DEFAULT.to_string(),
            addr: TOR_SOCKS_DEFAULT,
        }
    }
}

impl FromStr for TorAddr {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<Self, AddrError> {
        Ok(Self {
            text: text.to_owned(),
            addr: parse_socket_addr(text)?,
        })
    }
}

/// A `forward` entry: `tcp:ADDR:PORT` with a loopback ADDR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Forward {
    text: String,
    addr: SocketAddr,
}

parsed_value!(Forward, FORWARD_FIELD);

impl Forward {
    /// The loopback address, the same on the host and inside.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl FromStr for Forward {
    type Err = ForwardError;

    fn from_str(text: &str) -> Result<Self, ForwardError> {
        let Some(rest) = text.strip_prefix("tcp:") else {
            return Err(ForwardError::NotTcp(text.to_owned()));
        };
        let addr = parse_socket_addr(rest)?;
        if !addr.ip().is_loopback() {
            return Err(ForwardError::NotLoopback(text.to_owned()));
        }
        Ok(Self {
            text: text.to_owned(),
            addr,
        })
    }
}

/// An address that is not a numeric `HOST:PORT` with a port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    #[error("{0:?} is not an address of the form HOST:PORT (numeric, e.g. 127.0.0.1:9050)")]
    NotHostPort(String),
    #[error("{0:?}: port 0 is not a port")]
    PortZero(String),
}

/// A `forward` entry that is not a loopback TCP port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    #[error("{0:?} is not a forward of the form tcp:127.0.0.1:PORT (only tcp is supported)")]
    NotTcp(String),
    /// The address after `tcp:`, which the message quotes alone.
    #[error(transparent)]
    Addr(#[from] AddrError),
    #[error("{0:?}: only the host's loopback ports can be forwarded")]
    NotLoopback(String),
}

/// `HOST:PORT` with a numeric IPv4 or IPv6 (`[::1]:9050`) address and a
/// port other than 0.
fn parse_socket_addr(text: &str) -> Result<SocketAddr, AddrError> {
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() != 0 => Ok(addr),
        Ok(_) => Err(AddrError::PortZero(text.to_owned())),
        Err(_) => Err(AddrError::NotHostPort(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::testing::{reads_back, refuses};
    use crate::Policy;

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
        assert_eq!(p.network.tor_addr(), "[::1]:9150".parse().unwrap());
        assert_eq!(
            p.network.forward_addrs(),
            vec![
                "127.0.0.1:631".parse::<SocketAddr>().unwrap(),
                "[::1]:8080".parse().unwrap()
            ]
        );
        let p = Policy::from_toml("[network]\nmode = \"user\"\nallow_lan = true\n", "t").unwrap();
        assert!(p.network.allow_lan());
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
            "127.0.0.1:9050".parse::<SocketAddr>().unwrap()
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
    fn a_tor_address_reads_back_as_written() {
        for (text, addr) in [
            ("127.0.0.1:9050", "127.0.0.1:9050"),
            ("[::1]:9150", "[::1]:9150"),
            ("[0:0::1]:9150", "[::1]:9150"),
            ("10.0.0.1:65535", "10.0.0.1:65535"),
        ] {
            let tor = reads_back::<TorAddr>(text);
            assert_eq!(tor.addr(), addr.parse::<SocketAddr>().unwrap());
        }
        assert_eq!(TorAddr::default().as_str(), "127.0.0.1:9050");
        assert_eq!(TorAddr::default().addr(), TOR_SOCKS_DEFAULT);
    }

    #[test]
    fn a_refused_tor_address_says_why() {
        let not_host_port =
            "is not an address of the form HOST:PORT (numeric, e.g. 127.0.0.1:9050)";
        for (text, message) in [
            (
                "localhost:9050",
                format!("\"localhost:9050\" {not_host_port}"),
            ),
            ("127.0.0.1", format!("\"127.0.0.1\" {not_host_port}")),
            (
                "127.0.0.1:99999",
                format!("\"127.0.0.1:99999\" {not_host_port}"),
            ),
            ("", format!("\"\" {not_host_port}")),
            (
                "127.0.0.1:0",
                "\"127.0.0.1:0\": port 0 is not a port".to_owned(),
            ),
            ("[::1]:0", "\"[::1]:0\": port 0 is not a port".to_owned()),
        ] {
            refuses::<TorAddr>(text, "network.tor", &message);
        }
    }

    #[test]
    fn a_forward_reads_back_as_written() {
        for (text, addr) in [
            ("tcp:127.0.0.1:631", "127.0.0.1:631"),
            ("tcp:[::1]:8080", "[::1]:8080"),
            ("tcp:[0:0::1]:8080", "[::1]:8080"),
            ("tcp:127.1.2.3:1", "127.1.2.3:1"),
        ] {
            let forward = reads_back::<Forward>(text);
            assert_eq!(forward.addr(), addr.parse::<SocketAddr>().unwrap());
        }
    }

    #[test]
    fn a_refused_forward_says_why() {
        for (text, message) in [
            (
                "udp:127.0.0.1:53",
                "\"udp:127.0.0.1:53\" is not a forward of the form tcp:127.0.0.1:PORT (only tcp is supported)",
            ),
            (
                "127.0.0.1:631",
                "\"127.0.0.1:631\" is not a forward of the form tcp:127.0.0.1:PORT (only tcp is supported)",
            ),
            (
                "tcp:192.168.1.1:80",
                "\"tcp:192.168.1.1:80\": only the host's loopback ports can be forwarded",
            ),
            (
                "tcp:[::]:80",
                "\"tcp:[::]:80\": only the host's loopback ports can be forwarded",
            ),
            // The address after `tcp:` is quoted alone, as the Tor address is.
            (
                "tcp:127.0.0.1:99999",
                "\"127.0.0.1:99999\" is not an address of the form HOST:PORT (numeric, e.g. 127.0.0.1:9050)",
            ),
            ("tcp:127.0.0.1:0", "\"127.0.0.1:0\": port 0 is not a port"),
        ] {
            refuses::<Forward>(text, "network.forward", message);
        }
    }

    #[test]
    fn only_mode_user_holds_a_lan_grant() {
        let p = Policy::from_toml("[network]\nmode = \"user\"\nallow_lan = true\n", "t").unwrap();
        assert_eq!(p.network.mode, NetworkMode::User { allow_lan: true });
        assert_eq!(p.network.mode.name(), "user");
        let p = Policy::from_toml("[network]\nmode = \"user\"\n", "t").unwrap();
        assert_eq!(p.network.mode, NetworkMode::User { allow_lan: false });
        assert!(!p.network.allow_lan());
        assert_eq!(
            NetworkMode::from_name("user"),
            Some(NetworkMode::User { allow_lan: false })
        );
        for mode in ["none", "host", "tor"] {
            let err = Policy::from_toml(
                &format!("[network]\nmode = \"{mode}\"\nallow_lan = true\n"),
                "p.toml",
            )
            .unwrap_err()
            .to_string();
            assert_eq!(
                err,
                format!(
                    "invalid policy p.toml: network.allow_lan: only mode \"user\" reaches a LAN, \
                     not mode \"{mode}\""
                )
            );
        }
    }

    #[test]
    fn the_section_prints_flat_as_it_was_written() {
        let text = "[network]\nmode = \"user\"\ntor = \"[0:0::1]:9150\"\nallow_lan = true\n\
                    forward = [\"tcp:[0::1]:631\"]\n";
        let p = Policy::from_toml(text, "t").unwrap();
        let shown = p.to_toml();
        assert!(shown.contains(text), "{shown}");
        assert_eq!(Policy::from_toml(&shown, "round").unwrap(), p);
        assert!(
            Policy::default().to_toml().contains(
                "[network]\nmode = \"none\"\ntor = \"127.0.0.1:9050\"\nallow_lan = false\nforward = []\n"
            ),
            "{}",
            Policy::default().to_toml()
        );
    }

    #[test]
    fn a_forward_is_quoted_as_written_in_the_rules_between_fields() {
        let err = Policy::from_toml(
            "[network]\nforward = [\"tcp:[0::1]:631\", \"tcp:[::1]:631\"]\n",
            "p.toml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "invalid policy p.toml: network.forward: \"tcp:[::1]:631\": port 631 is already in use inside"
        );
        let mut network = Policy::default().network;
        network.mode = NetworkMode::Tor;
        network.forward.push("tcp:[0::1]:9051".parse().unwrap());
        assert_eq!(
            network.check().unwrap_err().to_string(),
            "network.forward: \"tcp:[0::1]:9051\": port 9051 is one of Tor's own (SOCKS, control \
             or transparent proxy port); in mode \"tor\" it is not forwarded, the app gets Tor \
             only through 127.0.0.1:9050"
        );
    }
}
