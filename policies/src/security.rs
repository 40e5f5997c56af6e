//! The `[security]` section: how hard the kernel's features are required.

use serde::{Deserialize, Serialize};

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
