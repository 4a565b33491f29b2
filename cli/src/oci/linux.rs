//! The OCI subcommands' handlers over `stockade_linux::oci::runtime`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use stockade_linux::oci::runtime::{CreateArgs, OciRuntime};

use super::{OciCli, OciCommand};

/// Runs one OCI subcommand.
pub fn dispatch(cli: &OciCli) -> anyhow::Result<ExitCode> {
    let rt = OciRuntime::new(&cli.root, cli.systemd_cgroup);
    match &cli.command {
        OciCommand::Create(a) => {
            refuse_preserved_fds(a.preserve_fds)?;
            rt.create(&a.id, &create_args(a))?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Start(a) => {
            rt.start(&a.id)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Run(a) => {
            refuse_preserved_fds(a.create.preserve_fds)?;
            let exit = rt.run(&a.create.id, &create_args(&a.create), a.detach)?;
            Ok(match exit {
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
        OciCommand::State(a) => {
            let state = rt.state(&a.id)?;
            print(&serde_json::to_string_pretty(&state)?)
        }
        OciCommand::Kill(a) => {
            rt.kill(&a.id, &a.signal, a.all)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Delete(a) => {
            rt.delete(&a.id, a.force)?;
            Ok(ExitCode::SUCCESS)
        }
        OciCommand::Exec(a) => super::exec::run(&rt, a),
        OciCommand::List(a) => {
            let all = rt.list()?;
            let text = if a.quiet {
                all.iter()
                    .map(|s| s.id.clone())
                    .collect::<Vec<_>>()
                    .join("\n")
            } else if a.format == "json" {
                serde_json::to_string(&all)?
            } else {
                let mut t = format!(
                    "{:<20} {:<8} {:<10} {:<40} {}",
                    "ID", "PID", "STATUS", "BUNDLE", "CREATED"
                );
                for s in &all {
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
            };
            print(&text)
        }
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
        OciCommand::Features => print(&serde_json::to_string_pretty(&super::features())?),
        OciCommand::Spec(a) => {
            let path = a.bundle.join("config.json");
            if path.exists() {
                anyhow::bail!("{} exists: remove it first", path.display());
            }
            std::fs::write(&path, stockade_linux::oci::template())
                .with_context(|| path.display().to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn create_args(a: &super::CreateArgs) -> CreateArgs {
    CreateArgs {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
    }
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
