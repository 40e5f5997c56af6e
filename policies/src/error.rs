//! The errors of loading a policy: what the file, the line and the field
//! were. Every check of a section and every value parsed at load refuses
//! with a [`Refusal`]; the loader adds where the policy came from.

use std::path::PathBuf;

/// Errors from loading or validating a policy. Messages name the file, the line
/// and the field involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reason is part of the message, not a source of its own: a
    /// chain of causes would say it twice.
    #[error("failed to read policy {path}: {reason}")]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("invalid policy {origin}{location}: {message}")]
    Parse {
        origin: String,
        location: String,
        message: String,
    },
    #[error("invalid policy {origin}: {field}: {message}")]
    Invalid {
        origin: String,
        field: String,
        message: String,
    },
    #[error("unknown profile {name:?} (built-in profiles: {known})")]
    UnknownProfile { name: String, known: String },
}

/// A field's value refused, before anyone knows which policy it came from:
/// `display.color: "red" is not a colour of the form #rrggbb`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Refusal {
    /// The field, as a policy file spells its path: `filesystem.bind[0].host`.
    pub field: String,
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }

    /// The refusal as an error of the policy from `origin`.
    pub(crate) fn of(self, origin: &str) -> Error {
        Error::Invalid {
            origin: origin.to_owned(),
            field: self.field,
            message: self.message,
        }
    }
}
