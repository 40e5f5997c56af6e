//! The `[network]` section: the network mode, the host's Tor SOCKS port and
//! the host's loopback ports forwarded inside.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
