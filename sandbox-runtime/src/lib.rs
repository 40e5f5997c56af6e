//! The sandbox runtime of wsbox: turns a [`plan::Spec`] into a confined process.
//!
//! One module per kernel mechanism, each with its own error enum; `plan` is the
//! pure part that decides, the others only execute. This crate never links the
//! compositor: the two meet in the `wsbox` binary.

pub mod fdpass;
pub mod hostpath;
pub mod landlock;
pub mod live;
pub mod mount;
pub mod namespaces;
pub mod network;
pub mod plan;
pub mod privileges;
pub mod process;
pub mod seccomp;
pub mod seccomp_rules;
pub mod self_confine;
pub mod sys;
#[cfg(test)]
mod testutil;

pub use plan::{BindSpec, HostIds, HostLayout, Plan, Spec};
pub use process::{spawn, Outcome, Prepared, Sandbox};
