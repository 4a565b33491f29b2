//! Running the programs under test (`stockade`, the probe on the host) with a time limit.
//!
//! Output goes to files, not pipes: a detached environment (`run -d`) inherits stockade's
//! stdout and stderr and keeps them open long after stockade exits, so waiting for EOF on
//! a pipe would wait for the environment. We wait for the process, then read the files.

use std::fs::File;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How a command ended and what it printed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The command line, for messages.
    pub command: String,
    /// Its exit status, when it exited.
    pub exit: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// It ran past the time limit and was killed.
    pub timed_out: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time in seconds.
    pub secs: f64,
}

/// The last `max` characters of `s`.
fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let skip = n - max;
    format!("…{}", s.chars().skip(skip).collect::<String>())
}

/// The JSON printed on stdout: the whole output, or else its last line that parses.
pub fn parse_json(stdout: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(stdout.trim()) {
        return v;
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l.trim())
                .ok()
                .filter(Value::is_object)
        })
        .unwrap_or(Value::Null)
}

impl Outcome {
    /// The record of a step: what checks point into.
    pub fn record(&self) -> Value {
        json!({
            "command": self.command,
            "exit": self.exit,
            "signal": self.signal,
            "timed_out": self.timed_out,
            "json": parse_json(&self.stdout),
            "stdout": tail(&self.stdout, 4000),
            "stderr": tail(&self.stderr, 2000),
            "secs": self.secs,
        })
    }

    /// The last line of stderr, for messages.
    pub fn stderr_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }
}

/// Runs `program args...` with stdin from /dev/null and output to `log.out`/`log.err`,
/// killing it after `timeout`.
pub fn run(program: &Path, args: &[String], log: &Path, timeout: Duration) -> io::Result<Outcome> {
    let out_path = log.with_extension("out");
    let err_path = log.with_extension("err");
    let command = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path)?)
        .stderr(File::create(&err_path)?)
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", program.display())))?;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            // Our own child, by its handle.
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read =
        |p: &PathBuf| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok(Outcome {
        command,
        exit: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: read(&out_path),
        stderr: read(&err_path),
        secs: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_the_whole_output_or_the_last_object_line() {
        assert_eq!(parse_json("{\n  \"a\": 1\n}\n")["a"], 1);
        assert_eq!(parse_json("noise\n{\"b\":2}\n")["b"], 2);
        assert_eq!(parse_json("not json"), Value::Null);
    }

    #[test]
    fn a_command_past_its_time_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            Path::new("/bin/sleep"),
            &["5".into()],
            &dir.path().join("sleep"),
            Duration::from_millis(200),
        )
        .unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit, None);
        assert!(out.secs < 4.0);
    }

    #[test]
    fn output_and_status_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            Path::new("/bin/sh"),
            &["-c".into(), "echo hi; echo err >&2; exit 3".into()],
            &dir.path().join("sh"),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.exit, Some(3));
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(out.stderr_line(), "err");
    }
}
