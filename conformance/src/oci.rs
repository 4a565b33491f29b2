//! `--via oci`: the same cases through stockade's OCI runtime, driven as an engine would.
//!
//! Each environment a case makes is first exported (`stockade export --format oci
//! --name N --out BUNDLE SPEC`), then run by `stockade oci --root DIR ...` from that
//! bundle: `run`, `run --detach`, `create`, `start`, `state`, `kill`, `delete`, `exec`,
//! `list`. The checks are the case's own, applied to what the probe inside reports. A
//! case whose spec the export refuses, or that config.json can only approximate (the
//! export prints a `note:`), or whose script needs a stockade command the OCI runtime
//! has no counterpart of, is skipped with that reason.
//!
//! What the runner does as the engine, since OCI leaves it to the engine:
//! - `run -- ARGS` becomes the bundle's `process.args` (the exported config.json with
//!   only that key changed);
//! - `stop` is `kill TERM`, then after the grace period `kill --all KILL` (podman's stop);
//! - the exit status: the suite is the children's subreaper (as conmon and the shim
//!   are), waits for the container's process and reports its status in the state
//!   record under stockade's names (`exit_code`, `exit_signal`; `name` for `id`, a
//!   `null` pid once stopped) so the cases' checks read it where they read stockade's;
//! - a terminal (`process.terminal`): the suite listens on a `--console-socket`,
//!   receives the master and reads it; for a foreground `run` what the process wrote
//!   there is the step's output;
//! - an OOM kill: the container's cgroup counted one (`oom_kill` in `memory.events` on
//!   cgroup v2, `memory.oom_control` on v1), as conmon and the shim look; the record's
//!   `reason` then says "out of memory" as stockade's does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::case::{Action, Case, Script, PROBE};
use crate::exec::{self, Outcome};
use crate::runner::Suite;

/// How a process ended: (exit code, signal).
pub type Ended = (Option<i32>, Option<i32>);

/// Which command line the suite drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// `stockade run`, `create`, `start`, ...
    Stockade,
    /// `stockade export --format oci`, then `stockade oci run`, `create`, `start`, ...
    Oci,
}

/// The OCI path's state across a case: the OCI state root, the bundles made, the
/// container processes the suite waits for as their subreaper.
#[derive(Debug)]
pub struct OciPath {
    /// `stockade oci --root`.
    pub root: PathBuf,
    /// Container id → its bundle folder.
    bundles: RefCell<BTreeMap<String, PathBuf>>,
    /// Container id → its first process's host PID (from `--pid-file`).
    pids: RefCell<BTreeMap<String, i32>>,
    /// Host PID → how it ended, once waited for.
    exits: RefCell<BTreeMap<i32, Ended>>,
}

impl OciPath {
    /// The OCI path with its state below `root`; makes the suite the subreaper of the
    /// containers' processes (what conmon and containerd's shim are).
    pub fn new(root: PathBuf) -> std::io::Result<OciPath> {
        fs::create_dir_all(&root)?;
        crate::sys::become_subreaper()?;
        Ok(OciPath {
            root,
            bundles: RefCell::default(),
            pids: RefCell::default(),
            exits: RefCell::default(),
        })
    }

    /// The state folder of one container (what must be gone after `delete`).
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Forgets the previous case's containers and waits for any process of theirs still
    /// unwaited (none of the suite's own commands runs between cases).
    pub fn reset(&self) {
        self.bundles.borrow_mut().clear();
        self.pids.borrow_mut().clear();
        self.exits.borrow_mut().clear();
        crate::sys::reap_all();
    }

    /// How the container's first process ended, waiting for it if it has.
    fn exit_of(&self, id: &str) -> Option<Ended> {
        let pid = *self.pids.borrow().get(id)?;
        if let Some(e) = self.exits.borrow().get(&pid) {
            return Some(*e);
        }
        let e = crate::sys::reap(pid)?;
        self.exits.borrow_mut().insert(pid, e);
        Some(e)
    }

    fn remember_pid(&self, id: &str, pid_file: &Path) {
        if let Some(pid) = fs::read_to_string(pid_file)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
        {
            self.pids.borrow_mut().insert(id.to_string(), pid);
        }
    }
}

/// Why a script cannot go through the OCI runtime, if it cannot.
pub fn script_skip(case: &Case) -> Option<String> {
    let Script::Steps(steps) = &case.script else {
        return None;
    };
    steps
        .iter()
        .chain(&case.teardown)
        .find_map(|s| match &s.action {
            Action::Stockade(a) => Some(format!(
                "`stockade {}` has no OCI runtime command",
                a.first().map_or("", String::as_str)
            )),
            _ => None,
        })
}

/// Notes of an approximation rather than of something config.json cannot say: the
/// environment still runs as the cases expect, except where a case observes that very
/// difference, and such a case says so ([`crate::case::Case::differs_via_oci`]).
const APPROXIMATIONS: &[&str] = &["root.host: the root is the bundle's rootfs/ folder"];

/// The note lines of `stockade export` that make a case unable to go through OCI: what
/// config.json cannot say.
fn notes(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("note: "))
        .filter(|n| !APPROXIMATIONS.iter().any(|a| n.starts_with(a)))
        .collect()
}

/// A state record under stockade's names, from the OCI state JSON and the exit status
/// the suite read as the process's subreaper.
pub fn engine_state(oci: &Value, exit: Option<Ended>, oom: bool) -> Value {
    let mut v = oci.clone();
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    obj.insert("name".into(), oci["id"].clone());
    let (code, signal) = match (oci["status"].as_str(), exit) {
        (Some("stopped"), Some((code, None))) => (json!(code), Value::Null),
        (Some("stopped"), Some((_, Some(sig)))) => (json!(128 + sig), json!(sig)),
        _ => (Value::Null, Value::Null),
    };
    if oci["status"] == "stopped" {
        obj.insert("pid".into(), Value::Null);
    }
    obj.insert("exit_code".into(), code);
    obj.insert("exit_signal".into(), signal);
    if oom && oci["status"] == "stopped" {
        obj.insert(
            "reason".into(),
            json!("out of memory (the OOM killer ended it)"),
        );
    }
    v
}

/// True when a cgroup folder's OOM-kill counter is above zero (`oom_kill N` in
/// `memory.events` on cgroup v2, `memory.oom_control` on v1).
pub fn oom_killed(dirs: &[PathBuf]) -> bool {
    dirs.iter().any(|d| {
        ["memory.events", "memory.oom_control"].iter().any(|f| {
            fs::read_to_string(d.join(f)).is_ok_and(|text| {
                text.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
        })
    })
}

/// The engine's end of `--console-socket`: a listener whose thread receives the terminal
/// master and reads it until the terminal hangs up.
struct Console {
    path: PathBuf,
    output: mpsc::Receiver<String>,
}

impl Console {
    fn listen(path: &Path) -> std::io::Result<Console> {
        let _ = fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            let read = || -> std::io::Result<String> {
                let (sock, _) = listener.accept()?;
                let mut master = fs::File::from(crate::sys::recv_fd(&sock)?);
                let mut text = Vec::new();
                let mut chunk = [0u8; 4096];
                // EIO once every holder of the terminal's other end is gone.
                while let Ok(n @ 1..) = master.read(&mut chunk) {
                    text.extend_from_slice(&chunk[..n]);
                }
                Ok(String::from_utf8_lossy(&text).replace("\r\n", "\n"))
            };
            let _ = tx.send(read().unwrap_or_default());
        });
        Ok(Console {
            path: path.to_path_buf(),
            output,
        })
    }
}

/// `process.terminal` of a bundle's config.json.
fn wants_terminal(bundle: &Path) -> bool {
    fs::read_to_string(bundle.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|v| v.pointer("/process/terminal") == Some(&Value::Bool(true)))
}

/// `config.json` with `process.args` replaced.
fn with_args(config: &str, args: &[String]) -> Option<String> {
    let mut v: Value = serde_json::from_str(config).ok()?;
    *v.pointer_mut("/process/args")? = json!(args);
    serde_json::to_string_pretty(&v).ok()
}

fn failed(command: String, why: String) -> Outcome {
    Outcome {
        command,
        exit: None,
        signal: None,
        timed_out: false,
        stdout: String::new(),
        stderr: why,
        secs: 0.0,
    }
}

impl Suite {
    /// `stockade oci --root ROOT ARGS...`.
    fn oci(&self, oci: &OciPath, args: Vec<String>, log: &Path) -> Outcome {
        let mut full = vec![
            "oci".to_string(),
            "--root".to_string(),
            oci.root.display().to_string(),
        ];
        full.extend(args);
        exec::run(&self.stockade, &full, log, self.timeout).unwrap_or_else(|e| {
            failed(
                format!("{} {}", self.stockade.display(), full.join(" ")),
                e.to_string(),
            )
        })
    }

    /// Exports the case's spec as the bundle of container `id`; `Err` is why the case
    /// cannot go through the OCI runtime (the export's refusal or its notes).
    pub fn oci_export(
        &self,
        oci: &OciPath,
        id: &str,
        spec: &Path,
        logs: &Path,
    ) -> Result<PathBuf, String> {
        if let Some(b) = oci.bundles.borrow().get(id) {
            return Ok(b.clone());
        }
        let bundle = logs.parent().unwrap_or(logs).join("bundles").join(id);
        if bundle.exists() {
            fs::remove_dir_all(&bundle).map_err(|e| format!("{}: {e}", bundle.display()))?;
        }
        let out = self.stockade(
            vec![
                "export".into(),
                "--format".into(),
                "oci".into(),
                "--name".into(),
                id.into(),
                "--out".into(),
                bundle.display().to_string(),
                spec.display().to_string(),
            ],
            &logs.join(format!("export-{id}")),
        );
        if out.exit != Some(0) {
            return Err(format!(
                "stockade export --format oci refuses it: {}",
                out.stderr_line()
            ));
        }
        if let Some(note) = notes(&out.stderr).first() {
            return Err(format!("config.json cannot say it: {note}"));
        }
        // The exported config, kept aside: steps that override the command change a copy.
        let config = bundle.join("config.json");
        fs::copy(&config, bundle.join("config.exported.json"))
            .map_err(|e| format!("{}: {e}", config.display()))?;
        oci.bundles.borrow_mut().insert(id.into(), bundle.clone());
        Ok(bundle)
    }

    /// Writes the bundle's config.json: as exported, or with `process.args` = `args`.
    fn oci_config(bundle: &Path, args: Option<&[String]>) -> Result<(), String> {
        let exported = bundle.join("config.exported.json");
        let text =
            fs::read_to_string(&exported).map_err(|e| format!("{}: {e}", exported.display()))?;
        let text = match args {
            None => text,
            Some(a) => with_args(&text, a)
                .ok_or_else(|| format!("{}: no process.args", exported.display()))?,
        };
        let config = bundle.join("config.json");
        fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))
    }

    /// One action of a script, through the OCI runtime.
    pub fn oci_act(
        &self,
        oci: &OciPath,
        action: &Action,
        id: &str,
        spec: &Path,
        log: &Path,
        args: &dyn Fn(&[String]) -> Vec<String>,
    ) -> Outcome {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        let logs = log.parent().unwrap_or(log);
        let bundle = || -> Result<String, String> {
            Ok(self.oci_export(oci, id, spec, logs)?.display().to_string())
        };
        let pid_file = log.with_extension("pid");
        let pid_arg = pid_file.display().to_string();
        match action {
            Action::Run(_) | Action::RunCommand(_) | Action::RunDetached | Action::Create => {
                let command = match action {
                    Action::Run(a) if !a.is_empty() => Some(
                        std::iter::once(PROBE.to_string())
                            .chain(args(a))
                            .collect::<Vec<_>>(),
                    ),
                    Action::RunCommand(c) => Some(args(c)),
                    _ => None,
                };
                let b = match bundle().and_then(|b| {
                    Self::oci_config(Path::new(&b), command.as_deref())?;
                    Ok(b)
                }) {
                    Ok(b) => b,
                    Err(e) => return failed(format!("export {id}"), e),
                };
                let mut v = match action {
                    Action::RunDetached => {
                        s(&["run", "--detach", "--pid-file", &pid_arg, "--bundle", &b])
                    }
                    Action::Create => s(&["create", "--pid-file", &pid_arg, "--bundle", &b]),
                    _ => s(&["run", "--bundle", &b]),
                };
                let console = if wants_terminal(Path::new(&b)) {
                    match Console::listen(&log.with_extension("console")) {
                        Ok(c) => Some(c),
                        Err(e) => return failed(format!("console socket for {id}"), e.to_string()),
                    }
                } else {
                    None
                };
                if let Some(c) = &console {
                    v.extend(["--console-socket".into(), c.path.display().to_string()]);
                }
                v.push(id.into());
                let mut out = self.oci(oci, v, log);
                oci.remember_pid(id, &pid_file);
                // In the foreground the terminal is the process's output.
                if let (Some(c), Action::Run(_) | Action::RunCommand(_)) = (console, action) {
                    if let Ok(text) = c.output.recv_timeout(self.timeout) {
                        out.stdout = text;
                    }
                }
                out
            }
            Action::Start => self.oci(oci, s(&["start", id]), log),
            Action::State => self.oci_state(oci, id, log),
            Action::WaitStatus(want) => self.poll_status(want, || self.oci_state(oci, id, log)),
            Action::Kill(sig) => self.oci(oci, s(&["kill", id, sig]), log),
            Action::Stop(grace) => self.oci_stop(oci, id, *grace, log),
            Action::Delete { force } => {
                let mut v = s(&["delete"]);
                if *force {
                    v.push("--force".into());
                }
                v.push(id.into());
                let out = self.oci(oci, v, log);
                // Its process is gone: wait for it now, so it is no zombie of ours.
                let _ = oci.exit_of(id);
                out
            }
            Action::Exec(a) => {
                let mut v = s(&["exec", id, PROBE]);
                v.extend(args(a));
                self.oci(oci, v, log)
            }
            Action::ExecCommand(c) => {
                let mut v = s(&["exec", id]);
                v.extend(args(c));
                self.oci(oci, v, log)
            }
            Action::List => {
                let mut out = self.oci(oci, s(&["list", "--format", "json"]), log);
                // stockade's name for the id, so the cases' checks read it.
                if let Value::Array(all) = exec::parse_json(&out.stdout) {
                    let named: Vec<Value> = all
                        .iter()
                        .map(|c| {
                            let exit = c["id"].as_str().and_then(|i| oci.exit_of(i));
                            engine_state(c, exit, false)
                        })
                        .collect();
                    out.stdout = Value::Array(named).to_string();
                }
                out
            }
            Action::HostProbe(_) | Action::Stockade(_) => failed(
                action.describe(),
                "not an OCI runtime command (a suite bug)".into(),
            ),
        }
    }

    /// `state`, as the engine sees it: the OCI state plus the exit status it waited for.
    fn oci_state(&self, oci: &OciPath, id: &str, log: &Path) -> Outcome {
        let mut out = self.oci(oci, vec!["state".into(), id.into()], log);
        let v = exec::parse_json(&out.stdout);
        if v.is_object() {
            let (exit, oom) = if v["status"] == "stopped" {
                let mounts: Vec<PathBuf> = self
                    .host
                    .cgroups
                    .iter()
                    .flat_map(|c| c.mounts.iter().map(|m| m.path.clone()))
                    .collect();
                (
                    oci.exit_of(id),
                    oom_killed(&crate::leaks::cgroup_dirs(&mounts, id)),
                )
            } else {
                (None, false)
            };
            out.stdout = engine_state(&v, exit, oom).to_string();
        }
        out
    }

    /// `stop` as engines do it: TERM, the grace period, then KILL to every process.
    fn oci_stop(&self, oci: &OciPath, id: &str, grace: f64, log: &Path) -> Outcome {
        let start = Instant::now();
        let term = self.oci(oci, vec!["kill".into(), id.into(), "TERM".into()], log);
        if term.exit != Some(0) {
            return term;
        }
        let stopped = |limit: Duration| {
            let until = Instant::now() + limit;
            loop {
                let st = self.oci(
                    oci,
                    vec!["state".into(), id.into()],
                    &log.with_extension("state"),
                );
                if exec::parse_json(&st.stdout)["status"] == "stopped" || st.exit != Some(0) {
                    return true;
                }
                if Instant::now() > until {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let mut out = term;
        if !stopped(Duration::from_secs_f64(grace)) {
            out = self.oci(
                oci,
                vec!["kill".into(), "--all".into(), id.into(), "KILL".into()],
                log,
            );
            stopped(self.timeout);
        }
        out.command = format!("stockade oci kill {id} TERM, then KILL after {grace}s");
        out.secs = start.elapsed().as_secs_f64();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_state_uses_stockade_names() {
        let oci = json!({"ociVersion": "1.2.0", "id": "c1", "status": "stopped", "pid": 0});
        let v = engine_state(&oci, Some((None, Some(9))), false);
        assert_eq!(v["name"], "c1");
        assert_eq!(v.get("reason"), None);
        assert_eq!(v["pid"], Value::Null);
        assert_eq!(v["exit_code"], 137);
        assert_eq!(v["exit_signal"], 9);
        let v = engine_state(&oci, Some((Some(4), None)), false);
        assert_eq!(
            (v["exit_code"].clone(), v["exit_signal"].clone()),
            (json!(4), Value::Null)
        );
        // Not waited for: nothing is made up.
        let v = engine_state(&oci, None, false);
        assert_eq!(v["exit_code"], Value::Null);
        let v = engine_state(&oci, Some((None, Some(9))), true);
        assert!(v["reason"].as_str().unwrap().contains("out of memory"));
        let running = json!({"id": "c1", "status": "running", "pid": 42});
        let v = engine_state(&running, None, true);
        assert_eq!(v.get("reason"), None);
        assert_eq!(v["pid"], 42);
        assert_eq!(v["status"], "running");
    }

    #[test]
    fn the_oom_counter_of_either_cgroup_version_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
        fs::create_dir_all(&v1).unwrap();
        fs::create_dir_all(&v2).unwrap();
        fs::write(
            v1.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .unwrap();
        fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n",
        )
        .unwrap();
        assert!(!oom_killed(&[v1.clone(), v2.clone()]));
        fs::write(
            v2.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(oom_killed(&[v1, v2]));
        assert!(!oom_killed(&[dir.path().join("gone")]));
    }

    #[test]
    fn a_command_override_changes_only_the_args() {
        let config =
            r#"{"ociVersion":"1.2.0","process":{"args":["/probe/stockade-probe"],"cwd":"/"}}"#;
        let out = with_args(config, &["/bin/true".into()]).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["process"]["args"], json!(["/bin/true"]));
        assert_eq!(v["process"]["cwd"], "/");
        assert!(with_args("{}", &[]).is_none());
    }

    #[test]
    fn export_notes_are_found() {
        let err = "note: process.init: OCI has no reaper option\nwrote /b/config.json\n";
        assert_eq!(notes(err), ["process.init: OCI has no reaper option"]);
        assert!(notes("wrote /b/config.json\n").is_empty());
        let approx =
            "note: root.host: the root is the bundle's rootfs/ folder, not a fresh tmpfs\n";
        assert!(notes(approx).is_empty(), "an approximation the cases mark");
    }
}
