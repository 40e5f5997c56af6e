//! End-to-end tests of the network modes (`--net none|host|user|tor`, port
//! forwards) and of the identifiers a sandbox sees (boot id, machine id,
//! sysfs serials and addresses), with real programs inside (curl, python3,
//! getent, ip, cat) against servers this test starts on the host.
//!
//! - Tor: a small SOCKS5 server in this test stands in for Tor and records
//!   the credentials and destinations it gets.
//! - User-mode networking: the machine running the tests may have no network
//!   at all, so each test builds a network namespace of its own (a veth pair
//!   to a second namespace, TEST-NET-2 addresses and a default route, "LAN"
//!   addresses in 10.77.0.0/24 and 192.168.77.0/24 behind it, a DNS server
//!   and an `/etc/netns/NAME/resolv.conf`) and runs wsbox in it with
//!   `ip netns exec`: to pasta, that namespace is the host. The servers run
//!   on threads of this process that joined one namespace or the other.
//!
//! Sandboxes run as root and as the unprivileged test user (WSBOX_TEST_USER,
//! default `wsbox-test`). A test that cannot run here prints
//! `SKIPPED: <test>: <reason>` and passes, unless WSBOX_MUST_WORK=1 or
//! CI=true, where it fails instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use testkit::{comm, find_program, next, output, poll, skip, Out, Running, Who, MARK_VAR};

const RUN_LIMIT: Duration = Duration::from_secs(60);

fn root_dir() -> &'static Path {
    testkit::root_dir("net", false)
}

/// The wsbox binary, in a directory every user can read.
fn wsbox_bin() -> PathBuf {
    testkit::shared_copy(&testkit::wsbox_exe())
}

/// Runs wsbox as one identity, with its own runtime and data directories.
#[derive(Debug, Clone)]
struct Runner {
    user: Option<(u32, u32)>,
    dir: PathBuf,
}

/// The runner for `who`, or None after saying why it cannot run.
fn runner(test: &str, who: Who, programs: &[&str]) -> Option<Runner> {
    if testkit::euid() != 0 {
        skip(
            test,
            "not running as root (the test builds namespaces and switches users)",
        );
        return None;
    }
    for program in programs {
        if find_program(program).is_none() {
            skip(test, &format!("{program} is not installed"));
            return None;
        }
    }
    let user = match who {
        Who::Root => None,
        Who::User => match testkit::test_user() {
            Ok(ids) => Some(ids),
            Err(why) => {
                skip(test, &why);
                return None;
            }
        },
    };
    let dir = match user {
        Some(user) => testkit::scratch_for(root_dir(), test, user),
        None => testkit::scratch_in(root_dir(), test, 0o700),
    };
    let r = Runner { user, dir };
    let out = output(
        r.wsbox(&["run", "--display", "none", "--", "true"]),
        RUN_LIMIT,
    );
    if out.status.code() == Some(125) {
        skip(
            test,
            &format!("this machine cannot run sandboxes: {}", out.stderr.trim()),
        );
        return None;
    }
    assert_eq!(out.status.code(), Some(0), "a plain sandbox fails\n{out}");
    Some(r)
}

impl Runner {
    fn env(&self, cmd: &mut Command) {
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.dir)
            .env("XDG_RUNTIME_DIR", &self.dir)
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("LANG", "C.UTF-8")
            .env(MARK_VAR, testkit::unique_mark("net"))
            .current_dir(&self.dir)
            .stdin(Stdio::null());
    }

    /// `wsbox ARGS` as this identity.
    fn wsbox(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(wsbox_bin());
        cmd.args(args);
        self.env(&mut cmd);
        if let Some((uid, gid)) = self.user {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    /// `wsbox ARGS` as this identity inside the network namespace `net`.
    fn wsbox_in(&self, net: &TestNet, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net.name]);
        if let Some((uid, gid)) = self.user {
            cmd.args([
                "setpriv",
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
            ]);
        }
        cmd.arg(wsbox_bin()).args(args);
        self.env(&mut cmd);
        cmd
    }

    /// `sh -c SCRIPT` in a sandbox with `options`.
    fn sh(&self, options: &[&str], script: &str) -> Out {
        output(self.wsbox(&sandbox_args(options, script)), RUN_LIMIT)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        fs::write(&path, text).unwrap();
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
        path
    }
}

fn sandbox_args<'a>(options: &[&'a str], script: &'a str) -> Vec<&'a str> {
    let mut args = vec!["run", "--display", "none"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    args
}

/// The value after `key=` on a line of its own in `out`.
fn field<'a>(out: &'a Out, key: &str) -> &'a str {
    let prefix = format!("{key}=");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {key}= in the output\n{out}"))
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// An HTTP server answering every request with `body`; counts connections.
struct Http {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

fn http_on(listener: TcpListener, body: String) -> Http {
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    Http { addr, hits }
}

fn http(addr: &str, body: &str) -> Http {
    http_on(TcpListener::bind(addr).unwrap(), body.to_owned())
}

fn read_n(s: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// What the stand-in for Tor received on one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SocksSeen {
    user: String,
    pass: String,
    host: String,
}

/// A SOCKS5 server that insists on username/password authentication,
/// records what it gets, and connects `target.wsbox-test` (only) to `to`.
fn socks_server(to: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<SocksSeen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let log = Arc::clone(&log);
            thread::spawn(move || {
                let Some(hello) = read_n(&mut s, 2) else {
                    return;
                };
                let Some(methods) = read_n(&mut s, hello[1].into()) else {
                    return;
                };
                if hello[0] != 5 || !methods.contains(&2) {
                    let _ = s.write_all(&[5, 0xff]);
                    return;
                }
                s.write_all(&[5, 2]).unwrap();
                let ulen = read_n(&mut s, 2).unwrap()[1];
                let user =
                    String::from_utf8_lossy(&read_n(&mut s, ulen.into()).unwrap()).into_owned();
                let plen = read_n(&mut s, 1).unwrap()[0];
                let pass =
                    String::from_utf8_lossy(&read_n(&mut s, plen.into()).unwrap()).into_owned();
                s.write_all(&[1, 0]).unwrap();
                let mut head = [0u8; 4];
                s.read_exact(&mut head).unwrap();
                let host = match head[3] {
                    3 => {
                        let mut len = [0u8; 1];
                        s.read_exact(&mut len).unwrap();
                        let mut name = vec![0u8; len[0].into()];
                        s.read_exact(&mut name).unwrap();
                        String::from_utf8_lossy(&name).into_owned()
                    }
                    1 => {
                        let mut a = [0u8; 4];
                        s.read_exact(&mut a).unwrap();
                        std::net::Ipv4Addr::from(a).to_string()
                    }
                    _ => return,
                };
                let mut port = [0u8; 2];
                s.read_exact(&mut port).unwrap();
                log.lock().unwrap().push(SocksSeen {
                    user,
                    pass,
                    host: host.clone(),
                });
                if host != "target.wsbox-test" {
                    let _ = s.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
                    return;
                }
                let Ok(up) = TcpStream::connect(to) else {
                    let _ = s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
                    return;
                };
                s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 80]).unwrap();
                let (mut a, mut b) = (s.try_clone().unwrap(), up.try_clone().unwrap());
                thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                let (mut up, mut s) = (up, s);
                let _ = std::io::copy(&mut up, &mut s);
                let _ = s.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (addr, seen)
}

// ---------------------------------------------------------------------------
// A network namespace standing in for the host, for --net user.
// ---------------------------------------------------------------------------

/// The test host's own address (TEST-NET-2), on a veth whose other end
/// is in a second namespace: the "internet" and the "LAN".
const HOST_ADDR: &str = "198.51.100.1";
/// The "internet" address: the default gateway, a web server, a UDP echo
/// server and the DNS server.
const NET_ADDR: &str = "198.51.100.2";
/// The "LAN" addresses, routed to the outer namespace too.
const LAN_ADDRS: [&str; 2] = ["10.77.0.1", "192.168.77.1"];
/// The sandbox's DNS forwarder address, which is also a "LAN" address
/// outside: beside port 53 it must lead nowhere.
const DNS_ADDR: &str = "10.0.2.3";

/// Two network namespaces: `name` stands in for the host wsbox runs on,
/// `name-x` for everything outside it.
struct TestNet {
    name: String,
    outer: String,
    /// MAC addresses of the host's interfaces.
    macs: Vec<String>,
}

fn ip(args: &[&str]) {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    let out = output(cmd, Duration::from_secs(10));
    assert!(out.status.success(), "ip {args:?} failed\n{out}");
}

impl TestNet {
    fn new() -> Self {
        let name = format!("wsbox-t{}-{}", std::process::id(), next());
        let outer = format!("{name}-x");
        ip(&["netns", "add", &name]);
        ip(&["netns", "add", &outer]);
        let mut net = TestNet {
            name: name.clone(),
            outer: outer.clone(),
            macs: Vec::new(),
        };
        let in_host = |rest: &[&str]| ip(&[&["-n", name.as_str()][..], rest].concat());
        let in_outer = |rest: &[&str]| ip(&[&["-n", outer.as_str()][..], rest].concat());
        in_host(&["link", "set", "lo", "up"]);
        in_outer(&["link", "set", "lo", "up"]);
        in_host(&["link", "add", "wt0", "type", "veth", "peer", "name", "wt1"]);
        in_host(&["link", "set", "wt1", "netns", &outer]);
        in_host(&["addr", "add", &format!("{HOST_ADDR}/24"), "dev", "wt0"]);
        in_outer(&["addr", "add", &format!("{NET_ADDR}/24"), "dev", "wt1"]);
        for lan in LAN_ADDRS.iter().chain([&DNS_ADDR]) {
            in_outer(&["addr", "add", &format!("{lan}/24"), "dev", "wt1"]);
        }
        in_host(&["link", "set", "wt0", "up"]);
        in_outer(&["link", "set", "wt1", "up"]);
        in_host(&["route", "add", "default", "via", NET_ADDR, "dev", "wt0"]);
        let etc = PathBuf::from("/etc/netns").join(&name);
        fs::create_dir_all(&etc).unwrap();
        fs::write(etc.join("resolv.conf"), format!("nameserver {NET_ADDR}\n")).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &name, "-br", "link", "show", "wt0"]);
        let out = output(cmd, Duration::from_secs(10));
        net.macs = out
            .stdout
            .split_whitespace()
            .nth(2)
            .map(str::to_owned)
            .into_iter()
            .collect();
        net
    }

    /// Runs `f` on a new thread that joined the namespace `ns`; its sockets
    /// live there. The thread stays there.
    fn spawn_in<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = PathBuf::from("/run/netns").join(ns);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let ns = fs::File::open(&path).unwrap();
            // SAFETY: setns on a valid fd; affects this thread only.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            tx.send(f()).unwrap();
            // Keep the thread (and what it owns) in the namespace.
            loop {
                thread::park();
            }
        });
        rx.recv().unwrap()
    }

    /// Runs `f` in the outer namespace.
    fn spawn<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        Self::spawn_in(&self.outer, f)
    }

    /// An HTTP server on the test host itself.
    fn host_http(&self, addr: &str, body: &str) -> Http {
        let (addr, body) = (addr.to_owned(), body.to_owned());
        Self::spawn_in(&self.name, move || http(&addr, &body))
    }

    fn http(&self, addr: &str, body: &str) -> Http {
        let (addr, body) = (addr.to_owned(), body.to_owned());
        self.spawn(move || http(&addr, &body))
    }

    /// A UDP echo server.
    fn udp_echo(&self) -> SocketAddr {
        self.spawn(|| udp_echo(&format!("{NET_ADDR}:0"), Arc::default()))
    }

    /// A UDP echo server on `addr` in the outer namespace (`host`: in the
    /// host's) that counts the datagrams it gets.
    fn counted_udp_echo(&self, addr: &str, host: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let addr = addr.to_owned();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let f = move || udp_echo(&addr, counter);
        let addr = if host {
            Self::spawn_in(&self.name, f)
        } else {
            self.spawn(f)
        };
        (addr, hits)
    }

    /// A DNS server on NET_ADDR:53 that answers A queries for names under
    /// `wsbox-test.` with NET_ADDR, and NXDOMAIN for everything else.
    fn dns(&self) {
        self.spawn(|| {
            let sock = UdpSocket::bind(format!("{NET_ADDR}:53")).unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 512];
                while let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if let Some(reply) = dns_answer(&buf[..n]) {
                        let _ = sock.send_to(&reply, from);
                    }
                }
            });
        });
    }
}

/// Echoes datagrams on `addr` with an `echo:` prefix, counting them.
fn udp_echo(addr: &str, hits: Arc<AtomicUsize>) -> SocketAddr {
    let sock = UdpSocket::bind(addr).unwrap();
    let addr = sock.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            hits.fetch_add(1, Ordering::SeqCst);
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = sock.send_to(&reply, from);
        }
    });
    addr
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for ns in [&self.name, &self.outer] {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "del", ns]);
            let _ = output(cmd, Duration::from_secs(10));
        }
        let _ = fs::remove_dir_all(PathBuf::from("/etc/netns").join(&self.name));
    }
}

fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = query.get(12..at + 4)?;
    let ours = labels.last().is_some_and(|l| l == "wsbox-test");
    let answer = ours && qtype == 1;
    let mut reply = query[..2].to_vec();
    reply.extend_from_slice(&[0x81, if ours { 0x80 } else { 0x83 }]);
    reply.extend_from_slice(&[0, 1, 0, u8::from(answer), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if answer {
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&NET_ADDR.parse::<std::net::Ipv4Addr>().ok()?.octets());
    }
    Some(reply)
}

// ---------------------------------------------------------------------------
// The tests, each as root and as the test user.
// ---------------------------------------------------------------------------

testkit::as_root_and_user!(
    tor_only_through_the_socks_port,
    forwards_reach_only_the_named_ports,
    user_mode_reaches_out_but_not_the_host_or_lan,
    user_mode_sockets_that_name_the_interface_are_blocked_too,
    the_user_mode_helper_dies_with_the_sandbox,
    a_host_address_added_later_is_blocked_too,
    boot_id_is_the_sandbox_s,
    machine_id_random_or_stable,
    sysfs_serials_and_addresses_are_masked,
    bad_network_input_is_one_line_and_125,
);

/// A host whose `/dev/net/tun` only root may open (as a bare Debian has it,
/// without a desktop's udev rule): `--net user` run by a user fails at once
/// with one line naming the device, its mode and owner, whichever helper
/// would have run. The host is left as it is: a private mount namespace
/// covers the device with a root-only node of its own.
#[test]
fn user_mode_names_a_tun_device_the_user_cannot_open() {
    let test = "user_mode_names_a_tun_device_the_user_cannot_open";
    let Some(r) = runner(test, Who::User, &["unshare", "setpriv", "mknod"]) else {
        return;
    };
    if !Path::new("/dev/net/tun").exists() {
        skip(test, "this host has no /dev/net/tun to cover");
        return;
    }
    let (uid, gid) = r.user.unwrap();
    let node = r.dir.join("tun");
    let mut cmd = Command::new("mknod");
    cmd.args(["-m", "0600"]).arg(&node).args(["c", "10", "200"]);
    let out = output(cmd, RUN_LIMIT);
    assert!(out.status.success(), "mknod\n{out}");
    let helpers: Vec<&str> = ["pasta", "slirp4netns"]
        .into_iter()
        .filter(|h| find_program(h).is_some())
        .collect();
    if helpers.is_empty() {
        skip(test, "neither pasta (passt) nor slirp4netns is installed");
        return;
    }
    for helper in helpers {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(r#"mount --bind "$0" /dev/net/tun && exec setpriv --reuid="$1" --regid="$2" --clear-groups -- "$3" run --display none --net user -- true"#)
            .arg(&node)
            .args([uid.to_string(), gid.to_string()])
            .arg(wsbox_bin());
        r.env(&mut cmd);
        cmd.env("WSBOX_USERNET", helper);
        let out = output(cmd, RUN_LIMIT);
        assert_eq!(out.status.code(), Some(125), "{helper}\n{out}");
        let want = format!(
            "wsbox: --net user needs /dev/net/tun to be usable by uid {uid} \
             (it is crw------- root:root; desktop Debian makes it 0666)"
        );
        assert_eq!(out.stderr.trim(), want, "{helper}\n{out}");
    }
    // The host's own device is untouched, and as usable as before.
    let out = r.sh(&["--net", "user"], "true");
    assert_eq!(out.status.code(), Some(0), "{out}");
}

const TOR_SCRIPT: &str = r#"
curl -s -m 10 --socks5-hostname 127.0.0.1:9050 http://target.wsbox-test/; echo; echo "socks=$?"
curl -s -m 10 --socks5-hostname 127.0.0.1:9050 --proxy-user app:pw http://target.wsbox-test/; echo; echo "own=$?"
curl -s -m 3 "http://$1/" >/dev/null; echo "direct=$?"
curl -s -m 3 http://198.51.100.1/ >/dev/null; echo "route=$?"
getent hosts example.com >/dev/null; echo "dns=$?"
python3 -c 'import socket; socket.getaddrinfo("example.com", 80)' 2>/dev/null; echo "pydns=$?"
echo "routes=$(ip route; ip -6 route | grep -v '^::1 ')"
echo "links=$(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\n' ' ')"
"#;

fn tor_only_through_the_socks_port(who: Who, test: &str) {
    let Some(r) = runner(test, who, &["curl", "python3", "ip", "getent"]) else {
        return;
    };
    let web = http("127.0.0.1:0", "hello-through-tor");
    let (socks, seen) = socks_server(web.addr);
    let net = format!("--net=tor={socks}");
    let run = || {
        let mut args = sandbox_args(&[&net], TOR_SCRIPT);
        let target = web.addr.to_string();
        args.extend_from_slice(&["sh", &target]);
        output(r.wsbox(&args), RUN_LIMIT)
    };
    let out = run();
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(
        out.stdout.contains("hello-through-tor\nsocks=0"),
        "no answer through the SOCKS port\n{out}"
    );
    assert!(out.stdout.contains("hello-through-tor\nown=0"), "{out}");
    for key in ["direct", "route", "dns", "pydns"] {
        assert_ne!(field(&out, key), "0", "{key} must fail\n{out}");
    }
    assert_eq!(field(&out, "routes").trim(), "", "routes inside\n{out}");
    assert_eq!(field(&out, "links").trim(), "lo", "{out}");
    assert_eq!(
        web.hits.load(Ordering::SeqCst),
        2,
        "the web server must be reached through SOCKS only\n{out}"
    );
    let first: Vec<SocksSeen> = seen.lock().unwrap().drain(..).collect();
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|s| s.host == "target.wsbox-test"));
    let prefix = first[0].user.clone();
    assert!(
        prefix.starts_with("wsbox-") && !first[0].pass.is_empty(),
        "{first:?}"
    );
    assert_eq!(first[1].user, format!("{prefix}:app"), "{first:?}");
    assert_eq!(first[1].pass, "pw");

    // Another sandbox: other credentials, so Tor keeps its circuits apart.
    let out = run();
    assert!(out.stdout.contains("socks=0"), "{out}");
    let second: Vec<SocksSeen> = seen.lock().unwrap().drain(..).collect();
    assert_eq!(second.len(), 2, "{second:?}");
    assert_ne!(
        second[0].user, prefix,
        "credentials shared between sandboxes"
    );
    assert_ne!(second[0].pass, first[0].pass);
    assert_eq!(second[1].user, format!("{}:app", second[0].user));
}

fn forwards_reach_only_the_named_ports(who: Who, test: &str) {
    let Some(r) = runner(test, who, &["curl"]) else {
        return;
    };
    let open = http("127.0.0.1:0", "forwarded");
    let closed = http("127.0.0.1:0", "not-forwarded");
    let script = format!(
        "curl -s -m 5 http://{}/; echo; echo \"open=$?\"; curl -s -m 3 http://{}/; echo \"closed=$?\"",
        open.addr, closed.addr
    );
    let forward = format!("tcp:{}", open.addr);
    // On the command line, and in a policy (mode tor: next to the SOCKS port).
    let policy = r.write(
        "forward.toml",
        &format!("[network]\nmode = \"tor\"\nforward = [\"{forward}\"]\n"),
    );
    for options in [
        vec!["--net-forward", forward.as_str()],
        vec!["--policy", policy.to_str().unwrap()],
    ] {
        let out = r.sh(&options, &script);
        assert_eq!(out.status.code(), Some(0), "{options:?}\n{out}");
        assert!(
            out.stdout.contains("forwarded\nopen=0"),
            "{options:?}\n{out}"
        );
        assert_ne!(field(&out, "closed"), "0", "{options:?}\n{out}");
    }
    assert_eq!(open.hits.load(Ordering::SeqCst), 2);
    assert_eq!(closed.hits.load(Ordering::SeqCst), 0);
}

fn user_script(
    web: SocketAddr,
    udp: SocketAddr,
    lo: SocketAddr,
    host_all: SocketAddr,
    lan: &[SocketAddr],
) -> String {
    format!(
        r#"
ip route del default 2>/dev/null; echo "delroute=$?"
/usr/sbin/nft flush ruleset 2>/dev/null; echo "flush=$?"
curl -s -m 10 http://{web}/; echo; echo "web=$?"
python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"ping", ("{udp_ip}", {udp_port}))
print("udp=" + s.recvfrom(64)[0].decode())
EOF
echo "resolved=$(getent hosts name.wsbox-test | cut -d' ' -f1)"
curl -s -m 10 http://name.wsbox-test:{web_port}/; echo; echo "byname=$?"
curl -s -m 3 http://10.0.2.2:{lo_port}/ >/dev/null; echo "gateway=$?"
curl -s -m 3 http://{host_all}/ >/dev/null; echo "hostaddr=$?"
curl -s -m 3 http://{lan0}/ >/dev/null; echo "lan0=$?"
curl -s -m 3 http://{lan1}/ >/dev/null; echo "lan1=$?"
echo "links=$(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\n' ' ')"
echo "mac=$(ip -br link show eth0 | tr -s ' ' | cut -d' ' -f3)"
echo "ipv6=$(ip -6 -o addr show dev eth0 | wc -l) $(cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6)"
"#,
        udp_ip = udp.ip(),
        udp_port = udp.port(),
        web_port = web.port(),
        lo_port = lo.port(),
        lan0 = lan[0],
        lan1 = lan[1],
    )
}

fn user_mode_reaches_out_but_not_the_host_or_lan(who: Who, test: &str) {
    let Some(r) = runner(test, who, &["curl", "python3", "ip", "getent", "setpriv"]) else {
        return;
    };
    let helpers: Vec<&str> = ["pasta", "slirp4netns"]
        .into_iter()
        .filter(|h| find_program(h).is_some())
        .collect();
    if helpers.is_empty() {
        skip(test, "neither pasta (passt) nor slirp4netns is installed");
        return;
    }
    let net = TestNet::new();
    let web = net.http(&format!("{NET_ADDR}:0"), "hello-outside");
    let lo = net.host_http("127.0.0.1:0", "host-loopback");
    // A service the host binds on all its addresses.
    let all = net.host_http("0.0.0.0:0", "host-everywhere");
    let lans: Vec<Http> = LAN_ADDRS
        .iter()
        .map(|a| net.http(&format!("{a}:0"), "lan"))
        .collect();
    let udp = net.udp_echo();
    net.dns();
    let lan_addrs: Vec<SocketAddr> = lans.iter().map(|l| l.addr).collect();
    let host_all: SocketAddr = format!("{HOST_ADDR}:{}", all.addr.port()).parse().unwrap();
    let script = user_script(web.addr, udp, lo.addr, host_all, &lan_addrs);
    for helper in &helpers {
        for allow_lan in [false, true] {
            let mut options = vec!["--net", "user"];
            if allow_lan {
                options.push("--net-allow-lan");
            }
            let mut cmd = r.wsbox_in(&net, &sandbox_args(&options, &script));
            cmd.env("WSBOX_USERNET", helper);
            let out = output(cmd, RUN_LIMIT);
            let what = format!("{helper}, allow_lan={allow_lan}");
            assert_eq!(out.status.code(), Some(0), "{what}\n{out}");
            assert!(
                out.stdout.contains("hello-outside\nweb=0"),
                "{what}: outbound TCP\n{out}"
            );
            assert_eq!(field(&out, "udp"), "echo:ping", "{what}: UDP\n{out}");
            assert_eq!(field(&out, "resolved"), NET_ADDR, "{what}: DNS\n{out}");
            assert!(
                out.stdout.contains("hello-outside\nbyname=0"),
                "{what}\n{out}"
            );
            assert_ne!(field(&out, "gateway"), "0", "{what}\n{out}");
            assert_ne!(field(&out, "hostaddr"), "0", "{what}\n{out}");
            for key in ["lan0", "lan1"] {
                if allow_lan {
                    assert_eq!(field(&out, key), "0", "{what}: {key}\n{out}");
                } else {
                    assert_ne!(field(&out, key), "0", "{what}: {key}\n{out}");
                }
            }
            assert_ne!(
                field(&out, "delroute"),
                "0",
                "{what}: the app removed a route\n{out}"
            );
            assert_ne!(
                field(&out, "flush"),
                "0",
                "{what}: the app flushed the firewall\n{out}"
            );
            let links: BTreeSet<&str> = field(&out, "links").split_whitespace().collect();
            assert_eq!(
                links,
                BTreeSet::from(["lo", "eth0"]),
                "{what}: the host's interface names are visible\n{out}"
            );
            assert_eq!(
                field(&out, "ipv6"),
                "0 1",
                "{what}: IPv6 on eth0 (a link-local address)\n{out}"
            );
            let mac = field(&out, "mac");
            let first = u8::from_str_radix(mac.get(..2).unwrap_or("zz"), 16).unwrap_or(1);
            assert!(
                first & 2 == 2 && first & 1 == 0,
                "{what}: not a generated (local unicast) MAC: {mac}\n{out}"
            );
            assert!(!net.macs.iter().any(|m| m == mac), "{what}\n{out}");
        }
    }
    assert_eq!(lo.hits.load(Ordering::SeqCst), 0, "host loopback reached");
    assert_eq!(
        all.hits.load(Ordering::SeqCst),
        0,
        "the host's address reached"
    );
    for lan in &lans {
        // Reached only with --net-allow-lan: once per helper.
        assert_eq!(lan.hits.load(Ordering::SeqCst), helpers.len());
    }
    assert!(web.hits.load(Ordering::SeqCst) >= 4 * helpers.len());
}

/// Tries each target (`NAME,tcp|udp,IP,PORT`) plainly and with sockets that
/// name the outgoing interface, which skips the routing table's verdict:
/// SO_BINDTODEVICE, IP_UNICAST_IF, and for UDP the ifindex of IP_PKTINFO.
/// Prints `NAME.HOW=open` when an answer came back.
const BOUND_SOCKETS: &str = r#"
import socket, struct, sys
IF = socket.if_nametoindex("eth0")
IP_UNICAST_IF = 50
IP_PKTINFO = 8
def sock(kind, how):
    s = socket.socket(socket.AF_INET, kind)
    s.settimeout(3)
    if how == "dev":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    if how == "uif":
        s.setsockopt(socket.IPPROTO_IP, IP_UNICAST_IF, struct.pack("!I", IF))
    return s
def tcp(ip, port, how):
    s = sock(socket.SOCK_STREAM, how)
    s.connect((ip, port))
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    return s.recv(64)
def udp(ip, port, how):
    s = sock(socket.SOCK_DGRAM, how)
    if how == "pktinfo":
        info = struct.pack("=I4s4s", IF, bytes(4), bytes(4))
        s.sendmsg([b"ping"], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, (ip, port))
    else:
        s.sendto(b"ping", (ip, port))
    return s.recvfrom(64)[0]
for target in sys.argv[1:]:
    name, proto, ip, port = target.split(",")
    hows = ["plain", "dev", "uif"] + (["pktinfo"] if proto == "udp" else [])
    for how in hows:
        try:
            got = (tcp if proto == "tcp" else udp)(ip, int(port), how)
            print(f"{name}.{how}=" + ("open" if got else "empty"))
        except OSError as e:
            print(f"{name}.{how}=blocked ({e})")
"#;

fn user_mode_sockets_that_name_the_interface_are_blocked_too(who: Who, test: &str) {
    let Some(r) = runner(test, who, &["python3", "ip", "setpriv"]) else {
        return;
    };
    let helpers: Vec<&str> = ["pasta", "slirp4netns"]
        .into_iter()
        .filter(|h| find_program(h).is_some())
        .collect();
    if helpers.is_empty() {
        skip(test, "neither pasta (passt) nor slirp4netns is installed");
        return;
    }
    let net = TestNet::new();
    // Reachable: the "internet", to show that each kind of socket works.
    let web = net.http(&format!("{NET_ADDR}:0"), "outside");
    let (echo, _) = net.counted_udp_echo(&format!("{NET_ADDR}:0"), false);
    // Never reachable: the host's own address, its loopback through the
    // gateway address, the DNS forwarder's address beside port 53.
    let all = net.host_http("0.0.0.0:0", "host-everywhere");
    let (host_udp, host_udp_hits) = net.counted_udp_echo("0.0.0.0:0", true);
    let lo = net.host_http("127.0.0.1:0", "host-loopback");
    let dns_other = net.http(&format!("{DNS_ADDR}:0"), "dns-address");
    // Reachable only with --net-allow-lan.
    let lan = net.http(&format!("{}:0", LAN_ADDRS[1]), "lan");
    let (lan_udp, lan_udp_hits) = net.counted_udp_echo(&format!("{}:0", LAN_ADDRS[0]), false);
    let targets = [
        format!("web,tcp,{NET_ADDR},{}", web.addr.port()),
        format!("echo,udp,{NET_ADDR},{}", echo.port()),
        format!("host,tcp,{HOST_ADDR},{}", all.addr.port()),
        format!("hostudp,udp,{HOST_ADDR},{}", host_udp.port()),
        format!("gateway,tcp,10.0.2.2,{}", lo.addr.port()),
        format!("dnsother,tcp,{DNS_ADDR},{}", dns_other.addr.port()),
        format!("lan,tcp,{}", lan.addr.to_string().replace(':', ",")),
        format!("lanudp,udp,{}", lan_udp.to_string().replace(':', ",")),
    ];
    let mut script = String::from("python3 - \"$@\" <<'EOF'\n");
    script.push_str(BOUND_SOCKETS);
    script.push_str("EOF\n");
    for helper in &helpers {
        for allow_lan in [false, true] {
            let mut options = vec!["--net", "user"];
            if allow_lan {
                options.push("--net-allow-lan");
            }
            let mut args = sandbox_args(&options, &script);
            args.push("sh");
            args.extend(targets.iter().map(String::as_str));
            let mut cmd = r.wsbox_in(&net, &args);
            cmd.env("WSBOX_USERNET", helper);
            let out = output(cmd, RUN_LIMIT);
            let what = format!("{helper}, allow_lan={allow_lan}");
            assert_eq!(out.status.code(), Some(0), "{what}\n{out}");
            let hows = |name: &str| -> Vec<&'static str> {
                let udp = name.ends_with("udp") || name == "echo";
                let mut hows = vec!["plain", "dev", "uif"];
                if udp {
                    hows.push("pktinfo");
                }
                hows
            };
            for name in [
                "web", "echo", "host", "hostudp", "gateway", "dnsother", "lan", "lanudp",
            ] {
                let reachable = match name {
                    "web" | "echo" => true,
                    "lan" | "lanudp" => allow_lan,
                    _ => false,
                };
                for how in hows(name) {
                    let key = format!("{name}.{how}");
                    let got = field(&out, &key);
                    if reachable {
                        assert_eq!(got, "open", "{what}: {key}\n{out}");
                    } else {
                        assert!(got.starts_with("blocked"), "{what}: {key} reached\n{out}");
                    }
                }
            }
        }
    }
    assert_eq!(all.hits.load(Ordering::SeqCst), 0, "host address reached");
    assert_eq!(
        host_udp_hits.load(Ordering::SeqCst),
        0,
        "host address reached"
    );
    assert_eq!(lo.hits.load(Ordering::SeqCst), 0, "host loopback reached");
    assert_eq!(dns_other.hits.load(Ordering::SeqCst), 0, "10.0.2.3 reached");
    // With --net-allow-lan, once per helper and kind of socket.
    assert_eq!(lan.hits.load(Ordering::SeqCst), 3 * helpers.len());
    assert_eq!(lan_udp_hits.load(Ordering::SeqCst), 4 * helpers.len());
}

/// The host addresses in the firewall of the sandbox of the wsbox `pid`, as
/// `nft` lists them in the sandbox's network namespace.
fn host_set(pid: i32) -> Option<String> {
    let own = fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    let inside = testkit::tree(pid)
        .into_iter()
        .find(|p| fs::read_link(format!("/proc/{p}/ns/net")).is_ok_and(|ns| ns != own))?;
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net=/proc/{inside}/ns/net"))
        .args(["nft", "list", "set", "inet", "wsbox", "host4"]);
    let out = output(cmd, RUN_LIMIT);
    out.status.success().then_some(out.stdout)
}

/// An address the host gets while a sandbox runs (TEST-NET-3: no route of
/// the sandbox covers it).
const LATER_ADDR: &str = "203.0.113.7";

fn a_host_address_added_later_is_blocked_too(who: Who, test: &str) {
    let programs = ["curl", "python3", "ip", "setpriv", "nsenter", "nft"];
    let Some(r) = runner(test, who, &programs) else {
        return;
    };
    if find_program("pasta").is_none() {
        skip(test, "pasta (passt) is not installed");
        return;
    }
    let net = TestNet::new();
    let all = net.host_http("0.0.0.0:0", "host-everywhere");
    let web = net.http(&format!("{NET_ADDR}:0"), "outside");
    let target = format!("{LATER_ADDR},{}", all.addr.port());
    // Waits for a line on stdin (the address is there by then), then tries
    // plainly and bound to eth0.
    let mut script = format!(
        "curl -s -m 5 http://{}/ >/dev/null; echo \"before=$?\"; read line; \
         curl -s -m 3 http://{LATER_ADDR}:{}/ >/dev/null; echo \"later=$?\"\n\
         python3 - later,tcp,{target} <<'EOF'\n",
        web.addr,
        all.addr.port(),
    );
    script.push_str(BOUND_SOCKETS);
    script.push_str("EOF\n");
    let cmd = r.wsbox_in(&net, &sandbox_args(&["--net", "user"], &script));
    let mut running = Running::start_with_stdin(cmd);
    let mut stdin = running.stdin();
    // The sandbox runs (it reached the outside) before the host gets the
    // address.
    let up = poll(Duration::from_secs(20), || {
        (web.hits.load(Ordering::SeqCst) > 0).then_some(())
    });
    if up.is_none() {
        let out = running.kill(RUN_LIMIT);
        panic!("the sandbox never reached the outside\n{out}");
    }
    ip(&[
        "-n",
        &net.name,
        "addr",
        "add",
        &format!("{LATER_ADDR}/32"),
        "dev",
        "lo",
    ]);
    // wsbox hears of it and puts it into the sandbox's firewall.
    let blocked = poll(Duration::from_secs(10), || {
        host_set(running.pid())
            .filter(|set| set.contains(LATER_ADDR))
            .map(drop)
    });
    assert!(
        blocked.is_some(),
        "the sandbox's firewall never got {LATER_ADDR}: {:?}",
        host_set(running.pid())
    );
    let _ = stdin.write_all(b"go\n");
    drop(stdin);
    let out = running.finish(RUN_LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(field(&out, "before"), "0", "{out}");
    assert_ne!(field(&out, "later"), "0", "{out}");
    for how in ["plain", "dev", "uif"] {
        assert!(
            field(&out, &format!("later.{how}")).starts_with("blocked"),
            "{how}\n{out}"
        );
    }
    assert_eq!(
        all.hits.load(Ordering::SeqCst),
        0,
        "the host's new address reached\n{out}"
    );
}

/// Run by root, the user-mode helpers keep host uid 0, but no capability
/// in the host's user namespace and a mount namespace of their own.
#[test]
fn helpers_run_by_root_hold_no_host_capabilities() {
    let test = "helpers_run_by_root_hold_no_host_capabilities";
    let Some(r) = runner(test, Who::Root, &["ip"]) else {
        return;
    };
    let helpers: Vec<&str> = ["pasta", "slirp4netns"]
        .into_iter()
        .filter(|h| find_program(h).is_some())
        .collect();
    if helpers.is_empty() {
        skip(test, "neither pasta (passt) nor slirp4netns is installed");
        return;
    }
    let net = TestNet::new();
    let ns = |pid: i32, kind: &str| fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
    let me = std::process::id() as i32;
    for helper in helpers {
        let mark = testkit::unique_mark("caps");
        let mut cmd = r.wsbox_in(&net, &sandbox_args(&["--net", "user"], "sleep 60"));
        cmd.env(MARK_VAR, &mark).env("WSBOX_USERNET", helper);
        let running = Running::start(cmd);
        // The helper, once it has confined itself (no_new_privs is set last).
        let found = poll(Duration::from_secs(20), || {
            marked(&mark).into_iter().find_map(|(pid, comm)| {
                let ours = comm.starts_with("pasta")
                    || comm.starts_with("passt")
                    || comm.starts_with("slirp4netns");
                let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let nnp = status.lines().any(|l| l == "NoNewPrivs:\t1");
                (ours && nnp).then_some((pid, status))
            })
        });
        let Some((pid, status)) = found else {
            let out = running.kill(RUN_LIMIT);
            panic!(
                "{helper}: no confined helper found: {:?}\n{out}",
                marked(&mark)
            );
        };
        let cap_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:\t"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap();
        let in_host_userns = ns(pid, "user") == ns(me, "user");
        // CAP_NET_BIND_SERVICE (10) at most, where it stays in the host's
        // user namespace.
        assert!(
            !in_host_userns || cap_eff & !(1 << 10) == 0,
            "{helper} holds capabilities {cap_eff:#x} in the host's user namespace"
        );
        assert_ne!(
            ns(pid, "mnt"),
            ns(me, "mnt"),
            "{helper} sees the host's mounts"
        );
        running.kill(RUN_LIMIT);
    }
}

/// Processes whose environment carries `mark`, with their command names.
fn marked(mark: &str) -> Vec<(i32, String)> {
    testkit::marked_processes(mark)
        .into_iter()
        .map(|(pid, _)| (pid, comm(pid).unwrap_or_default()))
        .collect()
}

fn the_user_mode_helper_dies_with_the_sandbox(who: Who, test: &str) {
    let Some(r) = runner(test, who, &["ip", "setpriv"]) else {
        return;
    };
    if find_program("pasta").is_none() {
        skip(test, "pasta (passt) is not installed");
        return;
    }
    let net = TestNet::new();
    for kill_wsbox in [false, true] {
        let mark = testkit::unique_mark("helper");
        let mut cmd = r.wsbox_in(&net, &sandbox_args(&["--net", "user"], "sleep 60"));
        cmd.env(MARK_VAR, &mark);
        let running = Running::start(cmd);
        // pasta runs as passt.avx2 where the CPU has AVX2.
        let helper = poll(Duration::from_secs(20), || {
            marked(&mark)
                .into_iter()
                .find(|(_, comm)| comm.starts_with("pasta") || comm.starts_with("passt"))
        });
        if helper.is_none() {
            let out = running.kill(RUN_LIMIT);
            panic!(
                "no pasta running for the sandbox: {:?}\n{out}",
                marked(&mark)
            );
        }
        if kill_wsbox {
            // SIGKILL: no cleanup in wsbox; the parent-death signal must do.
            running.signal(libc::SIGKILL);
        } else {
            let wsbox = marked(&mark)
                .into_iter()
                .find(|(_, comm)| comm == "wsbox")
                .unwrap();
            // SIGTERM is forwarded: the app ends, wsbox ends and kills pasta.
            // SAFETY: plain kill(2).
            unsafe { libc::kill(wsbox.0, libc::SIGTERM) };
        }
        let _ = running.finish(RUN_LIMIT);
        let left = poll(Duration::from_secs(10), || {
            marked(&mark).is_empty().then_some(())
        });
        assert!(
            left.is_some(),
            "left behind (kill_wsbox={kill_wsbox}): {:?}",
            marked(&mark)
        );
    }
}

#[test]
fn host_mode_is_the_host_s_network_and_ps_warns() {
    let test = "host_mode_is_the_host_s_network_and_ps_warns";
    let Some(r) = runner(test, Who::Root, &["curl", "ip"]) else {
        return;
    };
    let web = http("127.0.0.1:0", "host-loopback");
    let out = r.sh(
        &["--net", "host"],
        &format!(
            "curl -s -m 5 http://{}/; echo; echo \"links=$(ip -o link | cut -d: -f2 | tr -d ' ' | tr '\\n' ' ')\"",
            web.addr
        ),
    );
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert!(out.stdout.contains("host-loopback"), "{out}");
    let inside: BTreeSet<String> = field(&out, "links")
        .split_whitespace()
        .map(|l| l.split('@').next().unwrap_or(l).to_owned())
        .collect();
    let host: BTreeSet<String> = fs::read_dir("/sys/class/net")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(inside, host, "{out}");

    // The host's abstract unix sockets (X11, D-Bus) are per network
    // namespace: with the host's, only Landlock's scoping (ABI 6) keeps
    // the app from them.
    // SAFETY: landlock_create_ruleset(NULL, 0, VERSION) only returns a number.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if abi >= 6 && find_program("python3").is_some() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("wsbox-net-test-{}-{}", std::process::id(), next());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let script = format!(
            "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(b\"\\0{name}\")' 2>/dev/null; echo \"abstract=$?\""
        );
        let out = r.sh(&["--net", "host"], &script);
        assert_ne!(field(&out, "abstract"), "0", "{out}");
        assert!(listener.accept().is_err(), "{out}");
    } else {
        eprintln!(
            "NOTE: {test}: Landlock ABI {abi} < 6 or no python3: abstract sockets not checked"
        );
    }

    let name_host = format!("nethost-{}-{}", std::process::id(), next());
    let name_none = format!("netnone-{}-{}", std::process::id(), next());
    let host_run = Running::start(r.wsbox(&sandbox_args(
        &["--net", "host", "--name", &name_host],
        "sleep 60",
    )));
    let none_run = Running::start(r.wsbox(&sandbox_args(&["--name", &name_none], "sleep 60")));
    let ps = poll(Duration::from_secs(20), || {
        let out = output(r.wsbox(&["ps"]), RUN_LIMIT);
        (out.stdout.contains(&name_host) && out.stdout.contains(&name_none)).then_some(out)
    })
    .expect("wsbox ps never listed both sandboxes");
    let line = |name: &str| {
        ps.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line(&name_host).get(3), Some(&"host!"), "{ps}");
    assert_eq!(line(&name_none).get(3), Some(&"none"), "{ps}");
    let warnings: Vec<&str> = ps
        .stdout
        .lines()
        .filter(|l| l.starts_with("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{ps}");
    assert!(
        warnings[0].contains(&name_host) && warnings[0].contains("host's network"),
        "{ps}"
    );
    let json = output(r.wsbox(&["ps", "--json"]), RUN_LIMIT);
    let list: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let entry = |name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry(&name_host)["network"], "host");
    assert!(entry(&name_host)["warning"].is_string(), "{json}");
    assert!(entry(&name_none).get("warning").is_none(), "{json}");
    for name in [&name_host, &name_none] {
        let out = output(r.wsbox(&["stop", name]), RUN_LIMIT);
        assert!(out.status.success(), "{out}");
    }
    host_run.finish(RUN_LIMIT);
    none_run.finish(RUN_LIMIT);
}

fn boot_id_is_the_sandbox_s(who: Who, test: &str) {
    let Some(r) = runner(test, who, &[]) else {
        return;
    };
    let host = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let script = "cat /proc/sys/kernel/random/boot_id; cat /proc/sys/kernel/random/boot_id";
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let out = r.sh(&[], script);
            assert_eq!(out.status.code(), Some(0), "{out}");
            let lines: Vec<&str> = out.stdout.lines().collect();
            assert_eq!(lines.len(), 2, "{out}");
            assert_eq!(
                lines[0], lines[1],
                "the boot id changes within a run\n{out}"
            );
            let id = lines[0].to_owned();
            let parts: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 4, 4, 4, 12], "not a UUID: {id}");
            assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
            id
        })
        .collect();
    assert_ne!(ids[0], host.trim(), "the host's boot id is visible");
    assert_ne!(ids[0], ids[1], "two sandboxes share a boot id");
    // The kernel command line may carry the root file system's UUID.
    assert!(!fs::read_to_string("/proc/cmdline").unwrap().is_empty());
    let out = r.sh(&[], "cat /proc/cmdline 2>/dev/null; echo \"status=$?\"");
    assert_eq!(
        out.stdout.lines().next(),
        Some("status=1"),
        "/proc/cmdline is readable\n{out}"
    );
}

fn machine_id_random_or_stable(who: Who, test: &str) {
    let Some(r) = runner(test, who, &[]) else {
        return;
    };
    let host = fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let stable = r.write("stable.toml", "[identity]\nmachine_id = \"stable\"\n");
    let stable = stable.to_str().unwrap();
    let id = |options: &[&str]| {
        let out = r.sh(options, "cat /etc/machine-id");
        assert_eq!(out.status.code(), Some(0), "{out}");
        let id = out.stdout.trim().to_owned();
        assert_eq!(id.len(), 32, "{out}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{out}");
        assert_ne!(id, host.trim(), "the host's machine id is visible");
        id
    };
    let (a, b) = (format!("mida-{}", next()), format!("midb-{}", next()));
    let a1 = id(&["--policy", stable, "--name", &a]);
    let a2 = id(&["--policy", stable, "--name", &a]);
    let b1 = id(&["--policy", stable, "--name", &b]);
    assert_eq!(a1, a2, "a stable machine id changed between runs");
    assert_ne!(a1, b1, "two apps share a stable machine id");
    let key = r.dir.join("data/wsbox/machine-id.key");
    let mode = fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    let r1 = id(&["--name", &a]);
    let r2 = id(&["--name", &a]);
    assert_ne!(r1, r2, "the default machine id is not random per run");
    assert_ne!(r1, a1);
}

/// Sysfs files that identify the hardware, as globs.
const SYS_IDENTIFIERS: &[&str] = &[
    "/sys/class/net/*/address",
    "/sys/class/dmi/id/product_uuid",
    "/sys/class/dmi/id/product_serial",
    "/sys/class/dmi/id/board_serial",
    "/sys/class/dmi/id/chassis_serial",
    "/sys/block/*/serial",
    "/sys/block/*/device/serial",
    "/sys/block/*/device/wwid",
    "/sys/block/*/wwid",
    "/sys/class/nvme/*/serial",
    "/sys/class/nvme-subsystem/*/serial",
    "/sys/bus/mmc/devices/*/cid",
    "/sys/bus/mmc/devices/*/serial",
    "/sys/bus/usb/devices/*/serial",
    "/sys/bus/scsi/devices/*/vpd_pg80",
    "/sys/class/input/*/uniq",
    "/sys/class/drm/*/edid",
    "/sys/class/power_supply/*/serial_number",
];

/// Proc files with machine-wide counters or the host's disks.
const PROC_COUNTERS: &[&str] = &[
    "/proc/diskstats",
    "/proc/interrupts",
    "/proc/softirqs",
    "/proc/partitions",
    "/proc/swaps",
];

fn sysfs_serials_and_addresses_are_masked(who: Who, test: &str) {
    let Some(r) = runner(test, who, &[]) else {
        return;
    };
    let policy = r.write("sys.toml", "[filesystem]\nsys = true\n");
    let globs = SYS_IDENTIFIERS.join(" ");
    let procs = PROC_COUNTERS.join(" ");
    // Each file that exists: `PATH=` and what reading it gives (`cat`
    // fails on a masked file: the /dev/null over it is on a nodev mount).
    let script = format!(
        "for f in {globs} {procs}; do [ -e \"$f\" ] && echo \"$f=$(head -c 64 \"$f\" 2>/dev/null | od -An -c | tr -d ' \\n')\"; done; \
         echo \"dmi=$(ls /sys/class/dmi/id 2>/dev/null | tr '\\n' ' ')\"; \
         echo \"lo=$(ls /sys/class/net)\""
    );
    let out = r.sh(&["--policy", policy.to_str().unwrap()], &script);
    assert_eq!(out.status.code(), Some(0), "{out}");
    assert_eq!(field(&out, "lo"), "lo", "{out}");
    assert_eq!(field(&out, "dmi").trim(), "", "DMI visible\n{out}");
    let inside: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(path, _)| path.starts_with("/sys/") || path.starts_with("/proc/"))
        .collect();
    for (path, value) in &inside {
        assert_eq!(*value, "", "{path} is readable inside\n{out}");
    }
    // lo's address reads 00:00:00:00:00:00 unmasked.
    assert!(
        inside
            .iter()
            .any(|(p, _)| *p == "/sys/class/net/lo/address"),
        "{out}"
    );
    // Every identifier the host shows (its interfaces aside: the sandbox
    // has a sysfs of its own network namespace) is there and empty inside.
    let host = Command::new("sh")
        .args([
            "-c",
            &format!(
                "for f in {globs} {procs}; do [ -n \"$(head -c 1 \"$f\" 2>/dev/null | od -An -c)\" ] && echo \"$f\"; done"
            ),
        ])
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    let mut checked = 0;
    for path in host.lines().filter(|p| !p.starts_with("/sys/class/net/")) {
        assert!(
            inside.iter().any(|(p, _)| p == &path),
            "{path} (non-empty on the host) was not looked at inside\n{out}"
        );
        checked += 1;
    }
    eprintln!("{test}: {checked} host identifiers and counters read empty inside");
    assert!(checked >= 2, "the host has no /proc/interrupts?\n{host}");
}

fn bad_network_input_is_one_line_and_125(who: Who, test: &str) {
    let Some(r) = runner(test, who, &[]) else {
        return;
    };
    let dup = r.write(
        "dup.toml",
        "[network]\nmode = \"tor\"\nforward = [\"tcp:127.0.0.1:9050\"]\n",
    );
    let unknown = r.write("unknown.toml", "[network]\nmode = \"wifi\"\n");
    let dup = dup.to_str().unwrap();
    let unknown = unknown.to_str().unwrap();
    for (options, says) in [
        (vec!["--net", "wifi"], "wifi"),
        (vec!["--net", "tor=localhost:9050"], "HOST:PORT"),
        (vec!["--net", "tor=127.0.0.1:99999"], "HOST:PORT"),
        (
            vec!["--net", "user=10.0.0.1:1"],
            "only tor takes an address",
        ),
        (vec!["--net-allow-lan"], "--net user"),
        (vec!["--net-forward", "udp:127.0.0.1:53"], "tcp"),
        (vec!["--net-forward", "tcp:192.168.1.1:80"], "loopback"),
        (
            vec!["--net", "tor", "--net-forward", "tcp:127.0.0.1:9050"],
            "already in use",
        ),
        (
            vec![
                "--net-forward",
                "tcp:127.0.0.1:631",
                "--net-forward",
                "tcp:127.0.0.1:631",
            ],
            "already in use",
        ),
        (vec!["--policy", dup], "already in use"),
        (
            vec!["--net", "tor", "--net-forward", "tcp:127.0.0.1:9051"],
            "Tor's own",
        ),
        (vec!["--policy", unknown], "wifi"),
    ] {
        let out = r.sh(&options, "echo ran");
        assert_eq!(out.status.code(), Some(125), "{options:?}\n{out}");
        assert!(!out.stdout.contains("ran"), "{options:?}\n{out}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{options:?}: not one line\n{out}");
        assert!(
            lines[0].starts_with("wsbox: ") && lines[0].contains(says),
            "{options:?}: expected {says:?}\n{out}"
        );
    }
    // Nothing left behind: no runtime directories of failed runs (the
    // cache of /etc references is meant to stay).
    let base = r.dir.join("wsbox");
    let left: Vec<_> = fs::read_dir(&base)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name())
                .filter(|name| name != ".etc-refs.json")
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "left behind in {}: {left:?}",
        base.display()
    );
}
