//! The `[lifecycle]` section: how long an app is given to close on its own
//! (to ask "save changes?", to write its session) before it is stopped.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// The longest grace a policy may give: an hour.
pub const GRACE_MAX_SECS: f64 = 3600.0;

/// How an app is ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    /// After `wsbox stop` (and a window close the app does not follow up),
    /// seconds the app has to exit after its windows were asked to close,
    /// before it gets SIGTERM.
    #[serde(default = "default_grace")]
    pub grace: f64,
    /// The same after `--timeout`: short, for CI.
    #[serde(default = "default_timeout_grace")]
    pub timeout_grace: f64,
}

impl Eq for Lifecycle {}

fn default_grace() -> f64 {
    10.0
}

fn default_timeout_grace() -> f64 {
    2.0
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            grace: default_grace(),
            timeout_grace: default_timeout_grace(),
        }
    }
}

impl Lifecycle {
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        for (field, secs) in [
            ("lifecycle.grace", self.grace),
            ("lifecycle.timeout_grace", self.timeout_grace),
        ] {
            check_grace(secs).map_err(|message| Refusal::new(field, message))?;
        }
        Ok(())
    }

    /// [`Lifecycle::grace`] as a duration.
    pub fn grace(&self) -> Duration {
        Duration::from_secs_f64(self.grace)
    }

    /// [`Lifecycle::timeout_grace`] as a duration.
    pub fn timeout_grace(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_grace)
    }
}

/// Refuses what is not a number of seconds from 0 to [`GRACE_MAX_SECS`]
/// (the command line's `--grace` too).
pub fn check_grace(secs: f64) -> Result<(), String> {
    if secs.is_finite() && (0.0..=GRACE_MAX_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(format!(
            "{secs} is not a number of seconds from 0 to {GRACE_MAX_SECS}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn graces_default_and_are_checked() {
        let p = Policy::from_toml("", "t").unwrap();
        assert_eq!(p.lifecycle.grace(), Duration::from_secs(10));
        assert_eq!(p.lifecycle.timeout_grace(), Duration::from_secs(2));
        let p = Policy::from_toml("[lifecycle]\ngrace = 0.5\ntimeout_grace = 0\n", "t").unwrap();
        assert_eq!(p.lifecycle.timeout_grace(), Duration::ZERO);
        assert_eq!(p.lifecycle.grace(), Duration::from_millis(500));
        for bad in ["grace = -1", "grace = 3601", "timeout_grace = nan"] {
            let err = Policy::from_toml(&format!("[lifecycle]\n{bad}\n"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains("lifecycle."), "{bad}: {err}");
            assert!(err.contains("not a number of seconds"), "{bad}: {err}");
        }
        assert!(Policy::from_toml("[lifecycle]\ngrace = \"10\"\n", "t").is_err());
    }
}
