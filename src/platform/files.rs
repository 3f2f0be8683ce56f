//! Files and directories only their owner can use: berth's state (the
//! journal of temporary rules, pinned host keys) and one-time keys live in
//! them. Modes are set when a file or directory is made, never after, so
//! there is no moment when others could open it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// Replaces `path` with `bytes` at once, as a file only its owner can read:
/// written to a temporary file beside it (0600, from `tempfile`), synced,
/// renamed over it, and the directory synced. A concurrent reader never
/// sees half a file, and a crash leaves the old one or the new one. The
/// directory must exist.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself outlives a crash once the directory is synced.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates (or truncates) `path` for writing; a file it creates has mode
/// 0600.
pub fn private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates the file `path`, which must not exist yet, with mode 0600, and
/// writes `bytes` to it (synced): for a secret that must be nobody else's
/// file, not even one planted there before.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Opens (creating it 0600 if need be) a file to hold a lock on; its
/// content is never touched.
pub fn private_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `dir` and its missing parents, those it creates with mode 0700;
/// `dir` itself (berth's own directory) is made 0700 if it was not.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Creates the directory `dir` itself, which must not exist yet (its
/// parent must), with mode 0700: a fresh place nobody else has used.
pub fn new_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_file_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("state.json");
        fs::write(&path, "old").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        write_atomically(&path, b"new").expect("atomic write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
        let mode = fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing left beside it.
        let names: Vec<_> = fs::read_dir(tmp.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        // A directory that is not there is an error, not a panic.
        assert!(write_atomically(&tmp.path().join("no/such/file"), b"x").is_err());
    }
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn made_for_the_owner_only() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path().join("a/b");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        private_dir(&dir).expect("mkdir");
        private_file(&dir.join("f")).expect("create");
        private_lock_file(&dir.join("f.lock")).expect("create");
        let open = tmp.path().join("open");
        fs::create_dir(&open).expect("mkdir");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&open).expect("tighten");
        assert_eq!(mode(&open), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("f")), 0o600);
        assert_eq!(mode(&dir.join("f.lock")), 0o600);
    }
}
