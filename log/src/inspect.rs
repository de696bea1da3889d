//! Read-only inspection of a log directory: segments, offset ranges, a CRC check of every record.

use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, io_err};
use crate::format::{self, index_file_name};
use crate::log::list_segments;

/// State of a segment's sparse index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum IndexState {
    /// Present and matching the segment.
    Valid,
    /// No index file (normal for the active segment).
    Missing,
    /// Present but unreadable or describing another length: it would be rebuilt on open.
    Stale,
}

/// One segment as [`inspect`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SegmentReport {
    /// The segment file.
    pub path: PathBuf,
    /// Base offset from the file name.
    pub base_offset: u64,
    /// One past the last valid record.
    pub next_offset: u64,
    /// Valid records (all CRC-checked).
    pub records: u64,
    /// File size.
    pub bytes: u64,
    /// Wall time the segment was created (unix ms), when the header is readable.
    pub created_unix_ms: Option<u64>,
    /// Newest record timestamp.
    pub max_timestamp: u64,
    /// The index file's state.
    pub index: IndexState,
    /// A torn tail (recovery would truncate it) at this byte position, with the reason.
    pub torn_at: Option<(u64, String)>,
    /// Corruption (not a torn tail): a message naming the byte position. Reads past it fail.
    pub error: Option<String>,
}

/// What [`inspect`] found in a log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Inspection {
    /// The directory.
    pub dir: PathBuf,
    /// Segments, oldest first.
    pub segments: Vec<SegmentReport>,
    /// First stored offset (0 for an empty directory).
    pub start_offset: u64,
    /// One past the last valid record of the last segment.
    pub next_offset: u64,
    /// Gaps between segments: `(expected, found)` base offsets.
    pub gaps: Vec<(u64, u64)>,
}

impl Inspection {
    /// No corruption and no gap (a torn tail alone is what recovery repairs, so it counts as healthy).
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.gaps.is_empty() && self.segments.iter().all(|s| s.error.is_none())
    }

    /// Total valid records.
    #[must_use]
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "log {}: offsets {}..{}, {} records in {} segments, {}",
            self.dir.display(),
            self.start_offset,
            self.next_offset,
            self.records(),
            self.segments.len(),
            if self.is_healthy() {
                "healthy"
            } else {
                "DAMAGED"
            }
        )?;
        for s in &self.segments {
            write!(
                f,
                "  {} offsets {}..{} records={} bytes={} index={:?}",
                s.path
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                s.base_offset,
                s.next_offset,
                s.records,
                s.bytes,
                s.index
            )?;
            if let Some((pos, why)) = &s.torn_at {
                write!(f, " torn-tail@{pos} ({why})")?;
            }
            if let Some(e) = &s.error {
                write!(f, " ERROR: {e}")?;
            }
            writeln!(f)?;
        }
        for (want, got) in &self.gaps {
            writeln!(f, "  gap: expected a segment at {want}, found {got}")?;
        }
        Ok(())
    }
}

/// Inspects the log in `dir` without modifying anything: lists segments, checks every record's CRC
/// and offset sequence, and the state of each index. Safe to run on a log another process has open
/// (it sees what that process has written so far).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let log = ember_log::Log::open(dir.path()).unwrap();
/// log.append_batch([&b"a"[..], b"b"]).unwrap();
/// log.flush().unwrap();
/// let report = ember_log::inspect(dir.path()).unwrap();
/// assert!(report.is_healthy());
/// assert_eq!((report.start_offset, report.next_offset, report.records()), (0, 2, 2));
/// ```
///
/// # Errors
/// [`Error::Io`] if the directory cannot be listed or a file cannot be read. Damage is reported in the
/// result.
pub fn inspect(dir: &Path) -> Result<Inspection> {
    let bases = list_segments(dir)?;
    let mut segments = Vec::new();
    let mut gaps = Vec::new();
    let mut expected: Option<u64> = None;
    for base in bases {
        let path = dir.join(format::segment_file_name(base));
        let file = File::open(&path).map_err(io_err(&path))?;
        let bytes = file.metadata().map_err(io_err(&path))?.len();
        if let Some(e) = expected {
            if e != base {
                gaps.push((e, base));
            }
        }
        let index = match fs::read(dir.join(index_file_name(base))) {
            Err(_) => IndexState::Missing,
            Ok(b) => match format::decode_index(&b) {
                Some(ix) if ix.segment_len == bytes => IndexState::Valid,
                _ => IndexState::Stale,
            },
        };
        let mut report = SegmentReport {
            path: path.clone(),
            base_offset: base,
            next_offset: base,
            records: 0,
            bytes,
            created_unix_ms: None,
            max_timestamp: 0,
            index,
            torn_at: None,
            error: None,
        };
        match format::scan_segment(&path, &file, u64::MAX) {
            Ok(scan) => {
                report.next_offset = scan.next_offset;
                report.records = scan.records;
                report.created_unix_ms = Some(scan.header.created_unix_ms);
                report.max_timestamp = scan.max_timestamp;
                if scan.header.base_offset != base {
                    report.error = Some(format!(
                        "header says base offset {} but the file is named {base}",
                        scan.header.base_offset
                    ));
                }
                report.torn_at = scan.torn.map(|t| (t.position, t.reason.to_string()));
            }
            Err(e @ (Error::Corrupt { .. } | Error::UnsupportedFormat { .. })) => {
                report.error = Some(e.to_string())
            }
            Err(e) => return Err(e),
        }
        expected = Some(report.next_offset);
        segments.push(report);
    }
    Ok(Inspection {
        dir: dir.to_path_buf(),
        start_offset: segments.first().map_or(0, |s| s.base_offset),
        next_offset: segments.last().map_or(0, |s| s.next_offset),
        segments,
        gaps,
    })
}
