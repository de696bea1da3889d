//! Small files replaced atomically: for persisted metadata such as committed consumer offsets.
//!
//! [`write`](write()) puts the bytes in a temporary file in the same directory, fsyncs it, renames it over the
//! target and fsyncs the directory: after a crash the file holds either the old or the new content,
//! never a mix, and once `write` returns the new content survives power loss. The content is framed
//! with a magic, its length and a CRC32C, so [`read`] also detects a damaged file.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("offsets");
//! let mut committed = BTreeMap::new();
//! committed.insert("group-a".to_string(), 42u64);
//! ember_log::atomic::write_value(&path, &committed).unwrap();
//! let back: BTreeMap<String, u64> = ember_log::atomic::read_value(&path).unwrap().unwrap();
//! assert_eq!(back, committed);
//! ```

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result, corrupt, io_err};

const MAGIC: &[u8; 8] = b"EMBERMET";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Atomically replaces `path` with `data` (temp file, fsync, rename, fsync directory).
///
/// # Errors
/// [`Error::Io`] naming the file that failed; the previous content is then intact.
pub fn write(path: &Path, data: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::Config(format!("{} has no file name", path.display())))?;
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let mut framed = Vec::with_capacity(data.len() + 16);
        framed.extend_from_slice(MAGIC);
        framed.extend_from_slice(&(data.len() as u32).to_le_bytes());
        framed.extend_from_slice(&crc32c::crc32c(data).to_le_bytes());
        framed.extend_from_slice(data);
        f.write_all(&framed).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        fs::rename(&tmp, path).map_err(io_err(path))?;
        crate::log::fsync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a file written by [`write`](write()); `None` if it does not exist.
///
/// # Errors
/// [`Error::Corrupt`] if its framing or CRC is wrong; [`Error::Io`].
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(corrupt(path, 0, "not an ember metadata file (bad magic)"));
    }
    let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    if bytes.len() != 16 + len {
        return Err(corrupt(path, 8, "length does not match the file size"));
    }
    if crc32c::crc32c(&bytes[16..]) != crc {
        return Err(corrupt(path, 16, "CRC mismatch"));
    }
    Ok(Some(bytes[16..].to_vec()))
}

/// [`write`](write())s `value` encoded with postcard.
///
/// # Errors
/// [`Error::Codec`] if it cannot be encoded; as [`write`](write()).
pub fn write_value<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let bytes = postcard::to_allocvec(value).map_err(|source| Error::Codec {
        what: path.display().to_string(),
        source,
    })?;
    write(path, &bytes)
}

/// [`read`]s and decodes a value written by [`write_value`]; `None` if the file does not exist.
///
/// # Errors
/// [`Error::Codec`] if it is not a `T`; as [`read`].
pub fn read_value<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match read(path)? {
        None => Ok(None),
        Some(bytes) => postcard::from_bytes(&bytes)
            .map(Some)
            .map_err(|source| Error::Codec {
                what: path.display().to_string(),
                source,
            }),
    }
}

/// Removes temporary files left in `dir` by writes interrupted by a crash; returns how many.
///
/// # Errors
/// [`Error::Io`].
pub fn clean_temp_files(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp.") {
            let p = entry.path();
            match fs::remove_file(&p) {
                Ok(()) => n += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
    }
    Ok(n)
}
