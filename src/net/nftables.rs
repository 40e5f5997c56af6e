//! `--net user`: the firewall in the sandbox's network namespace.
//!
//! Routes alone do not keep the app from the LAN: a socket that names its
//! outgoing interface (SO_BINDTODEVICE, IP_UNICAST_IF, the ifindex of
//! IP_PKTINFO) skips a failed route lookup, the kernel takes the address as
//! on-link, and user-mode networking answers ARP for every address. So the
//! addresses are refused in netfilter's output hook, which every packet the
//! app sends passes whatever it asked for, by an nftables table that
//! wsbox loads with `nft` (package nftables) into the sandbox's network
//! namespace. The prohibit routes stay as a second layer.
//!
//! `nft` runs as a child of wsbox that joined the sandbox's user and network
//! namespaces (where wsbox's user has every capability: it created them) and
//! keeps CAP_NET_ADMIN across exec as an ambient capability. The app has no
//! capabilities there and cannot change the table.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use wsbox_sandbox::network::LAN_RANGES;

use crate::util::find_program;

/// The table wsbox owns in the sandbox's network namespace.
const TABLE: &str = "inet wsbox";
/// CAP_NET_ADMIN (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;

/// Where `nft` is, or None.
pub fn find() -> Option<PathBuf> {
    find_program("nft")
}

/// The ruleset for a sandbox whose user-mode network has the gateway
/// `gateway` and the DNS forwarder `dns`: the host's own addresses are
/// refused always, the gateway and the DNS forwarder but for port 53 too,
/// the LAN ranges (and multicast and broadcast) unless `allow_lan`, and all
/// of IPv6 but loopback (user-mode networking is IPv4-only here).
pub fn ruleset(allow_lan: bool, host: &[IpAddr], gateway: &str, dns: &str) -> String {
    let reject = "reject with icmpx admin-prohibited";
    let mut text = format!(
        "table {TABLE} {{\n\
         \tset host4 {{ type ipv4_addr; }}\n\
         \tset host6 {{ type ipv6_addr; }}\n\
         \tchain output {{\n\
         \t\ttype filter hook output priority filter; policy accept;\n\
         \t\toifname \"lo\" accept\n\
         \t\tmeta nfproto ipv6 {reject}\n\
         \t\tip daddr @host4 {reject}\n\
         \t\tip daddr {dns} meta l4proto {{ tcp, udp }} th dport 53 accept\n\
         \t\tip daddr {{ {gateway}, {dns} }} {reject}\n"
    );
    if !allow_lan {
        let mut ranges: Vec<String> = LAN_RANGES
            .iter()
            .filter(|(ip, _)| ip.is_ipv4())
            .map(|(ip, prefix)| format!("{ip}/{prefix}"))
            .collect();
        // Multicast and limited broadcast reach the LAN too.
        ranges.extend(["224.0.0.0/4".to_owned(), "255.255.255.255".to_owned()]);
        let _ = writeln!(text, "\t\tip daddr {{ {} }} {reject}", ranges.join(", "));
    }
    text.push_str("\t}\n}\n");
    text.push_str(&host_update(host));
    text
}

/// Replaces the host's addresses in the table, in one transaction.
pub fn host_update(host: &[IpAddr]) -> String {
    let mut text = format!("flush set {TABLE} host4\nflush set {TABLE} host6\n");
    for (set, v4) in [("host4", true), ("host6", false)] {
        let elements: Vec<String> = host
            .iter()
            .filter(|ip| ip.is_ipv4() == v4 && !ip.is_loopback())
            .map(IpAddr::to_string)
            .collect();
        if !elements.is_empty() {
            let _ = writeln!(
                text,
                "add element {TABLE} {set} {{ {} }}",
                elements.join(", ")
            );
        }
    }
    text
}

/// The sandbox's user and network namespaces, opened while pid 1 could
/// still be inspected (it makes itself non-dumpable, and then only a
/// privileged wsbox could open them again).
#[derive(Debug)]
pub struct Namespaces {
    user: OwnedFd,
    net: OwnedFd,
}

impl Namespaces {
    /// The namespaces of `pid` (pid 1 of a sandbox, a child of wsbox).
    pub fn open(pid: Pid) -> Result<Self> {
        let open = |ns: &str| -> Result<OwnedFd> {
            let path = format!("/proc/{pid}/ns/{ns}");
            std::fs::File::open(&path)
                .map(OwnedFd::from)
                .with_context(|| format!("failed to open {path}"))
        };
        Ok(Namespaces {
            user: open("user")?,
            net: open("net")?,
        })
    }

    /// The namespaces' fds.
    pub fn raw_fds(&self) -> [std::os::fd::RawFd; 2] {
        use std::os::fd::AsRawFd;
        [self.user.as_raw_fd(), self.net.as_raw_fd()]
    }

    pub fn try_clone(&self) -> Result<Self> {
        Ok(Namespaces {
            user: self.user.try_clone()?,
            net: self.net.try_clone()?,
        })
    }
}

/// Loads `rules` into the sandbox's network namespace.
pub fn apply(ns: &Namespaces, rules: &str) -> Result<()> {
    let Some(nft) = find() else {
        bail!("--net user needs nft (Debian package nftables), and it is not installed");
    };
    let (user_fd, net_fd) = (ns.user.as_raw_fd(), ns.net.as_raw_fd());
    let mut cmd = Command::new(nft);
    cmd.args(["-f", "-"])
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let parent = std::process::id();
    // SAFETY: only async-signal-safe system calls, on fds that `ns` keeps
    // open until the child has exec'd.
    unsafe {
        cmd.pre_exec(move || enter(parent, user_fd, net_fd));
    }
    let mut child = cmd.spawn().context("failed to start nft")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(rules.as_bytes())
            .context("failed to pass the firewall rules to nft")?;
    }
    let out = child.wait_with_output().context("failed to wait for nft")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        bail!(
            "nft failed to set up the sandbox's firewall ({}): {stderr}",
            out.status
        );
    }
    Ok(())
}

/// In the child before exec: joins the sandbox's user and network
/// namespaces and keeps CAP_NET_ADMIN (alone) across exec.
fn enter(parent: u32, user: i32, net: i32) -> std::io::Result<()> {
    let check = |rc: libc::c_long| {
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    // SAFETY: plain system calls with valid arguments.
    unsafe {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL).into())?;
        if libc::getppid() as u32 != parent {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        check(libc::setns(user, libc::CLONE_NEWUSER).into())?;
        check(libc::setns(net, libc::CLONE_NEWNET).into())?;
        // struct __user_cap_header_struct and two __user_cap_data_struct
        // (version 3: 64 bits in two halves).
        let mut header = [0x2008_0522u32, 0];
        let mut data = [0u32; 6];
        check(libc::syscall(
            libc::SYS_capget,
            header.as_mut_ptr(),
            data.as_mut_ptr(),
        ))?;
        // data[0..3] = effective, permitted, inheritable of caps 0..31.
        data[2] |= 1 << CAP_NET_ADMIN;
        check(libc::syscall(
            libc::SYS_capset,
            header.as_mut_ptr(),
            data.as_ptr(),
        ))?;
        check(
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE,
                CAP_NET_ADMIN as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
            .into(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::usernet::{DNS, GATEWAY};

    #[test]
    fn the_ruleset_refuses_the_lan_unless_allowed() {
        let host: Vec<IpAddr> = vec![
            "203.0.113.9".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ];
        let strict = ruleset(false, &host, GATEWAY, DNS);
        assert!(strict.contains("add element inet wsbox host4 { 203.0.113.9 }"));
        assert!(strict.contains("add element inet wsbox host6 { 2001:db8::1 }"));
        assert!(!strict.contains("127.0.0.1"));
        assert!(strict.contains("192.168.0.0/16"), "{strict}");
        assert!(strict.contains("224.0.0.0/4"), "{strict}");
        assert!(strict.contains("ip daddr 10.0.2.3 meta l4proto { tcp, udp } th dport 53 accept"));
        assert!(strict.contains("ip daddr { 10.0.2.2, 10.0.2.3 } reject"));
        // The DNS exception comes before the range that holds it.
        assert!(strict.find("dport 53").unwrap() < strict.find("10.0.0.0/8").unwrap());
        let lan = ruleset(true, &host, GATEWAY, DNS);
        assert!(!lan.contains("192.168.0.0/16"), "{lan}");
        assert!(lan.contains("ip daddr @host4 reject"));
        assert!(lan.contains("meta nfproto ipv6 reject"));
        let none = host_update(&[]);
        assert!(!none.contains("add element"), "{none}");
        assert!(none.contains("flush set inet wsbox host4"));
    }
}
