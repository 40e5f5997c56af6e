//! The network modes of `wsbox run`: what each one puts into the sandbox's
//! spec (own or shared namespace, listeners, blocked ranges, resolv.conf)
//! and what wsbox runs beside it: the relays of `--net tor` and
//! `--net-forward` ([`forward`], in the process of [`relays`]), and for
//! `--net user` user-mode networking ([`usernet`]) behind a firewall
//! ([`nftables`]) that follows the host's addresses ([`hostwatch`]).
//! This module only plans: it starts nothing and keeps nothing open.

pub mod forward;
pub mod hostwatch;
pub mod nftables;
pub mod relays;
pub mod usernet;

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use wsbox_policies::{AddrError, ForwardError, Network, NetworkMode, TOR_SOCKS_DEFAULT};
use wsbox_sandbox::network::NetSpec;

use crate::net::forward::{Credentials, Upstream};

/// Everything a network mode needs, decided before the sandbox exists.
#[derive(Debug)]
pub struct Setup {
    pub mode: NetworkMode,
    pub spec: NetSpec,
    /// Where each of `spec.listeners` leads, in the same order.
    pub upstreams: Vec<Upstream>,
    /// Generated /etc/resolv.conf.
    pub resolv_conf: Option<String>,
    /// The host's resolv.conf (symlinks resolved) to bind at /etc/resolv.conf.
    pub host_resolv_conf: Option<PathBuf>,
    /// `--net user`: what user-mode networking is started with. Planned
    /// in that mode, and only there, so `start` never lacks a part of it.
    pub user_net: Option<usernet::Plan>,
}

/// The resolv.conf of the modes without a resolver inside.
const NO_RESOLVER: &str =
    "# wsbox: no name server in this sandbox; names resolve only through SOCKS\n";

/// Plans the network of a sandbox from its (validated) policy.
pub fn plan(net: &Network, random: impl Fn(&mut [u8]) -> Result<()>) -> Result<Setup> {
    let mut setup = Setup {
        mode: net.mode,
        spec: NetSpec::default(),
        upstreams: Vec::new(),
        resolv_conf: Some(NO_RESOLVER.to_owned()),
        host_resolv_conf: None,
        user_net: None,
    };
    match net.mode {
        NetworkMode::None => {}
        NetworkMode::Host => {
            setup.spec.share_host = true;
            setup.resolv_conf = None;
            setup.host_resolv_conf = std::fs::canonicalize("/etc/resolv.conf")
                .ok()
                .filter(|p| p.is_file());
        }
        NetworkMode::Tor => {
            let mut bytes = [0u8; 16];
            random(&mut bytes)?;
            setup.spec.listeners.push(TOR_SOCKS_DEFAULT);
            setup.upstreams.push(Upstream::Socks {
                addr: net.tor_addr(),
                credentials: Credentials::random(bytes),
            });
        }
        NetworkMode::User { allow_lan } => {
            usernet::available()?;
            let host = usernet::host_addresses()?;
            setup.spec.routes = usernet::routes(allow_lan, &host);
            setup.spec.no_ipv6_on = vec![usernet::INTERFACE.to_owned()];
            setup.resolv_conf = Some(usernet::resolv_conf());
            let mut bytes = [0u8; 6];
            random(&mut bytes)?;
            setup.user_net = Some(usernet::Plan {
                mac: usernet::generated_mac(bytes),
                firewall: nftables::ruleset(allow_lan, &host, usernet::GATEWAY, usernet::DNS),
            });
        }
    }
    for addr in net.forward_addrs() {
        setup.spec.listeners.push(addr);
        setup.upstreams.push(Upstream::Plain(addr));
    }
    Ok(setup)
}

/// Applies `--net`, `--net-allow-lan` and `--net-forward` to the policy's
/// network section; `validate` checks the result.
pub fn apply_overrides(
    policy: &mut Network,
    net: Option<&str>,
    allow_lan: bool,
    forwards: &[String],
) -> Result<()> {
    if let Some(net) = net {
        let (mode, addr) = match net.split_once('=') {
            Some((mode, addr)) => (mode, Some(addr)),
            None => (net, None),
        };
        let Some(mode) = NetworkMode::from_name(mode) else {
            bail!("invalid --net {net:?}: expected none, host, user or tor[=HOST:PORT]");
        };
        match addr {
            Some(addr) if mode == NetworkMode::Tor => {
                policy.tor = addr
                    .parse()
                    .map_err(|e: AddrError| anyhow!("invalid --net {net:?}: {e}"))?;
            }
            Some(_) => bail!("invalid --net {net:?}: only tor takes an address (tor=HOST:PORT)"),
            None => {}
        }
        if mode.name() != policy.mode.name() {
            // The policy's LAN grant and forwards were meant for its own mode
            // (the new one comes without a LAN); the host's network has the
            // host's loopback already.
            if mode == NetworkMode::Host {
                policy.forward.clear();
            }
            policy.mode = mode;
        }
    }
    if allow_lan {
        let NetworkMode::User { allow_lan } = &mut policy.mode else {
            bail!("--net-allow-lan needs --net user");
        };
        *allow_lan = true;
    }
    for forward in forwards {
        let forward = forward
            .parse()
            .map_err(|e: ForwardError| anyhow!("invalid --net-forward {e}"))?;
        policy.forward.push(forward);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zeros(buf: &mut [u8]) -> Result<()> {
        buf.fill(7);
        Ok(())
    }

    fn network(text: &str) -> Network {
        wsbox_policies::Policy::from_toml(&format!("[network]\n{text}\n"), "t")
            .unwrap()
            .network
    }

    #[test]
    fn none_has_only_forwards_and_no_resolver() {
        let s = plan(&network("forward = [\"tcp:127.0.0.1:631\"]"), zeros).unwrap();
        assert!(!s.spec.share_host);
        assert_eq!(s.spec.listeners, ["127.0.0.1:631".parse().unwrap()]);
        assert!(s.spec.routes.is_empty());
        assert!(matches!(s.upstreams[..], [Upstream::Plain(a)] if a.port() == 631));
        assert!(!s.resolv_conf.unwrap().contains("nameserver"));
        assert!(s.user_net.is_none());
    }

    #[test]
    fn tor_listens_on_9050_and_goes_to_the_configured_port() {
        let s = plan(
            &network("mode = \"tor\"\ntor = \"127.0.0.1:9150\"\nforward = [\"tcp:127.0.0.1:631\"]"),
            zeros,
        )
        .unwrap();
        assert_eq!(
            s.spec.listeners,
            [
                "127.0.0.1:9050".parse().unwrap(),
                "127.0.0.1:631".parse().unwrap()
            ]
        );
        match &s.upstreams[0] {
            Upstream::Socks { addr, credentials } => {
                assert_eq!(*addr, "127.0.0.1:9150".parse().unwrap());
                assert!(credentials.username.starts_with("wsbox-"));
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.resolv_conf.unwrap().contains("nameserver"));
        assert!(s.spec.routes.is_empty());
        assert!(s.user_net.is_none());
    }

    #[test]
    fn the_command_line_overrides_the_policy() {
        let mut net =
            network("mode = \"user\"\nallow_lan = true\nforward = [\"tcp:127.0.0.1:631\"]");
        apply_overrides(&mut net, Some("tor=127.0.0.1:9150"), false, &[]).unwrap();
        assert_eq!(net.mode, NetworkMode::Tor);
        assert_eq!(net.tor.as_str(), "127.0.0.1:9150");
        assert!(!net.allow_lan(), "the LAN grant was for mode user");
        assert_eq!(net.forward.len(), 1);
        apply_overrides(&mut net, Some("host"), false, &[]).unwrap();
        assert!(net.forward.is_empty());
        let mut net = network("");
        apply_overrides(&mut net, Some("user"), true, &["tcp:127.0.0.1:80".into()]).unwrap();
        assert!(net.allow_lan());
        assert_eq!(net.forward_addrs(), ["127.0.0.1:80".parse().unwrap()]);
        for (mode, lan, says) in [
            (Some("wifi"), false, "expected none"),
            (Some("user=1.2.3.4:5"), false, "only tor"),
            (Some("tor=example.org:9050"), false, "HOST:PORT"),
            (None, true, "needs --net user"),
        ] {
            let err = apply_overrides(&mut network(""), mode, lan, &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn the_policy_s_own_mode_keeps_its_lan_grant() {
        let mut net = network("mode = \"user\"\nallow_lan = true");
        apply_overrides(&mut net, Some("user"), false, &[]).unwrap();
        assert_eq!(net.mode, NetworkMode::User { allow_lan: true });
        let mut net = network("tor = \"127.0.0.1:9150\"");
        apply_overrides(&mut net, Some("tor"), false, &[]).unwrap();
        assert_eq!(net.tor_addr(), "127.0.0.1:9150".parse().unwrap());
        let err = apply_overrides(&mut net, None, false, &["tcp:10.0.0.1:80".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid --net-forward \"tcp:10.0.0.1:80\": only the host's loopback ports can be forwarded"
        );
    }

    #[test]
    fn host_shares_the_namespace() {
        let s = plan(&network("mode = \"host\""), zeros).unwrap();
        assert!(s.spec.share_host);
        assert!(s.spec.listeners.is_empty());
        assert!(s.resolv_conf.is_none());
    }
}
