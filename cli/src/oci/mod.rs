//! `stockade oci ...` and `stockade-oci ...`: the OCI runtime command line, in runc's
//! grammar so that podman (conmon), containerd's runc shim and CRI-O drive stockade
//! without a special case: global `--root`, `--log`, `--log-format`, `--systemd-cgroup`,
//! `--debug` before the subcommand; `create --bundle DIR --pid-file F ID`, `start ID`,
//! `state ID`, `kill ID [SIGNAL] [--all]`, `delete [--force] ID`, `run`, `exec`, `list`,
//! `ps`, `pause`, `resume`, `features`, `spec`.
//!
//! Arguments live here; the handlers, shared by every OS, in `handlers.rs`; each OS's
//! runtime behind them in `linux.rs` and `freebsd.rs`.

#[cfg(target_os = "linux")]
mod exec;
#[cfg(target_os = "freebsd")]
mod freebsd;
mod handlers;
#[cfg(target_os = "linux")]
mod linux;
mod log;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// The name the binary answers to as an OCI runtime (a symlink to `stockade`).
pub const OCI_NAME: &str = "stockade-oci";

/// The OCI runtime state root when none is given: runc's is /run/runc.
pub const DEFAULT_ROOT: &str = "/run/stockade-oci";

/// stockade as an OCI runtime (runc's command line).
#[derive(Debug, Parser)]
#[command(name = "stockade-oci", version = version(), about)]
pub struct OciCli {
    /// State folder: one subfolder per container.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    /// Append errors (and with --debug, each command) to this file instead of only stderr.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of the --log file.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// linux.cgroupsPath is systemd's `slice:prefix:name`.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Log each command too.
    #[arg(long, global = true)]
    pub debug: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: OciCommand,
}

fn version() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0")
}

/// The --log file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `time level message`.
    Text,
    /// One JSON object a line: `{"level":"error","msg":"...","time":"..."}`, as runc.
    Json,
}

/// Every OCI subcommand.
#[derive(Debug, Subcommand)]
pub enum OciCommand {
    /// Make a container from a bundle; its process waits for `start`.
    Create(CreateArgs),
    /// Let a created container's process run.
    Start(IdArg),
    /// Create and start a container, then wait for it (or --detach).
    Run(RunArgs),
    /// Print a container's state (runtime-spec JSON).
    State(IdArg),
    /// Send a signal to a container's process (or, with --all, all of them).
    Kill(KillArgs),
    /// Remove a container and everything made for it.
    Delete(DeleteArgs),
    /// Run another process in a running container.
    Exec(ExecArgs),
    /// List containers.
    List(ListArgs),
    /// List a container's processes.
    Ps(PsArgs),
    /// Freeze every process of a container (cgroup freezer).
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Print what this runtime supports (runtime-spec features JSON).
    Features,
    /// Write a template config.json into the bundle folder.
    Spec(SpecArgs),
}

/// A container id.
#[derive(Debug, clap::Args)]
pub struct IdArg {
    /// The container id.
    pub id: String,
}

/// `create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The bundle folder (holds config.json).
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Write the process's host PID here before returning.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the terminal's master fd (process.terminal).
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Accepted as runc does: stockade never makes a session keyring.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Extra fds to pass (only 0 is supported).
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// The container id.
    pub id: String,
}

/// `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// As `create`.
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the process runs instead of waiting for it.
    #[arg(short, long)]
    pub detach: bool,
}

/// `kill`.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// Signal every process in the container.
    #[arg(short, long)]
    pub all: bool,
    /// The container id.
    pub id: String,
    /// Name (TERM, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// `delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Kill a running container first; succeed when it does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// The container id.
    pub id: String,
}

/// `exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// A runtime-spec process JSON file (instead of ARGS).
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Return at once; the process is reparented to the caller's subreaper.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's host PID here.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the terminal's master fd.
    #[arg(long, value_name = "SOCKET")]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container.
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables, NAME=value.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// uid[:gid].
    #[arg(short, long)]
    pub user: Option<String>,
    /// The container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Ids only.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// table or json.
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// The container id.
    pub id: String,
}

/// `spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The bundle folder to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
}

/// The OCI arguments when the binary was invoked as `stockade-oci` (argv[0]) or as
/// `stockade oci ...`; `None` for the ordinary CLI.
pub fn oci_args(args: &[OsString]) -> Option<Vec<OsString>> {
    let name = args.first().and_then(|a| {
        std::path::Path::new(a)
            .file_name()
            .map(|n| n.to_os_string())
    })?;
    if name == OCI_NAME {
        return Some(args.to_vec());
    }
    if args.get(1).is_some_and(|a| a == "oci") {
        let mut out = vec![OsString::from("stockade oci")];
        out.extend(args[2..].iter().cloned());
        return Some(out);
    }
    None
}

/// Parses and runs an OCI command line; errors go to stderr and to --log.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let cli = OciCli::parse_from(args);
    let logger = log::Logger::new(cli.log.clone(), cli.log_format);
    if cli.debug {
        logger.debug(&format!("{:?}", cli.command));
    }
    match dispatch(&cli) {
        Ok(code) => code,
        Err(err) => {
            let msg = format!("{err:#}");
            eprintln!("stockade-oci: {msg}");
            logger.error(&msg);
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_os = "linux")]
fn dispatch(cli: &OciCli) -> anyhow::Result<ExitCode> {
    linux::dispatch(cli)
}

#[cfg(target_os = "freebsd")]
fn dispatch(cli: &OciCli) -> anyhow::Result<ExitCode> {
    freebsd::dispatch(cli)
}

#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn dispatch(_cli: &OciCli) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the OCI runtime runs on Linux and FreeBSD only")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn argv0_and_subcommand_dispatch() {
        assert!(oci_args(&os(&["/usr/bin/stockade", "run", "x.toml"])).is_none());
        let a = oci_args(&os(&["/usr/local/bin/stockade-oci", "state", "c1"])).unwrap();
        assert_eq!(a, os(&["/usr/local/bin/stockade-oci", "state", "c1"]));
        let b = oci_args(&os(&["stockade", "oci", "--root", "/r", "state", "c1"])).unwrap();
        assert_eq!(&b[1..], &os(&["--root", "/r", "state", "c1"])[..]);
    }

    #[test]
    fn runc_grammar_parses() {
        let cli = OciCli::parse_from(os(&[
            "stockade-oci",
            "--root",
            "/run/x",
            "--log",
            "/tmp/l.json",
            "--log-format",
            "json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ]));
        assert_eq!(cli.root, PathBuf::from("/run/x"));
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(cli.systemd_cgroup);
        let OciCommand::Create(c) = cli.command else {
            panic!("create")
        };
        assert_eq!(c.bundle, PathBuf::from("/b"));
        assert_eq!(c.pid_file, Some(PathBuf::from("/p")));
        assert_eq!(c.id, "c1");

        let cli = OciCli::parse_from(os(&["stockade-oci", "kill", "--all", "c1", "KILL"]));
        let OciCommand::Kill(k) = cli.command else {
            panic!("kill")
        };
        assert!(k.all);
        assert_eq!((k.id.as_str(), k.signal.as_str()), ("c1", "KILL"));

        let cli = OciCli::parse_from(os(&["stockade-oci", "kill", "c1"]));
        let OciCommand::Kill(k) = cli.command else {
            panic!("kill")
        };
        assert_eq!(k.signal, "SIGTERM");

        let cli = OciCli::parse_from(os(&["stockade-oci", "delete", "--force", "c1"]));
        let OciCommand::Delete(d) = cli.command else {
            panic!("delete")
        };
        assert!(d.force);

        let cli = OciCli::parse_from(os(&[
            "stockade-oci",
            "exec",
            "--detach",
            "--pid-file",
            "/p",
            "c1",
            "sh",
            "-c",
            "echo hi",
        ]));
        let OciCommand::Exec(e) = cli.command else {
            panic!("exec")
        };
        assert!(e.detach);
        assert_eq!(e.args, ["sh", "-c", "echo hi"]);

        let cli = OciCli::parse_from(os(&["stockade-oci", "exec", "--process", "/p.json", "c1"]));
        let OciCommand::Exec(e) = cli.command else {
            panic!("exec")
        };
        assert_eq!(e.process, Some(PathBuf::from("/p.json")));
        assert!(e.args.is_empty());
    }

    #[test]
    fn root_defaults_like_runc() {
        let cli = OciCli::parse_from(os(&["stockade-oci", "list"]));
        assert_eq!(cli.root, PathBuf::from(DEFAULT_ROOT));
    }
}
