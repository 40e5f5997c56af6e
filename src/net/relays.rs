//! The relays of `--net tor` and `--net-forward` in a helper process
//! forked before wsbox confines itself (`crate::helper`): the relay threads
//! of [`forward`] run there, confined like wsbox but allowed TCP sockets and
//! connections to their upstream ports only, and no file access. The
//! confined wsbox makes no sockets; this process must never make any but
//! those.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use wsbox_sandbox::self_confine::Confinement;

use crate::helper::{fork_helper, recv, seqpacket_pair};
use crate::net::forward::{self, Upstream};

/// The relays of `--net tor` and `--net-forward`, in a process of their own:
/// it alone may make TCP sockets and connect them, to the upstream ports
/// only (Landlock), and it has no file access at all.
#[derive(Debug)]
pub struct Relays {
    sock: OwnedFd,
    pid: Pid,
}

impl Relays {
    /// Starts the process serving each listener (a listening socket inside
    /// the sandbox) to its upstream.
    pub fn spawn(relays: Vec<(OwnedFd, Upstream)>) -> io::Result<Self> {
        let (ours, theirs) = seqpacket_pair()?;
        let ports = relays
            .iter()
            .map(|(_, upstream)| match upstream {
                Upstream::Plain(addr) | Upstream::Socks { addr, .. } => addr.port(),
            })
            .collect();
        let mut keep: Vec<RawFd> = relays.iter().map(|(fd, _)| fd.as_raw_fd()).collect();
        keep.push(theirs.as_raw_fd());
        let pid = fork_helper(&keep, move || {
            let confinement = Confinement {
                tcp_connect: ports,
                tcp_sockets: true,
                ..Confinement::default()
            };
            if let Err(e) = confinement.apply() {
                tracing::error!(%e, "the relays could not confine themselves");
                return 1;
            }
            // Threads only now: they are confined too.
            for (listener, upstream) in relays {
                if let Err(e) = forward::serve(listener, upstream) {
                    tracing::error!(%e, "failed to serve the sandbox's sockets");
                    return 1;
                }
            }
            // Until wsbox ends (or dies: PR_SET_PDEATHSIG).
            let _ = recv(theirs.as_fd(), 0);
            0
        })?;
        Ok(Self { sock: ours, pid })
    }
}

impl Relays {
    /// The process's pid (the confined wsbox may signal it).
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }
}

impl Drop for Relays {
    fn drop(&mut self) {
        let _ = nix::sys::socket::shutdown(self.sock.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}
