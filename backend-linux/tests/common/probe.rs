//! The test binary as its own probe: a process inside an environment that does what a
//! test asks (allocate, fork, open files, burn CPU, try a syscall) and writes what
//! happened to `/out/<action>` as `key=value` lines.
//!
//! busybox cannot allocate memory on demand, call keyctl(2) or count its file
//! descriptors, so each test binary that includes this module has a `probe` test that
//! does nothing unless `STOCKADE_PROBE` is set. Inside an environment the binary is
//! bind-mounted at `/probe` and started as `/probe probe --exact`, which runs just that
//! test. On a glibc host the binary's shared libraries are copied into the root (per
//! `ldd`); the static musl build (the VM) needs none.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::World;

/// Inside: the action `STOCKADE_PROBE` names, if any (the `probe` test's body).
pub fn serve() {
    let Ok(action) = std::env::var("STOCKADE_PROBE") else {
        return;
    };
    let words: Vec<&str> = action.split_whitespace().collect();
    let num = |i: usize| -> u64 { words.get(i).and_then(|w| w.parse().ok()).unwrap_or(0) };
    let out = match words.first().copied().unwrap_or("") {
        "alloc" => alloc(num(1)),
        "hold" => hold(num(1), num(2), num(3)),
        "fork" => fork(num(1)),
        "files" => files(),
        "burn" => burn(num(1)),
        "keyctl" => keyctl(),
        "raw" => raw_socket(),
        "mount" => mount(),
        other => format!("error=unknown action {other:?}\n"),
    };
    let name = words.first().copied().unwrap_or("probe");
    fs::write(format!("/out/{name}"), out).expect("write /out");
}

fn errno(e: &std::io::Error) -> String {
    format!("errno={}\n", e.raw_os_error().unwrap_or(-1))
}

fn threads() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time of the calling thread, in ns (first field of schedstat).
fn thread_cpu_ns() -> u64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Allocates and touches `mib` MiB, 1 MiB at a time, and keeps it.
fn touch(mib: u64) -> Vec<Vec<u8>> {
    (0..mib).map(|_| vec![1u8; 1 << 20]).collect()
}

fn alloc(mib: u64) -> String {
    let kept = touch(mib);
    format!("survived={}\n", kept.len())
}

fn spin(ms: u64) -> (u64, u64) {
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    let mut x = 0u64;
    while start.elapsed() < Duration::from_millis(ms) {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    (thread_cpu_ns() - cpu0, start.elapsed().as_nanos() as u64)
}

/// For `stats`: hold `mib` MiB, burn `cpu_ms` of CPU time, start `children` sleepers,
/// report, then wait to be stopped.
fn hold(mib: u64, cpu_ms: u64, children: u64) -> String {
    let kept = touch(mib);
    let start = Instant::now();
    let cpu0 = thread_cpu_ns();
    while thread_cpu_ns() - cpu0 < cpu_ms * 1_000_000 && start.elapsed() < Duration::from_secs(30) {
        std::hint::black_box(kept.len());
    }
    let kids: Vec<_> = (0..children)
        .filter_map(|_| Command::new("/bin/sleep").arg("600").spawn().ok())
        .collect();
    let report = format!(
        "mib={}\ncpu_ns={}\nthreads={}\nchildren={}\n",
        kept.len(),
        thread_cpu_ns() - cpu0,
        threads(),
        kids.len()
    );
    // Whole or not at all: the test polls for the file.
    fs::write("/out/.hold", &report).expect("write /out/.hold");
    fs::rename("/out/.hold", "/out/hold").expect("rename to /out/hold");
    std::thread::sleep(Duration::from_secs(600));
    report
}

/// Starts sleepers until `n` or the first failure.
fn fork(n: u64) -> String {
    let mut kids = Vec::new();
    let mut last = String::from("errno=0\n");
    for _ in 0..n {
        match Command::new("/bin/sleep").arg("60").spawn() {
            Ok(c) => kids.push(c),
            Err(e) => {
                last = errno(&e);
                break;
            }
        }
    }
    format!("spawned={}\nthreads={}\n{last}", kids.len(), threads())
}

/// Opens /dev/null until it fails.
fn files() -> String {
    let mut kept = Vec::new();
    let mut max_fd = 0;
    let last = loop {
        match fs::File::open("/dev/null") {
            Ok(f) => {
                max_fd = max_fd.max(std::os::fd::AsRawFd::as_raw_fd(&f));
                kept.push(f);
                if kept.len() > 1 << 20 {
                    break "errno=0\n".to_string();
                }
            }
            Err(e) => break errno(&e),
        }
    };
    let mut limits = String::new();
    drop(kept);
    fs::File::open("/proc/self/limits")
        .and_then(|mut f| f.read_to_string(&mut limits))
        .expect("read /proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or("")
        .split_whitespace()
        .skip(3)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    format!("max_fd_plus_one={}\nlimit={line}\n{last}", max_fd + 1)
}

fn burn(ms: u64) -> String {
    let (cpu, wall) = spin(ms);
    format!("cpu_ns={cpu}\nwall_ns={wall}\n")
}

fn keyctl() -> String {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID) takes two integers and no pointers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0 as libc::c_long,
        )
    };
    if rc < 0 {
        errno(&std::io::Error::last_os_error())
    } else {
        "errno=0\n".into()
    }
}

fn raw_socket() -> String {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
    match socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    ) {
        Ok(_) => "errno=0\n".into(),
        Err(e) => errno(&e.into()),
    }
}

fn mount() -> String {
    match nix::mount::mount(
        Some("probe"),
        "/tmp",
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    ) {
        Ok(()) => {
            let _ = nix::mount::umount("/tmp");
            "errno=0\n".into()
        }
        Err(e) => errno(&e.into()),
    }
}

/// Outside: the files a glibc-linked binary needs, per `ldd` (none for a static one).
fn libraries(exe: &Path) -> Vec<String> {
    if cfg!(target_env = "musl") {
        return Vec::new();
    }
    let out = Command::new("ldd").arg(exe).output().expect("run ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| path.to_string())
        })
        .collect()
}

impl World {
    /// Makes this world's root able to run the probe (its libraries, if any).
    pub fn install_probe(&self) {
        let exe = std::env::current_exe().expect("current_exe");
        for lib in libraries(&exe) {
            let dest = self.root.join(lib.trim_start_matches('/'));
            fs::create_dir_all(dest.parent().expect("a library has a folder")).unwrap();
            fs::copy(&lib, &dest).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
        }
    }

    /// A spec whose process is the probe doing `action`, plus `extra` TOML tables.
    pub fn probe_spec(&self, name: &str, action: &str, extra: &str) -> stockade_core::Spec {
        self.install_probe();
        let exe = std::env::current_exe().expect("current_exe");
        let bind = format!(
            "[[mount]]\nkind = \"bind\"\nsource = {:?}\ntarget = \"/probe\"\nreadonly = true\n",
            exe.display().to_string()
        );
        self.spec_with(
            name,
            "exec /probe probe --exact --test-threads=1 --nocapture -q > /out/probe.log 2>&1",
            &format!("env = {{ STOCKADE_PROBE = {action:?} }}"),
            &format!("{bind}{extra}"),
        )
    }

    /// The `key=value` lines the probe wrote to `/out/<file>`.
    pub fn report(&self, file: &str) -> BTreeMap<String, String> {
        let text = fs::read_to_string(self.out.join(file)).unwrap_or_else(|e| {
            let log = fs::read_to_string(self.out.join("probe.log")).unwrap_or_default();
            panic!("{file}: {e}; probe log:\n{log}")
        });
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// One number of a report.
    pub fn figure(&self, file: &str, key: &str) -> i64 {
        let r = self.report(file);
        r.get(key)
            .unwrap_or_else(|| panic!("{file} has no {key}: {r:?}"))
            .parse()
            .unwrap_or_else(|e| panic!("{file} {key}: {e}"))
    }
}
