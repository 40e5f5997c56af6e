//! `--net user`: user-mode networking for the sandbox's network namespace,
//! by pasta (package passt) or, where pasta is missing, slirp4netns.
//!
//! The helper runs as a child of wsbox, attached to pid 1's namespaces
//! before pid 1 sets anything up, and dies with wsbox (parent-death signal)
//! or when the sandbox ends (wsbox kills it). Inside, the sandbox sees one
//! interface `eth0` with a generated MAC address and the fixed addresses
//! below, never the host's interface names or addresses. The host's loopback
//! is not mapped (pasta `--no-map-gw`, slirp4netns
//! `--disable-host-loopback`); the LAN and the host's own addresses are cut
//! off by an nftables table in the sandbox's network namespace
//! ([`nftables`]), loaded before the helper starts and kept current with
//! the host's addresses by `net::hostwatch`, and, as a second layer, by
//! pid 1 with prohibit routes ([`wsbox_sandbox::network::LAN_RANGES`]).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use wsbox_sandbox::network::{Route, LAN_RANGES};

use crate::net::nftables::{self, Namespaces};
use crate::util::find_program;

/// The sandbox's address, gateway and DNS forwarder (slirp4netns's defaults,
/// used for pasta too so that both look the same from inside).
pub const ADDRESS: &str = "10.0.2.100";
pub const GATEWAY: &str = "10.0.2.2";
pub const DNS: &str = "10.0.2.3";
/// The sandbox's interface.
pub const INTERFACE: &str = "eth0";
/// How long the helper may take to configure the namespace.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The running helper; killed and reaped on drop.
#[derive(Debug)]
pub struct UserNet {
    child: Child,
    /// "pasta" or "slirp4netns", for the log.
    helper: &'static str,
    /// The sandbox's namespaces, for later changes to its firewall.
    pub namespaces: Namespaces,
}

impl UserNet {
    /// Logs what the helper writes to stderr, on a thread of its own, so
    /// that a chatty helper never blocks on a full pipe.
    pub fn drain_log(&mut self) {
        let helper = self.helper;
        if let Some(stderr) = self.child.stderr.take() {
            let _ = std::thread::Builder::new()
                .name("wsbox-usernet-log".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    use std::io::BufRead;
                    for line in std::io::BufReader::new(stderr)
                        .lines()
                        .map_while(Result::ok)
                    {
                        tracing::debug!(helper, "{line}");
                    }
                });
        }
    }
}

impl UserNet {
    /// pasta's or slirp4netns's pid (the confined wsbox may signal it).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for UserNet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The routes pid 1 adds: without `allow_lan`, the LAN ranges are
/// prohibited, and so is the sandbox's own /24 but for the DNS forwarder
/// (the halves of the /24 are more specific than its on-link route). Only the
/// default route remains: a host that uses 10.0.2.0/24 itself (VirtualBox
/// NAT does) is not reachable either, nor is its gateway. `host` are the
/// host's own addresses: without a route of their own, a connection to
/// one would reach the services the host binds on all its addresses.
pub fn routes(allow_lan: bool, host: &[IpAddr]) -> Vec<Route> {
    let mut routes: Vec<Route> = host
        .iter()
        .filter(|ip| !ip.is_loopback())
        .map(|ip| Route::Prohibit {
            dst: *ip,
            prefix: if ip.is_ipv4() { 32 } else { 128 },
        })
        .collect();
    if allow_lan {
        return routes;
    }
    let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
    routes.extend(LAN_RANGES.iter().map(|(dst, prefix)| Route::Prohibit {
        dst: *dst,
        prefix: *prefix,
    }));
    routes.push(Route::Prohibit {
        dst: v4([10, 0, 2, 0]),
        prefix: 25,
    });
    routes.push(Route::Prohibit {
        dst: v4([10, 0, 2, 128]),
        prefix: 25,
    });
    if let Ok(dns) = DNS.parse() {
        routes.push(Route::OnLink {
            dst: dns,
            prefix: 32,
            dev: INTERFACE.into(),
        });
    }
    routes
}

/// The resolv.conf the sandbox gets.
pub fn resolv_conf() -> String {
    format!("# wsbox --net user: DNS through the user-mode network\nnameserver {DNS}\n")
}

/// The host's own addresses, loopback excluded.
pub fn host_addresses() -> Result<Vec<IpAddr>> {
    let mut found = Vec::new();
    for ifaddr in
        nix::ifaddrs::getifaddrs().context("failed to list the host's addresses (getifaddrs)")?
    {
        let Some(addr) = ifaddr.address else {
            continue;
        };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        if !ip.is_loopback() && !found.contains(&ip) {
            found.push(ip);
        }
    }
    Ok(found)
}

/// Whether a user-mode networking helper and nft are installed, and the
/// helper will be able to open the tun device.
pub fn available() -> Result<()> {
    if find_program("pasta").is_none() && find_program("slirp4netns").is_none() {
        bail!(
            "--net user needs pasta (Debian package passt) or slirp4netns, and neither is installed"
        );
    }
    if nftables::find().is_none() {
        bail!("--net user needs nft (Debian package nftables), and it is not installed");
    }
    tun_usable(Path::new(TUN))
}

/// The device both helpers open inside the sandbox's network namespace.
const TUN: &str = "/dev/net/tun";

/// Checks that the invoking user can open `tun` for reading and writing,
/// as the helper will. The helper runs with the user's host id (in a user
/// namespace that has no say over a device owned by host root), so where
/// wsbox cannot open it, neither can the helper, and its own message
/// ("Failed to open tun socket in namespace") names no cause. Opening the
/// clone device without TUNSETIFF creates nothing.
fn tun_usable(tun: &Path) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(tun);
    let err = match opened {
        Ok(_) => return Ok(()),
        Err(err) => err,
    };
    let shown = tun.display();
    let Ok(meta) = std::fs::metadata(tun) else {
        bail!(
            "--net user needs {shown}, and it does not exist ({err}; load the tun module: modprobe tun)"
        );
    };
    // SAFETY: no arguments.
    let uid = unsafe { libc::geteuid() };
    let kind = if meta.file_type().is_char_device() {
        'c'
    } else {
        '?'
    };
    let mode = file_mode_string(kind, meta.mode());
    let owner = nix::unistd::User::from_uid(meta.uid().into())
        .ok()
        .flatten()
        .map_or_else(|| meta.uid().to_string(), |u| u.name);
    let group = nix::unistd::Group::from_gid(meta.gid().into())
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    if matches!(err.raw_os_error(), Some(libc::EACCES | libc::EPERM)) {
        bail!(
            "--net user needs {shown} to be usable by uid {uid} (it is {mode} {owner}:{group}; \
             desktop Debian makes it 0666)"
        );
    }
    bail!("--net user needs {shown}, and uid {uid} cannot open it ({err}; it is {mode} {owner}:{group})");
}

/// `ls -l`'s first column: `kind` then rwx for owner, group and others.
fn file_mode_string(kind: char, mode: u32) -> String {
    let mut out = String::with_capacity(10);
    out.push(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}

/// What user-mode networking is started with, planned by `net::plan`.
#[derive(Debug)]
pub struct Plan {
    /// The MAC address of the sandbox's interface ([`generated_mac`]).
    pub mac: String,
    /// The nftables ruleset of the sandbox's namespace
    /// ([`nftables::ruleset`]).
    pub firewall: String,
}

/// A locally administered unicast MAC address from random bytes.
pub fn generated_mac(mut bytes: [u8; 6]) -> String {
    bytes[0] = (bytes[0] & 0xfc) | 0x02;
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Loads the plan's firewall into the network namespace of `pid` (pid 1 of
/// the sandbox, not yet started), then attaches user-mode networking with
/// the plan's MAC address to its namespaces and waits until its network is
/// configured.
pub fn start(pid: Pid, plan: &Plan) -> Result<UserNet> {
    let mac = plan.mac.as_str();
    let namespaces = Namespaces::open(pid)?;
    nftables::apply(&namespaces, &plan.firewall)?;
    // WSBOX_USERNET=slirp4netns (or pasta) picks the helper, e.g. to test
    // the fallback where both are installed.
    let choice = std::env::var("WSBOX_USERNET").ok();
    let wants = |name: &str| choice.as_deref().is_none_or(|c| c == name);
    let pasta = find_program("pasta").filter(|_| wants("pasta"));
    let slirp = find_program("slirp4netns").filter(|_| wants("slirp4netns"));
    let (mut cmd, helper) = if let Some(pasta) = pasta {
        let mut cmd = Command::new(pasta);
        cmd.args(["--quiet", "--foreground", "--config-net", "--ipv4-only"])
            // No port forwarding in either direction, no gateway to the
            // host's loopback.
            .args(["-t", "none", "-u", "none", "-T", "none", "-U", "none"])
            .arg("--no-map-gw")
            .args(["--ns-ifname", INTERFACE, "--ns-mac-addr", mac])
            .args(["--address", ADDRESS, "--netmask", "24"])
            .args(["--gateway", GATEWAY, "--dns-forward", DNS]);
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } == 0 {
            // Root's sandbox user namespace belongs to root: pasta must
            // stay host uid 0 to join it. Once in, it has capabilities only
            // there, and it moves itself into an empty mount namespace with
            // no_new_privs and its seccomp filter (README, Network).
            cmd.args(["--runas", "0"]);
        }
        cmd.arg(pid.to_string());
        (cmd, "pasta")
    } else if let Some(slirp) = slirp {
        let mut cmd = Command::new(slirp);
        cmd.args([
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            // Confines slirp4netns itself.
            "--enable-seccomp",
            "--macaddress",
            mac,
        ])
        .arg(format!("--userns-path=/proc/{pid}/ns/user"));
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } == 0 {
            // Run by root, slirp4netns stays in the host's user namespace
            // (only its setup child joins the sandbox's): without this it
            // would keep all of root's capabilities there. With it, it moves
            // into a mount namespace of its own with an almost empty root
            // and keeps CAP_NET_BIND_SERVICE only. (Run by a user it would
            // need uid 0 mapped in the sandbox's user namespace; it is not.)
            cmd.arg("--enable-sandbox");
        }
        cmd.args([&pid.to_string(), INTERFACE]);
        (cmd, "slirp4netns")
    } else {
        available()?;
        bail!("WSBOX_USERNET={choice:?} names no installed helper (pasta or slirp4netns)");
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // wsbox died before the signal was set: nobody would kill us.
            if libc::getppid() as u32 != parent {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .with_context(|| format!("failed to start {helper}"))?;
    let mut net = UserNet {
        child,
        helper,
        namespaces,
    };
    let started = Instant::now();
    let route = PathBuf::from(format!("/proc/{pid}/net/route"));
    loop {
        if has_default_route(&route) {
            tracing::debug!(helper, elapsed = ?started.elapsed(), "user-mode network ready");
            // Drained by a thread ([`UserNet::drain_log`]) started after
            // wsbox confined itself: a thread started before would keep
            // wsbox's file access, and the helpers forked before the
            // confinement must be forked from a single thread.
            return Ok(net);
        }
        if let Ok(Some(status)) = net.child.try_wait() {
            let mut stderr = String::new();
            if let Some(mut pipe) = net.child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            let stderr = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
            bail!("{helper} failed to set up the sandbox's network ({status}): {stderr}");
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!("{helper} did not set up the sandbox's network within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the routing table (the /proc/net/route format) has a default route.
fn has_default_route(path: &Path) -> bool {
    std::fs::read_to_string(path).is_ok_and(|table| {
        table
            .lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some("00000000"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cut_off_the_lan_and_the_host_s_addresses() {
        let host: Vec<IpAddr> = vec![
            "203.0.113.9".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ];
        let prohibited = |routes: &[Route]| -> Vec<(IpAddr, u8)> {
            routes
                .iter()
                .filter_map(|r| match r {
                    Route::Prohibit { dst, prefix } => Some((*dst, *prefix)),
                    Route::OnLink { .. } => None,
                })
                .collect()
        };
        let strict = routes(false, &host);
        let p = prohibited(&strict);
        assert!(p.contains(&("203.0.113.9".parse().unwrap(), 32)));
        assert!(p.contains(&("2001:db8::1".parse().unwrap(), 128)));
        assert!(!p.iter().any(|(ip, _)| ip.is_loopback()));
        assert!(p.contains(&("192.168.0.0".parse().unwrap(), 16)));
        assert!(p.contains(&("10.0.2.0".parse().unwrap(), 25)));
        assert!(strict.contains(&Route::OnLink {
            dst: DNS.parse().unwrap(),
            prefix: 32,
            dev: INTERFACE.into()
        }));
        let lan = routes(true, &host);
        assert_eq!(prohibited(&lan).len(), 2, "{lan:?}");
    }

    #[test]
    fn generated_macs_are_local_unicast() {
        let mac = generated_mac([0xff, 1, 2, 3, 4, 5]);
        assert_eq!(mac, "fe:01:02:03:04:05");
        let mac = generated_mac([0x01, 0, 0, 0, 0, 0]);
        assert_eq!(mac, "02:00:00:00:00:00");
    }

    #[test]
    fn default_routes_are_found() {
        let dir = std::env::temp_dir().join(format!("wsbox-route-{}", std::process::id()));
        std::fs::write(
            &dir,
            "Iface\tDestination\tGateway\nlo\t0000007F\t00000000\n",
        )
        .unwrap();
        assert!(!has_default_route(&dir));
        std::fs::write(
            &dir,
            "Iface\tDestination\tGateway\neth0\t00000000\t0202000A\n",
        )
        .unwrap();
        assert!(has_default_route(&dir));
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn modes_read_as_ls_shows_them() {
        assert_eq!(file_mode_string('c', 0o20600), "crw-------");
        assert_eq!(file_mode_string('c', 0o666), "crw-rw-rw-");
        assert_eq!(file_mode_string('?', 0o751), "?rwxr-x--x");
    }

    #[test]
    fn a_missing_tun_device_is_named() {
        let err = tun_usable(Path::new("/nonexistent/net/tun")).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("/nonexistent/net/tun, and it does not exist"),
            "{text}"
        );
        assert!(text.contains("modprobe tun"), "{text}");
    }
}
