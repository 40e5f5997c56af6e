//! The errors of loading a policy: what the file, the line and the field were.

use std::path::PathBuf;

/// Errors from loading or validating a policy. Messages name the file, the line
/// and the field involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("failed to read policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
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
