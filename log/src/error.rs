//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in ember-log.
///
/// Every variant that concerns a file names it; corruption also names the byte position, so an operator
/// can look at the exact spot (for example with [`inspect`](crate::inspect())).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed on `path`.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A segment, index or metadata file holds bytes that fail their checks somewhere other than a torn
    /// tail: a bad CRC followed by more data, an offset out of sequence, a bad header. Never skipped.
    #[error("corrupt log file {path} at byte {position}: {reason}")]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// Byte position in that file where the bad data starts.
        position: u64,
        /// What check failed.
        reason: String,
    },
    /// A segment was written in a format version this build does not read (it reads version 2,
    /// one CRC per batch of records, and version 1, one CRC per record): a newer release's file, or
    /// not an ember-log segment. Nothing is changed on disk.
    #[error(
        "log segment {path} has format version {version}; this build reads versions 1 to {supported}"
    )]
    UnsupportedFormat {
        /// The segment file.
        path: PathBuf,
        /// The version it was written in.
        version: u16,
        /// The newest version this build reads (and the one it writes).
        supported: u16,
    },
    /// A record (metadata plus payload) is larger than the log's `max_record_bytes`.
    #[error("record of {size} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// Size of the rejected record.
        size: u64,
        /// The configured limit.
        max: u64,
    },
    /// A read asked for an offset that retention has already deleted.
    #[error("offset {offset} is before the start of the log ({start}); next offset is {next}")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: u64,
        /// The first offset still stored.
        start: u64,
        /// The offset the next append will get.
        next: u64,
    },
    /// The builder was given an impossible setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Another [`Log`](crate::Log) of this process already has this directory open.
    #[error("log directory {0} is already open in this process")]
    AlreadyOpen(PathBuf),
    /// An earlier write or fsync failed, so what is on disk is unknown: the log refuses further work.
    /// Drop it and open the directory again; recovery brings it back to a consistent state.
    #[error("the log is unusable after an earlier I/O failure; reopen it to recover")]
    Poisoned,
    /// Serializing or deserializing metadata with postcard failed.
    #[error("cannot encode or decode {what}: {source}")]
    Codec {
        /// What was being encoded or decoded.
        what: String,
        /// The underlying error.
        #[source]
        source: postcard::Error,
    },
}

/// `Result` with this crate's [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn corrupt(path: &Path, position: u64, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        position,
        reason: reason.into(),
    }
}
