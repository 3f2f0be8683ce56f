//! Files and directories only their owner can use: berth's state (the
//! journal of temporary rules, pinned host keys) and one-time keys live in
//! them. Modes are set when a file or directory is made, never after, so
//! there is no moment when others could open it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

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

#[cfg(all(test, unix))]
mod tests {
    use super::*;
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
