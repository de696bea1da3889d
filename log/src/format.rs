//! On-disk formats: record frames, segment headers, index files, and the segment scanner.
//!
//! A segment file `<base offset, 20 digits>.log` starts with a [`SEGMENT_HEADER_LEN`]-byte header
//! (magic, format version, CRC and a postcard-encoded [`SegmentHeader`]), then holds record frames back
//! to back:
//!
//! ```text
//! u32 LE CRC32C(everything after it) | u32 LE body length | body
//! body = u64 LE offset | u8 flags | [u64 LE timestamp if flags & 1] | [u32 LE meta length, meta if flags & 2] | payload
//! ```
//!
//! The sparse index `<base>.index` is a postcard-encoded [`IndexFile`] behind a magic and CRC; it
//! records the segment length it describes, so an index that does not match its segment is stale and
//! rebuilt by scanning.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, corrupt, io_err};

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"EMBERLOG";
pub(crate) const INDEX_MAGIC: &[u8; 8] = b"EMBERIDX";
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Bytes reserved at the start of each segment for its header.
pub const SEGMENT_HEADER_LEN: u64 = 64;
/// Bytes a frame adds to a plain record's payload (CRC, length, offset, flags); a timestamp adds 8 more,
/// metadata 4 plus its length.
pub const FRAME_OVERHEAD: u64 = 17;
/// The most a frame adds to metadata and payload.
pub(crate) const MAX_FRAME_OVERHEAD: u64 = FRAME_OVERHEAD + 12;
const FLAG_TIMESTAMP: u8 = 1;
const FLAG_META: u8 = 2;
/// The stored timestamp of a record appended without one.
pub(crate) const NO_TIMESTAMP: u64 = u64::MAX;
/// Fixed part of a frame body: offset, flags.
const BODY_FIXED: u32 = 9;

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

pub(crate) fn decode_segment_header(path: &Path, bytes: &[u8]) -> Result<SegmentHeader> {
    if bytes.len() < SEGMENT_HEADER_LEN as usize {
        return Err(corrupt(path, 0, "segment header is truncated"));
    }
    if &bytes[..8] != SEGMENT_MAGIC {
        return Err(corrupt(path, 0, "not an ember-log segment (bad magic)"));
    }
    let version = u16::from_le_bytes([bytes[8], bytes[9]]);
    if version != FORMAT_VERSION {
        return Err(corrupt(
            path,
            8,
            format!("unsupported segment format version {version}"),
        ));
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
    postcard::from_bytes(body).map_err(|e| corrupt(path, 16, format!("segment header: {e}")))
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

/// Appends one frame to `buf`.
#[inline]
pub(crate) fn encode_frame(
    buf: &mut Vec<u8>,
    offset: u64,
    timestamp: u64,
    meta: &[u8],
    payload: &[u8],
) {
    let has_ts = timestamp != NO_TIMESTAMP;
    let has_meta = !meta.is_empty();
    let extra = if has_ts { 8 } else { 0 } + if has_meta { 4 + meta.len() } else { 0 };
    let body_len = BODY_FIXED as usize + extra + payload.len();
    let start = buf.len();
    buf.reserve(8 + body_len);
    let mut head = [0u8; FRAME_OVERHEAD as usize];
    head[4..8].copy_from_slice(&(body_len as u32).to_le_bytes());
    head[8..16].copy_from_slice(&offset.to_le_bytes());
    head[16] = if has_ts { FLAG_TIMESTAMP } else { 0 } | if has_meta { FLAG_META } else { 0 };
    buf.extend_from_slice(&head);
    if has_ts {
        buf.extend_from_slice(&timestamp.to_le_bytes());
    }
    if has_meta {
        buf.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        buf.extend_from_slice(meta);
    }
    buf.extend_from_slice(payload);
    let crc = crc32c::crc32c(&buf[start + 4..]);
    buf[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A decoded frame borrowing its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Frame<'a> {
    pub offset: u64,
    pub timestamp: u64,
    pub meta: &'a [u8],
    pub payload: &'a [u8],
    /// Total bytes of the frame, overhead included.
    pub len: u64,
}

/// Result of looking at the bytes at the start of `buf`.
#[derive(Debug)]
pub(crate) enum Parse<'a> {
    Ok(Frame<'a>),
    /// Not enough bytes in `buf` for the whole frame: at least this many are needed.
    NeedMore(usize),
    /// The frame is malformed (bad length or CRC).
    Bad(&'static str),
}

#[inline]
pub(crate) fn parse_frame(buf: &[u8], max_body: u32) -> Parse<'_> {
    if buf.len() < 8 {
        return Parse::NeedMore(8);
    }
    let body_len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if !(BODY_FIXED..=max_body).contains(&body_len) {
        return Parse::Bad("frame length out of range");
    }
    let total = 8 + body_len as usize;
    if buf.len() < total {
        return Parse::NeedMore(total);
    }
    let crc = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
    let actual = crc32c::crc32c(&buf[4..total]);
    if crc != actual {
        return Parse::Bad("record CRC mismatch");
    }
    let body = &buf[8..total];
    let offset = u64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let flags = body[8];
    if flags & !(FLAG_TIMESTAMP | FLAG_META) != 0 {
        return Parse::Bad("unknown record flags");
    }
    let mut at = BODY_FIXED as usize;
    let mut timestamp = NO_TIMESTAMP;
    if flags & FLAG_TIMESTAMP != 0 {
        let Some(b) = body.get(at..at + 8) else {
            return Parse::Bad("record too short for its timestamp");
        };
        timestamp = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        at += 8;
    }
    let mut meta: &[u8] = &[];
    if flags & FLAG_META != 0 {
        let Some(b) = body.get(at..at + 4) else {
            return Parse::Bad("record too short for its metadata length");
        };
        let len = u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize;
        at += 4;
        let Some(m) = body.get(at..at + len) else {
            return Parse::Bad("metadata length exceeds record");
        };
        meta = m;
        at += len;
    }
    Parse::Ok(Frame {
        offset,
        timestamp,
        meta,
        payload: &body[at..],
        len: total as u64,
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
    /// End of the last valid frame.
    pub valid_len: u64,
    pub next_offset: u64,
    pub max_timestamp: u64,
    pub records: u64,
    pub index: Vec<(u64, u64)>,
    /// A torn final record (or zero-filled tail) after `valid_len`, if any.
    pub torn: Option<TornTail>,
}

/// Reads a whole segment, checking every frame's CRC and that offsets follow each other.
///
/// A bad frame that reaches the end of the file, or is followed only by zero bytes, is a torn tail
/// (reported in [`ScanResult::torn`]); a bad frame followed by other data is corruption (an error).
pub(crate) fn scan_segment(
    path: &Path,
    file: &File,
    index_interval: u64,
    max_body: u32,
) -> Result<ScanResult> {
    let file_len = file.metadata().map_err(io_err(path))?.len();
    let mut head = [0u8; SEGMENT_HEADER_LEN as usize];
    if file_len < SEGMENT_HEADER_LEN {
        return Err(corrupt(path, 0, "segment header is truncated"));
    }
    file.read_exact_at(&mut head, 0).map_err(io_err(path))?;
    let header = decode_segment_header(path, &head)?;

    let mut reader = io::BufReader::with_capacity(
        256 * 1024,
        ReadAt {
            file,
            pos: SEGMENT_HEADER_LEN,
        },
    );
    let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut buf_start = SEGMENT_HEADER_LEN; // file position of buf[0]
    let mut consumed = 0usize; // bytes of buf already parsed
    let mut eof = false;
    let mut next_offset = header.base_offset;
    let mut max_timestamp = 0;
    let mut records = 0;
    let mut index = Vec::new();
    let mut last_indexed = 0u64;
    loop {
        let pos = buf_start + consumed as u64;
        let need = match parse_frame(&buf[consumed..], max_body) {
            Parse::Ok(frame) => {
                if frame.offset != next_offset {
                    return Err(corrupt(
                        path,
                        pos,
                        format!(
                            "record offset {} where {} was expected",
                            frame.offset, next_offset
                        ),
                    ));
                }
                if records == 0 || pos - last_indexed >= index_interval {
                    index.push((frame.offset, pos));
                    last_indexed = pos;
                }
                next_offset += 1;
                records += 1;
                if frame.timestamp != NO_TIMESTAMP {
                    max_timestamp = max_timestamp.max(frame.timestamp);
                }
                consumed += frame.len as usize;
                continue;
            }
            Parse::NeedMore(n) => n,
            Parse::Bad(reason) => {
                if later_frame_exists(file, pos, file_len, next_offset, max_body, path)? {
                    return Err(corrupt(path, pos, reason));
                }
                return Ok(ScanResult {
                    header,
                    valid_len: pos,
                    next_offset,
                    max_timestamp,
                    records,
                    index,
                    torn: Some(TornTail {
                        position: pos,
                        reason,
                    }),
                });
            }
        };
        if eof {
            let avail = buf.len() - consumed;
            if avail == 0 {
                return Ok(ScanResult {
                    header,
                    valid_len: pos,
                    next_offset,
                    max_timestamp,
                    records,
                    index,
                    torn: None,
                });
            }
            // Fewer bytes than the frame claims: a torn write, unless valid records follow (then the
            // length field itself is damaged).
            if later_frame_exists(file, pos, file_len, next_offset, max_body, path)? {
                return Err(corrupt(
                    path,
                    pos,
                    "record length runs past the end of the segment",
                ));
            }
            return Ok(ScanResult {
                header,
                valid_len: pos,
                next_offset,
                max_timestamp,
                records,
                index,
                torn: Some(TornTail {
                    position: pos,
                    reason: "incomplete final record",
                }),
            });
        }
        // Refill: drop parsed bytes, read more.
        buf.drain(..consumed);
        buf_start += consumed as u64;
        consumed = 0;
        let want = need.max(64 * 1024);
        let old = buf.len();
        buf.resize(old + want, 0);
        let mut filled = old;
        while filled < buf.len() {
            let n = reader.read(&mut buf[filled..]).map_err(io_err(path))?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
    }
}

/// Whether a valid frame carrying an offset at or after `expected` starts anywhere after `pos`: the
/// difference between a torn tail (only garbage or zeros follow) and corruption in the middle.
fn later_frame_exists(
    file: &File,
    pos: u64,
    file_len: u64,
    expected: u64,
    max_body: u32,
    path: &Path,
) -> Result<bool> {
    let mut rest = vec![0u8; (file_len - pos) as usize];
    file.read_exact_at(&mut rest, pos).map_err(io_err(path))?;
    for i in 1..rest.len() {
        if let Parse::Ok(f) = parse_frame(&rest[i..], max_body) {
            if f.offset >= expected {
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
    fn frame_round_trip_and_crc_detects_flips() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 7, 1234, b"m", b"hello");
        assert_eq!(buf.len() as u64, FRAME_OVERHEAD + 8 + 4 + 6);
        match parse_frame(&buf, 1 << 20) {
            Parse::Ok(f) => {
                assert_eq!(
                    (f.offset, f.timestamp, f.meta, f.payload),
                    (7, 1234, &b"m"[..], &b"hello"[..])
                );
            }
            other => panic!("{other:?}"),
        }
        for i in 0..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0x40;
            assert!(
                !matches!(parse_frame(&b, 1 << 20), Parse::Ok(_)),
                "flip at {i} undetected"
            );
        }
        assert!(matches!(
            parse_frame(&buf[..10], 1 << 20),
            Parse::NeedMore(_)
        ));
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
        assert_eq!(decode_segment_header(Path::new("x"), &bytes).unwrap(), h);
        let mut bad = bytes;
        bad[20] ^= 1;
        assert!(decode_segment_header(Path::new("x"), &bad).is_err());
    }
}
