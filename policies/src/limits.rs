//! The `[limits]` section: how much of the machine one sandbox may take —
//! memory, tasks, tmpfs space, CPU share and open files — so that an app
//! that forks without end or fills its /tmp takes only its own sandbox
//! down, not the session.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Refusal;
use crate::value::parsed_value;

pub(crate) const MEMORY_FIELD: &str = "limits.memory";
pub(crate) const TMPFS_FIELD: &str = "limits.tmpfs";

/// The fewest tasks a sandbox may be limited to: pid 1, the app and the
/// private bus need a few, a shell pipeline some more.
pub const TASKS_MIN: u32 = 16;
/// The most: the kernel's own default pid_max is 4 million.
pub const TASKS_MAX: u32 = 1 << 22;
/// The least memory: smaller starts nothing a window needs.
pub const MEMORY_MIN: u64 = 64 << 20;
/// The least tmpfs space: the app's runtime directory needs a little.
pub const TMPFS_MIN: u64 = 1 << 20;
/// The fewest open files (RLIMIT_NOFILE): what the standard streams, a
/// Wayland connection and a few libraries need.
pub const FILES_MIN: u64 = 64;
/// The most: the kernel's fs.nr_open default.
pub const FILES_MAX: u64 = 1 << 20;

/// What one sandbox may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory of the app and everything it starts, tmpfs pages included,
    /// with no swap beyond it: a size (`"4G"`) or a share of the host's
    /// memory (`"50%"`). Needs a cgroup.
    #[serde(default = "default_memory")]
    pub memory: MemoryLimit,
    /// Processes and threads the sandbox may have at once.
    #[serde(default = "default_tasks")]
    pub tasks: u32,
    /// The space of all the sandbox's writable tmpfs places together
    /// (/tmp, /var/tmp, /dev/shm, the home, the runtime directory, the
    /// documents): they share one tmpfs of this size.
    #[serde(default = "default_tmpfs")]
    pub tmpfs: TmpfsSize,
    /// The sandbox's CPU weight against others (cgroup v2's cpu.weight,
    /// 1 to 10000; 100 is every other program's). Needs a cgroup.
    #[serde(default = "default_cpu_weight")]
    pub cpu_weight: u32,
    /// Open files per process (RLIMIT_NOFILE, soft and hard).
    #[serde(default = "default_files")]
    pub files: u64,
    /// Refuse to start when a limit cannot be set (no cgroup to be had),
    /// instead of starting with those that can and a warning.
    #[serde(default)]
    pub required: bool,
}

fn default_memory() -> MemoryLimit {
    MemoryLimit {
        text: "50%".into(),
        amount: Amount::Percent(50),
    }
}

fn default_tasks() -> u32 {
    1024
}

fn default_tmpfs() -> TmpfsSize {
    TmpfsSize {
        text: "1G".into(),
        bytes: 1 << 30,
    }
}

fn default_cpu_weight() -> u32 {
    100
}

fn default_files() -> u64 {
    8192
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: default_memory(),
            tasks: default_tasks(),
            tmpfs: default_tmpfs(),
            cpu_weight: default_cpu_weight(),
            files: default_files(),
            required: false,
        }
    }
}

impl Limits {
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        if !(TASKS_MIN..=TASKS_MAX).contains(&self.tasks) {
            return Err(Refusal::new(
                "limits.tasks",
                format!("{} is not from {TASKS_MIN} to {TASKS_MAX}", self.tasks),
            ));
        }
        if !(1..=10000).contains(&self.cpu_weight) {
            return Err(Refusal::new(
                "limits.cpu_weight",
                format!("{} is not from 1 to 10000", self.cpu_weight),
            ));
        }
        if !(FILES_MIN..=FILES_MAX).contains(&self.files) {
            return Err(Refusal::new(
                "limits.files",
                format!("{} is not from {FILES_MIN} to {FILES_MAX}", self.files),
            ));
        }
        Ok(())
    }
}

/// How much memory: bytes, or a share of the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    Bytes(u64),
    /// Percent of the host's memory, 1 to 100.
    Percent(u8),
}

/// `limits.memory`: `"4G"`, `"512M"` or `"50%"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MemoryLimit {
    text: String,
    amount: Amount,
}

parsed_value!(MemoryLimit, MEMORY_FIELD);

impl MemoryLimit {
    /// The limit in bytes on a host with `total` bytes of memory.
    pub fn bytes(&self, total: u64) -> u64 {
        match self.amount {
            Amount::Bytes(bytes) => bytes,
            Amount::Percent(p) => (u128::from(total) * u128::from(p) / 100) as u64,
        }
    }

    pub fn amount(&self) -> Amount {
        self.amount
    }
}

impl FromStr for MemoryLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let amount = match text.strip_suffix('%') {
            Some(number) => match number.parse::<u8>() {
                Ok(p @ 1..=100) => Amount::Percent(p),
                _ => return Err(format!("{text:?} is not a share of memory from 1% to 100%")),
            },
            None => {
                let bytes = parse_size(text)?;
                if bytes < MEMORY_MIN {
                    return Err(format!("{text:?} is less than the least, 64M"));
                }
                Amount::Bytes(bytes)
            }
        };
        Ok(Self {
            text: text.to_owned(),
            amount,
        })
    }
}

/// `limits.tmpfs`: a size, `"1G"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TmpfsSize {
    text: String,
    bytes: u64,
}

parsed_value!(TmpfsSize, TMPFS_FIELD);

impl TmpfsSize {
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl FromStr for TmpfsSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bytes = parse_size(text)?;
        if bytes < TMPFS_MIN {
            return Err(format!("{text:?} is less than the least, 1M"));
        }
        Ok(Self {
            text: text.to_owned(),
            bytes,
        })
    }
}

/// A size as the command line and the policy write it: a whole number of
/// bytes, or of K, M, G or T (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let refused = || format!("{text:?} is not a size such as 512M, 4G or 1073741824");
    let (number, shift) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => {
            let shift = match unit.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(refused()),
            };
            (&text[..at], shift)
        }
        _ => (text, 0),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refused());
    }
    let n: u64 = number.parse().map_err(|_| refused())?;
    n.checked_mul(1u64 << shift).ok_or_else(refused)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::testing::{reads_back, refuses};
    use crate::Policy;

    #[test]
    fn sizes_read_as_written() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("4G").unwrap(), 4 << 30);
        assert_eq!(parse_size("2T").unwrap(), 2 << 40);
        for bad in ["", "G", "1.5G", "-1G", "4GB", "4 G", "99999999999T", "0x10"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_is_a_size_or_a_share() {
        let m: MemoryLimit = reads_back("4G");
        assert_eq!(m.bytes(1 << 40), 4 << 30);
        let m: MemoryLimit = reads_back("50%");
        assert_eq!(m.bytes(24 << 30), 12 << 30);
        refuses::<MemoryLimit>(
            "0%",
            MEMORY_FIELD,
            "\"0%\" is not a share of memory from 1% to 100%",
        );
        refuses::<MemoryLimit>(
            "150%",
            MEMORY_FIELD,
            "\"150%\" is not a share of memory from 1% to 100%",
        );
        refuses::<MemoryLimit>("1M", MEMORY_FIELD, "\"1M\" is less than the least, 64M");
        let t: TmpfsSize = reads_back("1G");
        assert_eq!(t.bytes(), 1 << 30);
        refuses::<TmpfsSize>(
            "5%",
            TMPFS_FIELD,
            "\"5%\" is not a size such as 512M, 4G or 1073741824",
        );
    }

    #[test]
    fn the_defaults_bound_everything() {
        let limits = Policy::default().limits;
        assert_eq!(limits.memory.amount(), Amount::Percent(50));
        assert_eq!(limits.tasks, 1024);
        assert_eq!(limits.tmpfs.bytes(), 1 << 30);
        assert_eq!(limits.cpu_weight, 100);
        assert_eq!(limits.files, 8192);
        assert!(!limits.required);
    }

    #[test]
    fn out_of_range_numbers_are_refused_by_field() {
        for (text, message) in [
            (
                "[limits]\ntasks = 3\n",
                "invalid policy p: limits.tasks: 3 is not from 16 to 4194304",
            ),
            (
                "[limits]\ncpu_weight = 0\n",
                "invalid policy p: limits.cpu_weight: 0 is not from 1 to 10000",
            ),
            (
                "[limits]\nfiles = 10\n",
                "invalid policy p: limits.files: 10 is not from 64 to 1048576",
            ),
            (
                "[limits]\nmemory = \"lots\"\n",
                "invalid policy p: limits.memory: \"lots\" is not a size such as 512M, 4G or \
                 1073741824",
            ),
        ] {
            assert_eq!(
                Policy::from_toml(text, "p").unwrap_err().to_string(),
                message
            );
        }
    }
}
