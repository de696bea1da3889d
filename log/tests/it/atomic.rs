//! The atomic small-file helper.

use std::collections::BTreeMap;

use ember_log::{Error, atomic};

#[test]
fn write_read_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("offsets");
    assert_eq!(atomic::read(&p).unwrap(), None);
    atomic::write(&p, b"one").unwrap();
    assert_eq!(atomic::read(&p).unwrap().as_deref(), Some(&b"one"[..]));
    atomic::write(&p, b"").unwrap();
    assert_eq!(atomic::read(&p).unwrap().as_deref(), Some(&b""[..]));
    let mut m = BTreeMap::new();
    m.insert(("group".to_string(), 3u32), 99u64);
    atomic::write_value(&p, &m).unwrap();
    assert_eq!(
        atomic::read_value::<BTreeMap<(String, u32), u64>>(&p).unwrap(),
        Some(m)
    );
    // only the target file remains: no temp files left behind
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn damage_is_detected_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("meta");
    atomic::write(&p, b"hello world").unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&p, &bytes).unwrap();
    match atomic::read(&p) {
        Err(Error::Corrupt { path, .. }) => assert_eq!(path, p),
        other => panic!("{other:?}"),
    }
    std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    assert!(matches!(atomic::read(&p), Err(Error::Corrupt { .. })));
    std::fs::write(&p, b"garbage").unwrap();
    assert!(matches!(
        atomic::read(&p),
        Err(Error::Corrupt { position: 0, .. })
    ));
    atomic::write(&p, &[0xff, 0xff]).unwrap();
    assert!(matches!(
        atomic::read_value::<u64>(&p),
        Err(Error::Codec { .. })
    ));
}

#[test]
fn interrupted_writes_leave_the_old_content_and_temp_files_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("state");
    atomic::write(&p, b"old").unwrap();
    // A crash between writing the temp file and the rename leaves exactly this:
    std::fs::write(dir.path().join(".state.tmp.123.0"), b"half").unwrap();
    assert_eq!(atomic::read(&p).unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(atomic::clean_temp_files(dir.path()).unwrap(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
