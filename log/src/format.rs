//! On-disk formats: record batches, segment headers, index files, and the segment scanner.
//!
//! A segment file `<base offset, 20 digits>.log` starts with a [`SEGMENT_HEADER_LEN`]-byte header
//! (magic, format version, CRC and a postcard-encoded [`SegmentHeader`]), then holds record *batches*
//! back to back (format version 2; as in Kafka's record batch, one CRC covers a whole batch and the
//! records in it carry none):
//!
//! ```text
//! batch  = u32 LE CRC32C(everything after it) | u32 LE length of the rest | u64 LE base offset
//!          | u32 LE record count | record * count
//! record = u32 LE length of the rest | u8 flags | [u64 LE timestamp if flags & 1]
//!          | [u32 LE meta length, meta if flags & 2] | payload
//! ```
//!
//! Record `i` of a batch has offset `base offset + i`. A batch holds consecutive records appended
//! between two flushes of the write buffer (a flush happens when the buffer is full, before every
//! fsync, on [`Log::flush`](crate::Log::flush), before a read of the active segment, on roll and on
//! close), and is sealed early once it holds `batch_bytes` (16 KiB by default), so that a read never
//! has to check more than one such batch to reach its record. A batch is valid or not as a whole:
//! recovery drops a torn final batch with all its records.
//!
//! The sparse index `<base>.index` is a postcard-encoded [`IndexFile`] behind a magic and CRC; its
//! entries point at batch starts, and it records the segment length it describes, so an index that
//! does not match its segment is stale and rebuilt by scanning.
//!
//! Segments of format version 1 (written before batches existed) are still read: there every record is
//! its own CRC'd frame, `u32 LE CRC32C(rest) | u32 LE body length | u64 LE offset | u8 flags | ...`
//! (the record fields as above), which this module parses as a batch of one record. New records never
//! go into a version-1 segment: recovery seals a version-1 tail and starts a version-2 segment. Any
//! other version fails with [`Error::UnsupportedFormat`](crate::Error::UnsupportedFormat).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, corrupt, io_err};

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"EMBERLOG";
pub(crate) const INDEX_MAGIC: &[u8; 8] = b"EMBERIDX";
pub(crate) const FORMAT_VERSION: u16 = 2;
/// The per-record-frame format of the first releases, still read.
pub(crate) const FORMAT_V1: u16 = 1;
/// Bytes reserved at the start of each segment for its header.
pub const SEGMENT_HEADER_LEN: u64 = 64;
/// Bytes of a batch header: CRC, length, base offset, record count.
pub const BATCH_OVERHEAD: u64 = 20;
/// Bytes a record adds to its payload inside a batch (length, flags); a timestamp adds 8 more,
/// metadata 4 plus its length.
pub const RECORD_OVERHEAD: u64 = 5;
/// Bytes a plain record adds to its payload when it is alone in its batch (as with
/// `FsyncPolicy::Always` and one appender): [`BATCH_OVERHEAD`] + [`RECORD_OVERHEAD`].
pub const FRAME_OVERHEAD: u64 = BATCH_OVERHEAD + RECORD_OVERHEAD;
/// The most a record and a batch header add to metadata and payload.
pub(crate) const MAX_FRAME_OVERHEAD: u64 = FRAME_OVERHEAD + 12;
const FLAG_TIMESTAMP: u8 = 1;
const FLAG_META: u8 = 2;
/// The stored timestamp of a record appended without one.
pub(crate) const NO_TIMESTAMP: u64 = u64::MAX;

/// What a segment header records (postcard-encoded in the header block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SegmentHeader {
    pub base_offset: u64,
    pub created_unix_ms: u64,
}

/// The persisted sparse index of a sealed segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    pub segment_len: u64,
    pub next_offset: u64,
    pub max_timestamp: u64,
    /// `(offset, byte position)` pairs, increasing.
    pub entries: Vec<(u64, u64)>,
}

pub(crate) fn segment_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

pub(crate) fn index_file_name(base: u64) -> String {
    format!("{base:020}.index")
}

/// Parses `<20 digits>.log` into its base offset.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

pub(crate) fn encode_segment_header(
    h: &SegmentHeader,
) -> Result<[u8; SEGMENT_HEADER_LEN as usize]> {
    let mut out = [0u8; SEGMENT_HEADER_LEN as usize];
    out[..8].copy_from_slice(SEGMENT_MAGIC);
    out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let body = postcard::to_allocvec(h).map_err(|source| crate::Error::Codec {
        what: "segment header".into(),
        source,
    })?;
    // 8 magic + 2 version + 2 length + 4 crc = 16; body must fit the rest.
    debug_assert!(body.len() <= SEGMENT_HEADER_LEN as usize - 16);
    out[10..12].copy_from_slice(&(body.len() as u16).to_le_bytes());
    out[12..16].copy_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out[16..16 + body.len()].copy_from_slice(&body);
    Ok(out)
}

/// Decodes a segment header; returns it with the segment's format version (1 or 2).
pub(crate) fn decode_segment_header(path: &Path, bytes: &[u8]) -> Result<(SegmentHeader, u16)> {
    if bytes.len() < SEGMENT_HEADER_LEN as usize {
        return Err(corrupt(path, 0, "segment header is truncated"));
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err(corrupt(path, 0, "not an ember-log segment (bad magic)"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION && version != FORMAT_V1 {
        return Err(crate::Error::UnsupportedFormat {
            path: path.to_path_buf(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u16::from_le_bytes([bytes[10], bytes[11]]) as usize;
    if len > SEGMENT_HEADER_LEN as usize - 16 {
        return Err(corrupt(path, 10, "segment header length out of range"));
    }
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let body = &bytes[16..16 + len];
    if crc32c::crc32c(body) != crc {
        return Err(corrupt(path, 12, "segment header CRC mismatch"));
    }
    postcard::from_bytes(body)
        .map(|h| (h, version))
        .map_err(|e| corrupt(path, 16, format!("segment header: {e}")))
}

pub(crate) fn encode_index(ix: &IndexFile) -> Result<Vec<u8>> {
    let body = postcard::to_allocvec(ix).map_err(|source| crate::Error::Codec {
        what: "segment index".into(),
        source,
    })?;
    let mut out = Vec::with_capacity(body.len() + 16);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes an index file; `None` when it is unreadable in any way (it is then rebuilt).
pub(crate) fn decode_index(bytes: &[u8]) -> Option<IndexFile> {
    if bytes.len() < 16 || &bytes[..8] != INDEX_MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(bytes[8..12].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes[12..16].try_into().ok()?);
    let body = bytes.get(16..16 + len)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    postcard::from_bytes(body).ok()
}

/// Starts a batch at the end of the write buffer: a header whose length, base offset, record count and
/// CRC are filled in by [`seal_batch`].
#[inline]
pub(crate) fn begin_batch(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[0u8; BATCH_OVERHEAD as usize]);
}

/// Appends one record (no CRC of its own: the batch's covers it) to the open batch in `buf`.
#[inline]
pub(crate) fn encode_record(buf: &mut Vec<u8>, timestamp: u64, meta: &[u8], payload: &[u8]) {
    let has_ts = timestamp != NO_TIMESTAMP;
    let has_meta = !meta.is_empty();
    let rest =
        1 + if has_ts { 8 } else { 0 } + if has_meta { 4 + meta.len() } else { 0 } + payload.len();
    buf.reserve(4 + rest);
    let mut head = [0u8; RECORD_OVERHEAD as usize];
    head[..4].copy_from_slice(&(rest as u32).to_le_bytes());
    head[4] = if has_ts { FLAG_TIMESTAMP } else { 0 } | if has_meta { FLAG_META } else { 0 };
    buf.extend_from_slice(&head);
    if has_ts {
        buf.extend_from_slice(&timestamp.to_le_bytes());
    }
    if has_meta {
        buf.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        buf.extend_from_slice(meta);
    }
    buf.extend_from_slice(payload);
}

/// Seals the batch that fills `buf` (a slice of the write buffer, begun by [`begin_batch`], holding `count` records from
/// `base_offset` on): writes its length, base offset and count, then one CRC32C over all of it.
pub(crate) fn seal_batch(buf: &mut [u8], base_offset: u64, count: u64) {
    debug_assert!(buf.len() > BATCH_OVERHEAD as usize && count > 0);
    let body_len = (buf.len() - 8) as u32;
    buf[4..8].copy_from_slice(&body_len.to_le_bytes());
    buf[8..16].copy_from_slice(&base_offset.to_le_bytes());
    buf[16..20].copy_from_slice(&(count as u32).to_le_bytes());
    let crc = crc32c::crc32c(&buf[4..]);
    buf[0..4].copy_from_slice(&crc.to_le_bytes());
}

/// A CRC-checked batch borrowing its bytes; [`Batch::records`] decodes the records in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Batch<'a> {
    /// Offset of its first record.
    pub base: u64,
    /// Number of records.
    pub count: u64,
    /// The records' bytes.
    pub records: &'a [u8],
    /// Total bytes of the batch, header included.
    pub len: u64,
    /// A version-1 frame: `records` is the body of its single record, without a length prefix.
    pub v1: bool,
}

impl<'a> Batch<'a> {
    /// One past the offset of its last record.
    pub fn end(&self) -> u64 {
        self.base + self.count
    }

    /// Its records in order; an `Err` (then nothing more) if the bytes do not hold exactly `count`
    /// well-formed records. (The CRC passed, so that is corruption by a bug, not a torn write.)
    pub fn records(&self) -> Records<'a> {
        Records {
            rest: self.records,
            next: self.base,
            left: self.count,
            failed: false,
            v1: self.v1,
        }
    }
}

/// Iterator over the records of a [`Batch`].
pub(crate) struct Records<'a> {
    rest: &'a [u8],
    next: u64,
    left: u64,
    failed: bool,
    v1: bool,
}

impl<'a> Records<'a> {
    fn fail(&mut self, why: &'static str) -> Option<Result<Frame<'a>, &'static str>> {
        self.failed = true;
        Some(Err(why))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Frame<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if self.rest.is_empty() {
                return None;
            }
            return self.fail("batch holds bytes after its last record");
        }
        let (body, used) = if self.v1 {
            (self.rest, self.rest.len())
        } else {
            let Some(len) = self.rest.get(..4) else {
                return self.fail("batch holds fewer records than its count");
            };
            let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
            let Some(body) = self.rest.get(4..4 + len) else {
                return self.fail("record length out of range");
            };
            (body, 4 + len)
        };
        if body.is_empty() {
            return self.fail("record length out of range");
        }
        let flags = body[0];
        if flags & !(FLAG_TIMESTAMP | FLAG_META) != 0 {
            return self.fail("unknown record flags");
        }
        let mut at = 1;
        let mut timestamp = NO_TIMESTAMP;
        if flags & FLAG_TIMESTAMP != 0 {
            let Some(b) = body.get(at..at + 8) else {
                return self.fail("record too short for its timestamp");
            };
            timestamp = u64::from_le_bytes(b.try_into().expect("8 bytes"));
            at += 8;
        }
        let mut meta: &[u8] = &[];
        if flags & FLAG_META != 0 {
            let Some(b) = body.get(at..at + 4) else {
                return self.fail("record too short for its metadata length");
            };
            let mlen = u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
            at += 4;
            let Some(m) = body.get(at..at + mlen) else {
                return self.fail("metadata length exceeds record");
            };
            meta = m;
            at += mlen;
        }
        let frame = Frame {
            offset: self.next,
            timestamp,
            meta,
            payload: &body[at..],
        };
        self.rest = &self.rest[used..];
        self.next += 1;
        self.left -= 1;
        Some(Ok(frame))
    }
}

/// A decoded record borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub offset: u64,
    pub timestamp: u64,
    pub meta: &'a [u8],
    pub payload: &'a [u8],
}

/// Result of looking at the bytes at the start of `buf`.
#[derive(Debug)]
pub(crate) enum Parse<'a> {
    Ok(Batch<'a>),
    /// Not enough bytes in `buf` for the whole batch: at least this many are needed.
    NeedMore(usize),
    /// The batch is malformed (bad length, count or CRC).
    Bad(&'static str),
}

/// The framing both formats share (a version-2 batch, a version-1 record frame):
/// `u32 LE CRC32C(everything after it) | u32 LE body length | body`. Returns the unit's total length
/// once `buf` holds all of it, its body is at least `min_body` bytes and its CRC holds; otherwise what
/// the parse found (`bad_len` and `bad_crc` name the problem).
#[inline]
fn checked_unit(
    buf: &[u8],
    min_body: u32,
    bad_len: &'static str,
    bad_crc: &'static str,
) -> Result<usize, Parse<'static>> {
    if buf.len() < 8 {
        return Err(Parse::NeedMore(8));
    }
    let body_len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if body_len < min_body {
        return Err(Parse::Bad(bad_len));
    }
    let total = 8 + body_len as usize;
    if buf.len() < total {
        return Err(Parse::NeedMore(total));
    }
    let crc = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
    if crc32c::crc32c(&buf[4..total]) != crc {
        return Err(Parse::Bad(bad_crc));
    }
    Ok(total)
}

/// Parses and CRC-checks the batch at the start of `buf` (its records are decoded by
/// [`Batch::records`]).
#[inline]
pub(crate) fn parse_batch(buf: &[u8]) -> Parse<'_> {
    let total = match checked_unit(
        buf,
        BATCH_OVERHEAD as u32 - 8 + RECORD_OVERHEAD as u32,
        "batch length out of range",
        "batch CRC mismatch",
    ) {
        Ok(total) => total,
        Err(p) => return p,
    };
    let base = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
    let count = u64::from(u32::from_le_bytes(buf[16..20].try_into().expect("4 bytes")));
    if count == 0 {
        return Parse::Bad("batch with no record");
    }
    Parse::Ok(Batch {
        base,
        count,
        records: &buf[BATCH_OVERHEAD as usize..total],
        len: total as u64,
        v1: false,
    })
}

/// Parses the unit of a segment of format `version` at the start of `buf`: a batch (version 2) or a
/// single-record frame (version 1), both as a [`Batch`].
#[inline]
pub(crate) fn parse_at(buf: &[u8], version: u16) -> Parse<'_> {
    if version == FORMAT_V1 {
        parse_v1_frame(buf)
    } else {
        parse_batch(buf)
    }
}

/// A version-1 frame: `u32 CRC32C(rest) | u32 body length | body`, body = `u64 offset | u8 flags | ...`.
fn parse_v1_frame(buf: &[u8]) -> Parse<'_> {
    let total = match checked_unit(buf, 9, "frame length out of range", "record CRC mismatch") {
        Ok(total) => total,
        Err(p) => return p,
    };
    Parse::Ok(Batch {
        base: u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes")),
        count: 1,
        records: &buf[16..total],
        len: total as u64,
        v1: true,
    })
}

/// A problem found at the end of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TornTail {
    pub position: u64,
    pub reason: &'static str,
}

/// What scanning a segment found.
#[derive(Debug, Clone)]
pub(crate) struct ScanResult {
    pub header: SegmentHeader,
    /// The segment's format version.
    pub version: u16,
    /// End of the last valid frame.
    pub valid_len: u64,
    pub next_offset: u64,
    pub max_timestamp: u64,
    pub records: u64,
    pub index: Vec<(u64, u64)>,
    /// A torn final record (or zero-filled tail) after `valid_len`, if any.
    pub torn: Option<TornTail>,
}

/// Reads a whole segment, checking every batch's CRC, every record's framing, and that offsets
/// follow each other.
///
/// A bad batch that reaches the end of the file, or is followed only by bytes holding no valid batch,
/// is a torn tail (reported in [`ScanResult::torn`]); a bad batch followed by a valid one is
/// corruption (an error).
pub(crate) fn scan_segment(path: &Path, file: &File, index_interval: u64) -> Result<ScanResult> {
    let file_len = file.metadata().map_err(io_err(path))?.len();
    let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
    if file_len < SEGMENT_HEADER_LEN {
        return Err(corrupt(path, 0, "segment header is truncated"));
    }
    file.read_exact_at(&mut head, 0).map_err(io_err(path))?;
    let (header, version) = decode_segment_header(path, &head)?;

    let mut reader = io::BufReader::with_capacity(
        256 * 1024,
        ReadAt {
            file,
            pos: SEGMENT_HEADER_LEN,
        },
    );
    let mut buf: Vec<u8> = Vec::with_capacity(512 * 1024);
    let mut buf_start = SEGMENT_HEADER_LEN; // file position of buf[0]
    let mut consumed = 0usize; // bytes of buf already parsed
    let mut next_offset = header.base_offset;
    let mut max_timestamp = 0;
    let mut records = 0;
    let mut index = Vec::new();
    let mut last_indexed = 0u64;
    let mut stalled = false; // the last refill read nothing (the file shrank under an inspection)
    let result = |valid_len, next_offset, max_timestamp, records, index, torn| ScanResult {
        header,
        version,
        valid_len,
        next_offset,
        max_timestamp,
        records,
        index,
        torn,
    };
    loop {
        let pos = buf_start + consumed as u64;
        let (need, reason) = match parse_at(&buf[consumed..], version) {
            Parse::Ok(batch) => {
                if batch.base != next_offset {
                    return Err(corrupt(
                        path,
                        pos,
                        format!(
                            "batch of offset {} where {} was expected",
                            batch.base, next_offset
                        ),
                    ));
                }
                for r in batch.records() {
                    let r = r.map_err(|why| corrupt(path, pos, why))?;
                    if r.timestamp != NO_TIMESTAMP {
                        max_timestamp = max_timestamp.max(r.timestamp);
                    }
                }
                if records == 0 || pos - last_indexed >= index_interval {
                    index.push((batch.base, pos));
                    last_indexed = pos;
                }
                next_offset = batch.end();
                records += batch.count;
                consumed += batch.len as usize;
                continue;
            }
            Parse::NeedMore(n) => (n, "incomplete final batch"),
            Parse::Bad(reason) => (0, reason),
        };
        if need == 0 || pos + need as u64 > file_len || stalled {
            if pos == file_len || (stalled && consumed == buf.len()) {
                return Ok(result(
                    pos,
                    next_offset,
                    max_timestamp,
                    records,
                    index,
                    None,
                ));
            }
            // A bad batch, or fewer bytes than the batch claims: a torn write, unless a valid batch
            // follows (then this one is damaged in place).
            if later_batch_exists(file, pos, file_len, next_offset, version, path)? {
                let reason = if need == 0 {
                    reason
                } else {
                    "batch length runs past the end of the segment"
                };
                return Err(corrupt(path, pos, reason));
            }
            let torn = TornTail {
                position: pos,
                reason,
            };
            return Ok(result(
                pos,
                next_offset,
                max_timestamp,
                records,
                index,
                Some(torn),
            ));
        }
        // Refill: drop parsed bytes, read at least the whole batch.
        buf.drain(..consumed);
        buf_start += consumed as u64;
        consumed = 0;
        let want = need.max(256 * 1024);
        let old = buf.len();
        buf.resize(old.max(want), 0);
        let mut filled = old;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..]).map_err(io_err(path))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        stalled = filled == old;
        buf.truncate(filled);
    }
}

/// Whether a valid batch of offsets at or after `expected` starts anywhere after `pos`: the
/// difference between a torn tail (only garbage or zeros follow) and corruption in the middle.
fn later_batch_exists(
    file: &File,
    pos: u64,
    file_len: u64,
    expected: u64,
    version: u16,
    path: &Path,
) -> Result<bool> {
    let mut rest = vec![0u8; (file_len - pos) as usize];
    file.read_exact_at(&mut rest, pos).map_err(io_err(path))?;
    let n = rest.len();
    // Every position with room for a length and an offset (a version-1 frame can be 17 bytes).
    for i in 1..n.saturating_sub(15) {
        // Cheap checks before the CRC: a plausible length and base offset (at the same places in a
        // version-1 frame).
        let b = &rest[i..];
        let len = u32::from_le_bytes(b[4..8].try_into().expect("4 bytes")) as usize;
        let base = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
        if len + 8 > b.len() || base < expected || base - expected > 1 << 40 {
            continue;
        }
        if let Parse::Ok(batch) = parse_at(b, version) {
            if batch.base >= expected {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `Read` over a `&File` from a position, with `pread` (does not move a shared cursor).
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_round_trip_and_crc_detects_flips() {
        let mut buf = Vec::new();
        begin_batch(&mut buf);
        encode_record(&mut buf, 1234, b"m", b"hello");
        encode_record(&mut buf, NO_TIMESTAMP, b"", b"");
        encode_record(&mut buf, NO_TIMESTAMP, b"", b"world");
        seal_batch(&mut buf, 7, 3);
        assert_eq!(
            buf.len() as u64,
            BATCH_OVERHEAD + 3 * RECORD_OVERHEAD + 8 + 4 + 1 + 5 + 5
        );
        let Parse::Ok(batch) = parse_batch(&buf) else {
            panic!("not parsed")
        };
        assert_eq!(
            (batch.base, batch.count, batch.len),
            (7, 3, buf.len() as u64)
        );
        let recs: Vec<_> = batch
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r.offset, r.timestamp, r.meta, r.payload)
            })
            .collect();
        assert_eq!(
            recs,
            vec![
                (7, 1234, &b"m"[..], &b"hello"[..]),
                (8, NO_TIMESTAMP, &b""[..], &b""[..]),
                (9, NO_TIMESTAMP, &b""[..], &b"world"[..]),
            ]
        );
        for i in 0..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0x40;
            assert!(
                !matches!(parse_batch(&b), Parse::Ok(_)),
                "flip at {i} undetected"
            );
        }
        assert!(matches!(parse_batch(&buf[..10]), Parse::NeedMore(_)));
    }

    #[test]
    fn a_count_that_disagrees_with_the_records_is_an_error() {
        for count in [1, 3] {
            let mut buf = Vec::new();
            begin_batch(&mut buf);
            encode_record(&mut buf, NO_TIMESTAMP, b"", b"ab");
            encode_record(&mut buf, NO_TIMESTAMP, b"", b"cd");
            seal_batch(&mut buf, 0, count);
            let Parse::Ok(batch) = parse_batch(&buf) else {
                panic!("not parsed")
            };
            let results: Vec<_> = batch.records().collect();
            assert!(results.last().unwrap().is_err(), "count {count}");
        }
    }

    #[test]
    fn segment_names() {
        assert_eq!(parse_segment_name(&segment_file_name(42)), Some(42));
        assert_eq!(parse_segment_name("42.log"), None);
        assert_eq!(parse_segment_name("0000000000000000004x.log"), None);
    }

    #[test]
    fn header_round_trip() {
        let h = SegmentHeader {
            base_offset: u64::MAX,
            created_unix_ms: u64::MAX,
        };
        let bytes = encode_segment_header(&h).unwrap();
        assert_eq!(
            decode_segment_header(Path::new("x"), &bytes).unwrap(),
            (h, FORMAT_VERSION)
        );
        let mut bad = bytes;
        bad[20] ^= 1;
        assert!(decode_segment_header(Path::new("x"), &bad).is_err());
        let mut future = bytes;
        future[8] = 3;
        assert!(matches!(
            decode_segment_header(Path::new("x"), &future),
            Err(crate::Error::UnsupportedFormat { version: 3, .. })
        ));
    }
}
