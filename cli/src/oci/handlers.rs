//! The OCI subcommands' handlers, shared by every OS: each OS's runtime answers the
//! [`Runtime`] calls; the output (state JSON, `list` and `ps` tables, exit statuses) and
//! the rules of the command line are the same everywhere.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use stockade_core::oci::OciState;
use stockade_core::state::Exit;

use super::{CreateArgs, ExecArgs, OciCli, OciCommand};

/// What one OS's OCI runtime does for the handlers.
pub trait Runtime {
    /// `create`: the container, its process waiting for `start`.
    fn create(&self, a: &CreateArgs) -> anyhow::Result<()>;
    /// `start`.
    fn start(&self, id: &str) -> anyhow::Result<()>;
    /// `run`: how the process ended, or `None` with `detach`.
    fn run(&self, a: &CreateArgs, detach: bool) -> anyhow::Result<Option<Exit>>;
    /// `state`.
    fn state(&self, id: &str) -> anyhow::Result<OciState>;
    /// `list`.
    fn list(&self) -> anyhow::Result<Vec<OciState>>;
    /// `kill`.
    fn kill(&self, id: &str, signal: &str, all: bool) -> anyhow::Result<()>;
    /// `delete`.
    fn delete(&self, id: &str, force: bool) -> anyhow::Result<()>;
    /// `exec`: its exit status.
    fn exec(&self, a: &ExecArgs) -> anyhow::Result<ExitCode>;
    /// `ps`: host PIDs.
    fn pids(&self, id: &str) -> anyhow::Result<Vec<i32>>;
    /// `pause` (`frozen`) or `resume`.
    fn freeze(&self, id: &str, frozen: bool) -> anyhow::Result<()>;
    /// `features`: the runtime-spec features document.
    fn features(&self) -> serde_json::Value;
    /// `spec`: a template config.json this runtime accepts.
    fn template(&self) -> String;
}

/// Runs one OCI subcommand on `rt`.
pub fn dispatch(cli: &OciCli, rt: &impl Runtime) -> anyhow::Result<ExitCode> {
    match &cli.command {
        OciCommand::Create(a) => {
            refuse_preserved_fds(a.preserve_fds)?;
            rt.create(a)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Start(a) => {
            rt.start(&a.id)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Run(a) => {
            refuse_preserved_fds(a.create.preserve_fds)?;
            Ok(match rt.run(&a.create, a.detach)? {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    // A process that failed before its command ran (125/126/127) says why.
                    if let Some(reason) = &e.reason {
                        eprintln!("stockade-oci: {}: {reason}", a.create.id);
                    }
                    ExitCode::from(u8::try_from(e.code).unwrap_or(255))
                }
            })
        }
        OciCommand::State(a) => print(&serde_json::to_string_pretty(&rt.state(&a.id)?)?),
        OciCommand::Kill(a) => {
            rt.kill(&a.id, &a.signal, a.all)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Delete(a) => {
            rt.delete(&a.id, a.force)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Exec(a) => rt.exec(a),
        OciCommand::List(a) => print(&list_text(&rt.list()?, &a.format, a.quiet)?),
        OciCommand::Ps(a) => {
            let pids = rt.pids(&a.id)?;
            if a.format == "json" {
                print(&serde_json::to_string(&pids)?)
            } else {
                let mut t = String::from("PID");
                for p in pids {
                    t.push_str(&format!("\n{p}"));
                }
                print(&t)
            }
        }
        OciCommand::Pause(a) => {
            rt.freeze(&a.id, true)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Resume(a) => {
            rt.freeze(&a.id, false)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Features => print(&serde_json::to_string_pretty(&rt.features())?),
        OciCommand::Spec(a) => {
            let path = a.bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("{} exists: remove it first", path.display());
            }
            std::fs::write(&path, rt.template()).with_context(|| path.display().to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `list`'s output: ids (`-q`), JSON, or runc's table.
pub fn list_text(all: &[OciState], format: &str, quiet: bool) -> anyhow::Result<String> {
    Ok(if quiet {
        all.iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>()
            .join("\n")
    } else if format == "json" {
        serde_json::to_string(all)?
    } else {
        let mut t = format!(
            "{:<20} {:<8} {:<10} {:<40} {}",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for s in all {
            t.push_str(&format!(
                "\n{:<20} {:<8} {:<10} {:<40} {}",
                s.id,
                s.pid,
                s.status,
                s.bundle.display(),
                s.created
            ));
        }
        t
    })
}

/// The first `exec` option a runtime that runs only `exec ID ARGS` (FreeBSD's) cannot
/// honour, if any.
#[cfg_attr(not(target_os = "freebsd"), allow(dead_code))] // FreeBSD's; tested everywhere
pub fn args_only_exec(a: &ExecArgs) -> Option<&'static str> {
    [
        ("--process", a.process.is_some()),
        ("--tty", a.tty),
        ("--detach", a.detach),
        ("--pid-file", a.pid_file.is_some()),
        ("--console-socket", a.console_socket.is_some()),
        ("--cwd", a.cwd.is_some()),
        ("--env", !a.env.is_empty()),
        ("--user", a.user.is_some()),
        ("without ARGS", a.args.is_empty()),
    ]
    .into_iter()
    .find_map(|(name, given)| given.then_some(name))
}

fn refuse_preserved_fds(n: u32) -> anyhow::Result<()> {
    if n > 0 {
        anyhow::bail!("--preserve-fds {n}: passing extra fds is not supported by stockade yet");
    }
    Ok(())
}

/// Prints a line; a closed pipe is not an error.
fn print(text: &str) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_args_only_exec_names_what_it_cannot_do() {
        use clap::Parser as _;
        let parse = |v: &[&str]| match super::super::OciCli::parse_from(v).command {
            OciCommand::Exec(e) => e,
            _ => unreachable!("exec"),
        };
        assert_eq!(
            args_only_exec(&parse(&["stockade-oci", "exec", "c1", "ls", "-l"])),
            None
        );
        assert_eq!(
            args_only_exec(&parse(&["stockade-oci", "exec", "--tty", "c1", "sh"])),
            Some("--tty")
        );
        assert_eq!(
            args_only_exec(&parse(&[
                "stockade-oci",
                "exec",
                "--process",
                "/p.json",
                "c1"
            ])),
            Some("--process")
        );
    }

    #[test]
    fn list_formats() {
        let state = OciState {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            status: "running",
            pid: 42,
            bundle: "/b".into(),
            annotations: serde_json::Map::new(),
            created: "2026-12-06T00:00:00Z".into(),
            exit: None,
        };
        let all = [state];
        assert_eq!(list_text(&all, "table", true).unwrap(), "c1");
        let json: serde_json::Value =
            serde_json::from_str(&list_text(&all, "json", false).unwrap()).unwrap();
        assert_eq!(json[0]["id"], "c1");
        let table = list_text(&all, "table", false).unwrap();
        assert!(table.starts_with("ID "), "{table}");
        assert!(table.lines().nth(1).unwrap().starts_with("c1 "), "{table}");
    }
}
