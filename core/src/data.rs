//! Finding the shared data sets (cache traces, the IR collection) from tests and benchmarks.
//!
//! The data lives outside the repository, in `../shared/data` beside the workspace root, or wherever
//! `EMBER_DATA` points. A test that needs it calls [`require`]: when the data is present it gets the
//! path; when it is absent the test prints a notice and skips, unless `EMBER_REQUIRE_DATA=1` is set (as
//! CI sets it), in which case the missing data fails the test.
//!
//! ```no_run
//! let Some(dir) = ember_core::data::require("ir/scifact") else { return };
//! assert!(dir.join("corpus.jsonl").exists());
//! ```

use std::path::PathBuf;

/// The data root: `EMBER_DATA` if set, else `<workspace root>/../shared/data`.
pub fn root() -> PathBuf {
    match std::env::var_os("EMBER_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("..")
            .join("shared")
            .join("data"),
    }
}

/// Whether `EMBER_REQUIRE_DATA=1` is set: missing data is then a failure, not a skip.
pub fn required() -> bool {
    std::env::var("EMBER_REQUIRE_DATA").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Where `relative` (a file or folder under the data root) is, if it exists.
pub fn find(relative: &str) -> Option<PathBuf> {
    let path = root().join(relative);
    path.exists().then_some(path)
}

/// The path of `relative` under the data root, or `None` after printing
/// `skipped: data not found at …` when it is absent.
///
/// # Panics
/// When the data is absent and `EMBER_REQUIRE_DATA=1` is set: the calling test fails, as CI wants.
pub fn require(relative: &str) -> Option<PathBuf> {
    if let Some(path) = find(relative) {
        return Some(path);
    }
    let missing = root().join(relative);
    if required() {
        panic!(
            "data not found at {} and EMBER_REQUIRE_DATA=1 is set (set EMBER_DATA to the data root)",
            missing.display()
        );
    }
    eprintln!(
        "skipped: data not found at {} (set EMBER_DATA to the data root)",
        missing.display()
    );
    None
}
