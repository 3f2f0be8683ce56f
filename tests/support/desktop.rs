//! What the RDP tests need besides the sandbox: an X display for the real
//! client (Debian's `Xvfb`), a look at running processes through `/proc`,
//! and xrdp's log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped, so a failing test
/// leaves nothing running.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An Xvfb server on a display of its own, stopped when dropped.
pub struct Xvfb {
    pub display: String,
    _server: Reaped,
}

impl Xvfb {
    /// Starts Xvfb on the first display number that is free.
    pub fn start() -> Self {
        for n in 120..400 {
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
                continue;
            }
            let child = Command::new("Xvfb")
                .args([
                    &format!(":{n}"),
                    "-screen",
                    "0",
                    "1024x768x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb (Debian's xvfb; scripts/setup installs it)");
            let mut server = Reaped(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if socket.exists() {
                    return Self {
                        display: format!(":{n}"),
                        _server: server,
                    };
                }
                // Lost a race for this display: try the next one.
                if server.0.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no free X display for Xvfb in :120..:400");
    }
}

/// The processes whose parent is `parent`, with their command names.
pub fn children_of(parent: u32) -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let child: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
            // pid (comm) state ppid …; comm may hold spaces and parentheses.
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once('(')?.1.to_owned();
            let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some((child, comm))
        })
        .collect()
}

/// A process's command line and environment, as the kernel holds them.
pub fn cmdline_and_environ(pid: u32) -> (Vec<u8>, Vec<u8>) {
    let read = |what: &str| {
        std::fs::read(format!("/proc/{pid}/{what}"))
            .unwrap_or_else(|e| panic!("read /proc/{pid}/{what}: {e}"))
    };
    (read("cmdline"), read("environ"))
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Waits until `log` has a line holding `success` past byte `from`; fails
/// early on a line holding `failure`. Returns the matching line.
pub fn wait_for_log_line(
    log: &Path,
    from: usize,
    success: &str,
    failure: &str,
    timeout: Duration,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        let fresh = String::from_utf8_lossy(text.get(from..).unwrap_or_default()).into_owned();
        if let Some(line) = fresh.lines().find(|l| l.contains(success)) {
            return line.to_owned();
        }
        if let Some(line) = fresh.lines().find(|l| l.contains(failure)) {
            panic!("{}: {line}", log.display());
        }
        assert!(
            Instant::now() < deadline,
            "no `{success}` in {} after {timeout:?}:\n{fresh}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
