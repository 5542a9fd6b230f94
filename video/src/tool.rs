//! Running the `ffmpeg` and `ffprobe` programs: a missing program names the
//! package to install, a failure carries the end of its stderr.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::thread::JoinHandle;

use crate::error::{Result, VideoError};

/// The Debian package that ships both programs.
pub const PACKAGE: &str = "ffmpeg";

/// A command for `program` that never reads the terminal and logs errors only.
pub(crate) fn command(program: &'static str) -> Command {
    let mut c = Command::new(program);
    c.args(["-hide_banner", "-v", "error"]);
    if program == "ffmpeg" {
        c.arg("-nostdin");
    }
    c.stdin(Stdio::null());
    c
}

fn spawn_error(program: &'static str, e: std::io::Error) -> VideoError {
    if e.kind() == std::io::ErrorKind::NotFound {
        VideoError::ToolMissing {
            program,
            package: PACKAGE,
        }
    } else {
        VideoError::io(program, e)
    }
}

/// Runs to the end and returns its output; a non-zero exit is an error.
pub(crate) fn run(program: &'static str, path: &Path, mut cmd: Command) -> Result<Output> {
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| spawn_error(program, e))?;
    if !out.status.success() {
        return Err(failure(program, path, &out.status, &out.stderr));
    }
    Ok(out)
}

/// Starts a streaming process; its stderr is collected on a thread so that
/// a chatty process never blocks on a full pipe.
pub(crate) fn spawn(mut cmd: Command, program: &'static str) -> Result<(Child, StderrTail)> {
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(program, e))?;
    let stderr = child.stderr.take().map(StderrTail::collect);
    Ok((child, stderr.unwrap_or(StderrTail(None))))
}

/// The stderr of a running process, read to the end on its own thread.
pub(crate) struct StderrTail(Option<JoinHandle<Vec<u8>>>);

impl StderrTail {
    fn collect(mut pipe: ChildStderr) -> StderrTail {
        StderrTail(Some(std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })))
    }

    pub(crate) fn join(self) -> Vec<u8> {
        self.0.and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

/// Waits for a streaming process and turns a failure into an error.
pub(crate) fn finish(
    program: &'static str,
    path: &Path,
    mut child: Child,
    stderr: StderrTail,
) -> Result<Vec<u8>> {
    let status = child.wait().map_err(|e| VideoError::io(path, e))?;
    let err = stderr.join();
    if !status.success() {
        return Err(failure(program, path, &status, &err));
    }
    Ok(err)
}

pub(crate) fn failure(
    program: &'static str,
    path: &Path,
    status: &std::process::ExitStatus,
    stderr: &[u8],
) -> VideoError {
    VideoError::Tool {
        program,
        path: path.to_owned(),
        status: status.to_string(),
        stderr: tail(stderr),
    }
}

/// The last lines of a program's stderr, at most about 2000 characters.
pub(crate) fn tail(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr);
    let s = s.trim();
    let start = s.len().saturating_sub(2000);
    let start = (start..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    let t = &s[start..];
    if t.is_empty() {
        "no message".into()
    } else {
        t.replace('\n', " | ")
    }
}

/// Seconds as ffmpeg reads them, exactly enough for any frame time.
pub(crate) fn seconds(t: f64) -> String {
    format!("{t:.6}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_the_package() {
        let e = spawn_error(
            "ffmpeg",
            std::io::Error::new(std::io::ErrorKind::NotFound, "x"),
        );
        let msg = e.to_string();
        assert!(msg.contains("apt-get install ffmpeg"), "{msg}");
    }

    #[test]
    fn tail_keeps_the_end_of_long_output() {
        let long = "x".repeat(5000) + "\nlast line";
        let t = tail(long.as_bytes());
        assert!(t.ends_with("last line") && t.len() <= 2003, "{}", t.len());
        assert_eq!(tail(b"  "), "no message");
    }
}
