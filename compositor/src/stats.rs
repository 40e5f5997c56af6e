//! What the compositor counts for `wsbox status`: host input received and
//! the clipboard's decisions, so that a user (and a test) can tell that a
//! key arrived or that a transfer was decided, and which way, without
//! waiting for a while and hoping. Counting only; nothing here decides.

use serde::{Deserialize, Serialize};

/// Counters since the sandbox started.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Key presses the host window received while it had the focus,
    /// clipboard gestures included.
    pub host_key_presses: u64,
    pub clipboard: ClipboardStats,
}

/// Each clipboard crossing wsbox decided, by outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClipboardStats {
    /// The sandbox's selection became the host's.
    pub to_host: u64,
    /// The host's selection became the sandbox's.
    pub to_sandbox: u64,
    /// A transfer ended after the focus had moved, or a newer one
    /// replaced it: nothing crossed.
    pub dropped: u64,
    /// Nothing to cross: no text, more than the size limit, a failed read.
    pub refused: u64,
    /// A selection set inside that stays inside: the window had no focus
    /// (auto mode), or it was the primary selection.
    pub kept_inside: u64,
    /// Reads of the selection wsbox set inside (the host's text it pasted
    /// in) that apps inside asked for, each answered from memory. An app
    /// reading another app's selection goes to that app, not counted.
    pub reads_inside: u64,
}

/// The state `wsbox status` reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// In window mode, whether the host window has the host's keyboard
    /// focus; absent when headless.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_focused: Option<bool>,
    /// The app left a ping unanswered while wsbox waits for it to close.
    pub not_responding: bool,
    /// Toplevels that have shown a buffer since the start.
    pub windows_shown: u64,
    pub stats: Stats,
}
