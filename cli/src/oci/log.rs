//! `--log FILE --log-format text|json`: where engines read a runtime's errors. conmon and
//! containerd's shim point `--log` at a file and show its last error when a command fails;
//! with `json` each line is `{"level":"error","msg":"...","time":"RFC 3339"}`, as runc.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::LogFormat;

/// Appends lines to the --log file, if any; never fails the command.
#[derive(Debug)]
pub struct Logger {
    path: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    /// A logger to `path` in `format`.
    pub fn new(path: Option<PathBuf>, format: LogFormat) -> Self {
        Logger { path, format }
    }

    /// Logs an error.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// Logs a debug line.
    pub fn debug(&self, msg: &str) {
        self.write("debug", msg);
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.path else { return };
        let line = line(self.format, level, msg, now());
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// One log line, newline included.
pub fn line(format: LogFormat, level: &str, msg: &str, secs: u64) -> String {
    let time = crate::commands::state::rfc3339(secs);
    match format {
        LogFormat::Json => {
            format!(
                "{}\n",
                serde_json::json!({ "level": level, "msg": msg, "time": time })
            )
        }
        LogFormat::Text => format!("{time} {level} {msg}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_as_runc_writes_them() {
        let l = line(LogFormat::Json, "error", "no \"x\"", 0);
        let v: serde_json::Value = serde_json::from_str(l.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "no \"x\"");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
        assert!(l.ends_with('\n'));
        assert_eq!(
            line(LogFormat::Text, "error", "x", 0),
            "1970-01-01T00:00:00Z error x\n"
        );
    }
}
