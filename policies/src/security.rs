//! The `[security]` section: how hard the kernel's features are required.

use serde::{Deserialize, Serialize};

/// How hard the kernel's security features are required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub landlock: Requirement,
    /// Let the app create user namespaces nested in its sandbox (and PID,
    /// network, IPC and UTS ones), with chroot, so that a browser keeps its
    /// own sandbox. Off by default: it opens kernel code (user namespaces)
    /// to the app that is otherwise out of its reach.
    #[serde(default)]
    pub nested_userns: bool,
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
