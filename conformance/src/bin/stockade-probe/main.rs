//! stockade-probe: runs inside an environment and prints one JSON object of what it
//! observes (host name, ids, processes, mounts, paths, interfaces, limits, privileges,
//! open descriptors) and of the attempts it was asked to make (allocate memory, fork,
//! open files, raw sockets, mounts, connections, writes...). Each attempt reports
//! `{"ok": bool, "error": "EPERM" | null, ...}` with the errno's name, so the suite can
//! compare Linux and FreeBSD by meaning rather than by number.
//!
//! It then optionally raises a signal, sleeps (a long-running environment for lifecycle
//! cases, with signal traps), and exits with a chosen status.
//!
//! Only std, libc and serde_json: it builds static for `x86_64-unknown-linux-musl` and
//! runs in a bare root that holds nothing else. Run `stockade-probe --help` for flags.
#![deny(unsafe_code)]

mod attempt;
mod observe;
mod sys;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};

const USAGE: &str = "\
usage: stockade-probe [OBSERVATIONS] [ATTEMPTS] [THEN]

observations (always: identity, processes, mounts, interfaces, rlimits, privileges, fds):
  --path P          does P exist, is it writable, its file system type, read-only?
  --read P          the first 4 KiB of P
attempts (each reports {ok, error}):
  --alloc MIB       touch MIB MiB of fresh memory in a child process
  --alloc-self MIB  touch MIB MiB of fresh memory in the probe itself
  --mlock MIB       lock MIB MiB of memory   (--memlock-limit BYTES lowers RLIMIT_MEMLOCK first)
  --fork N          keep N children alive at once
  --threads N       keep N threads alive at once
  --open N          keep N files open at once
  --raw-socket      open a raw ICMP socket
  --mount-tmpfs DIR mount (and unmount) a tmpfs at DIR
  --connect IP:PORT TCP connect, 3 s timeout (repeatable)
  --write P         create or truncate P and write to it (repeatable)
  --fill P MIB      write MIB MiB to P (then remove it)
  --remove P        remove the file P (repeatable)
  --sethostname N   set the host name
  --mknod P         make a character device node (1:3) at P
  --bind-port PORT  listen on 127.0.0.1:PORT
  --listen PORT     listen on 0.0.0.0:PORT until the probe exits
  --chown P         create P and give it to uid/gid 1234
  --chflags P       create P and make it immutable (then mutable again)
  --ptrace          attach to a child with ptrace
  --shm-get KEY     look up a System V shared memory segment
  --shm-private     create and attach a mode-000 SysV segment
  --shm-create KEY / --shm-remove KEY   (host-side helpers)
  --nice PRIO       setpriority(PRIO_PROCESS, 0, PRIO)
  --loopback        listen on 127.0.0.1 and connect to it
  --cpu-burn MS     spin for MS ms of wall time; report CPU time / wall time
  --orphan          leave an orphan that exits; report whether it was reaped
then:
  --quiet           print nothing
  --trap SIG:CODE   exit with CODE on SIG (SIG:ignore ignores it) (repeatable)
  --raise SIG       send SIG to itself
  --sleep SECS      sleep before exiting
  --exit N          exit status (default 0)
";

/// Everything the command line asks for.
#[derive(Debug, Default)]
pub struct Config {
    pub paths: Vec<PathBuf>,
    pub reads: Vec<PathBuf>,
    pub alloc: Option<u64>,
    pub alloc_self: Option<u64>,
    pub mlock: Option<u64>,
    pub memlock_limit: Option<u64>,
    pub fork: Option<u32>,
    pub threads: Option<u32>,
    pub open: Option<u32>,
    pub raw_socket: bool,
    pub mount_tmpfs: Option<PathBuf>,
    pub connect: Vec<String>,
    pub write: Vec<PathBuf>,
    pub fill: Option<(PathBuf, u64)>,
    pub remove: Vec<PathBuf>,
    pub sethostname: Option<String>,
    pub mknod: Option<PathBuf>,
    pub bind_port: Option<u16>,
    /// Listen on this TCP port on every address for the probe's whole life (a server a
    /// published port can reach; connections wait in the backlog).
    pub listen: Option<u16>,
    pub chown: Option<PathBuf>,
    pub chflags: Option<PathBuf>,
    pub ptrace: bool,
    pub shm_get: Option<i32>,
    pub shm_private: bool,
    pub shm_create: Option<i32>,
    pub shm_remove: Option<i32>,
    pub nice: Option<i32>,
    pub loopback: bool,
    pub cpu_burn: Option<u64>,
    pub orphan: bool,
    pub quiet: bool,
    pub traps: Vec<(i32, sys::Trap)>,
    pub raise: Option<i32>,
    pub sleep: Option<f64>,
    pub exit: i32,
}

fn parse_num<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a number"))
}

fn parse_signal(flag: &str, value: &str) -> Result<i32, String> {
    sys::signal_number(value).ok_or_else(|| format!("{flag}: unknown signal {value:?}"))
}

fn parse_trap(value: &str) -> Result<(i32, sys::Trap), String> {
    let (sig, action) = value
        .split_once(':')
        .ok_or_else(|| format!("--trap: {value:?} is not SIG:CODE or SIG:ignore"))?;
    let sig = parse_signal("--trap", sig)?;
    let action = if action == "ignore" {
        sys::Trap::Ignore
    } else {
        sys::Trap::Exit(parse_num("--trap", action)?)
    };
    Ok((sig, action))
}

fn parse(args: &[String]) -> Result<Config, String> {
    let mut c = Config::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .map(String::as_str)
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--path" => c.paths.push(value()?.into()),
            "--read" => c.reads.push(value()?.into()),
            "--alloc" => c.alloc = Some(parse_num(flag, value()?)?),
            "--alloc-self" => c.alloc_self = Some(parse_num(flag, value()?)?),
            "--mlock" => c.mlock = Some(parse_num(flag, value()?)?),
            "--memlock-limit" => c.memlock_limit = Some(parse_num(flag, value()?)?),
            "--fork" => c.fork = Some(parse_num(flag, value()?)?),
            "--threads" => c.threads = Some(parse_num(flag, value()?)?),
            "--open" => c.open = Some(parse_num(flag, value()?)?),
            "--raw-socket" => c.raw_socket = true,
            "--mount-tmpfs" => c.mount_tmpfs = Some(value()?.into()),
            "--connect" => c.connect.push(value()?.to_string()),
            "--write" => c.write.push(value()?.into()),
            "--remove" => c.remove.push(value()?.into()),
            "--fill" => {
                let path = value()?.into();
                c.fill = Some((path, parse_num(flag, value()?)?));
            }
            "--sethostname" => c.sethostname = Some(value()?.to_string()),
            "--mknod" => c.mknod = Some(value()?.into()),
            "--bind-port" => c.bind_port = Some(parse_num(flag, value()?)?),
            "--listen" => c.listen = Some(parse_num(flag, value()?)?),
            "--chown" => c.chown = Some(value()?.into()),
            "--chflags" => c.chflags = Some(value()?.into()),
            "--ptrace" => c.ptrace = true,
            "--shm-get" => c.shm_get = Some(parse_num(flag, value()?)?),
            "--shm-private" => c.shm_private = true,
            "--shm-create" => c.shm_create = Some(parse_num(flag, value()?)?),
            "--shm-remove" => c.shm_remove = Some(parse_num(flag, value()?)?),
            "--nice" => c.nice = Some(parse_num(flag, value()?)?),
            "--loopback" => c.loopback = true,
            "--cpu-burn" => c.cpu_burn = Some(parse_num(flag, value()?)?),
            "--orphan" => c.orphan = true,
            "--quiet" => c.quiet = true,
            "--trap" => c.traps.push(parse_trap(value()?)?),
            "--raise" => c.raise = Some(parse_signal(flag, value()?)?),
            "--sleep" => c.sleep = Some(parse_num(flag, value()?)?),
            "--exit" => c.exit = parse_num(flag, value()?)?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(c)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(c) => c,
        Err(msg) => {
            if msg.is_empty() {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("stockade-probe: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Traps first, so a signal sent while the probe still observes is already handled.
    for (sig, action) in &config.traps {
        if let Err(e) = sys::trap(*sig, *action) {
            eprintln!("stockade-probe: --trap {}: {e}", sys::signal_name(*sig));
        }
    }
    let mut report: Map<String, Value> = observe::observe(&config);
    report.insert("attempts".into(), Value::Object(attempt::run(&config)));
    if !config.quiet {
        let mut out = std::io::stdout().lock();
        // A closed stdout (a detached environment whose caller went away) must not stop
        // the probe from sleeping and exiting as asked.
        let _ = writeln!(out, "{}", Value::Object(report));
        let _ = out.flush();
    }
    if let Some(sig) = config.raise {
        if let Err(e) = sys::raise(sig) {
            eprintln!("stockade-probe: --raise {}: {e}", sys::signal_name(sig));
        }
    }
    if let Some(secs) = config.sleep {
        std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
    }
    ExitCode::from(u8::try_from(config.exit.clamp(0, 255)).unwrap_or(u8::MAX))
}
