//! This machine: files and directories only their owner can use, and
//! whether a process still runs. It spawns nothing and knows nothing of
//! AWS; everything above that keeps state on disk goes through it.

pub mod files;

/// Whether process `pid` still runs.
#[cfg(unix)]
pub fn process_alive(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

#[cfg(not(unix))]
pub fn process_alive(_pid: u32) -> bool {
    true
}
