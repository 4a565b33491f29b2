//! What the probe tries when asked: each attempt reports `{"ok": bool, "error": ...}`,
//! with the errno's name (or `SIGKILL` when a child doing the work was killed), plus a
//! count where the attempt is "how many of N".
//!
//! Forks happen only while the probe has one thread: the thread attempt runs last and
//! joins its threads before returning.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::observe::errno;
use crate::sys::{self, Fork, Status};
use crate::Config;

const MIB: u64 = 1 << 20;

fn outcome(r: io::Result<()>) -> Value {
    match r {
        Ok(()) => json!({ "ok": true, "error": null }),
        Err(e) => json!({ "ok": false, "error": errno(&e) }),
    }
}

fn bytes(mib: u64) -> io::Result<usize> {
    usize::try_from(mib.saturating_mul(MIB)).map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))
}

/// Touches `mib` MiB in a child, so that an OOM kill ends the child, not the probe.
fn alloc(mib: u64) -> Value {
    let len = match bytes(mib) {
        Ok(l) => l,
        Err(e) => return outcome(Err(e)),
    };
    match sys::fork() {
        Err(e) => outcome(Err(e)),
        Ok(Fork::Child) => {
            let code = match sys::touch_anonymous(len) {
                Ok(()) => 0,
                Err(e) => e.raw_os_error().unwrap_or(255).clamp(1, 255),
            };
            sys::exit_now(code)
        }
        Ok(Fork::Parent(pid)) => match sys::wait(pid) {
            Ok(Status::Exited(0)) => json!({ "ok": true, "error": null, "mib": mib }),
            Ok(Status::Exited(code)) => {
                json!({ "ok": false, "error": sys::errno_name(code), "mib": mib })
            }
            Ok(Status::Signaled(sig)) => json!({
                "ok": false, "error": sys::signal_name(sig), "signal": sys::signal_name(sig), "mib": mib,
            }),
            Err(e) => outcome(Err(e)),
        },
    }
}

fn mlock(mib: u64, limit: Option<u64>) -> Value {
    if let Some(limit) = limit {
        if let Err(e) = sys::set_memlock_soft(limit) {
            return json!({ "ok": false, "error": errno(&e), "step": "setrlimit" });
        }
    }
    outcome(bytes(mib).and_then(sys::mlock_anonymous))
}

/// Keeps up to `n` children alive at once; reports how many forks succeeded.
fn fork_many(n: u32) -> Value {
    let (reader, writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => return outcome(Err(e)),
    };
    let mut children = Vec::new();
    let mut error = None;
    for _ in 0..n {
        match sys::fork() {
            Ok(Fork::Child) => {
                // Wait for the parent to close its end: EOF once every writer is gone.
                drop(writer);
                let mut reader = reader;
                let mut byte = [0u8; 1];
                let _ = reader.read(&mut byte);
                sys::exit_now(0)
            }
            Ok(Fork::Parent(pid)) => children.push(pid),
            Err(e) => {
                error = Some(errno(&e));
                break;
            }
        }
    }
    drop(writer);
    for pid in &children {
        let _ = sys::wait(*pid);
    }
    json!({ "ok": error.is_none(), "error": error, "count": children.len(), "asked": n })
}

/// Keeps up to `n` threads alive at once; reports how many could be started.
fn threads(n: u32) -> Value {
    let gate = Arc::new(RwLock::new(()));
    let hold = gate.write();
    let mut handles = Vec::new();
    let mut error = None;
    for _ in 0..n {
        let gate = Arc::clone(&gate);
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(move || drop(gate.read()));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                error = Some(errno(&e));
                break;
            }
        }
    }
    drop(hold);
    let count = handles.len();
    for h in handles {
        let _ = h.join();
    }
    json!({ "ok": error.is_none(), "error": error, "count": count, "asked": n })
}

/// Keeps up to `n` files open at once; reports how many opened.
fn open_many(n: u32) -> Value {
    let mut files = Vec::new();
    let mut error = None;
    for _ in 0..n {
        match fs::File::open("/") {
            Ok(f) => files.push(f),
            Err(e) => {
                error = Some(errno(&e));
                break;
            }
        }
    }
    json!({ "ok": error.is_none(), "error": error, "count": files.len(), "asked": n })
}

fn mount_tmpfs(dir: &Path) -> Value {
    outcome(fs::create_dir_all(dir).and_then(|()| {
        sys::mount_tmpfs(dir)?;
        sys::unmount(dir)
    }))
}

fn connect(target: &str) -> Value {
    let addr: SocketAddr = match target.parse() {
        Ok(a) => a,
        Err(_) => return json!({ "ok": false, "error": "not an address" }),
    };
    outcome(TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map(drop))
}

fn write_file(path: &Path) -> Value {
    outcome(fs::File::create(path).and_then(|mut f| f.write_all(b"written by stockade-probe\n")))
}

/// Writes `mib` MiB to `path` (a size-limited tmpfs runs out), then removes it.
fn fill(path: &Path, mib: u64) -> Value {
    let attempt = || -> io::Result<()> {
        let mut f = fs::File::create(path)?;
        let chunk = vec![0x5au8; 1 << 20];
        for _ in 0..mib {
            f.write_all(&chunk)?;
        }
        f.sync_all()
    };
    let r = attempt();
    let _ = fs::remove_file(path);
    outcome(r)
}

fn sethostname(name: &str) -> Value {
    let r = sys::sethostname(name);
    let mut v = outcome(r);
    v["hostname_after"] = json!(sys::hostname().ok());
    v
}

fn mknod(path: &Path) -> Value {
    let r = sys::mknod_char(path, 1, 3);
    if r.is_ok() {
        let _ = fs::remove_file(path);
    }
    outcome(r)
}

fn chown(path: &Path) -> Value {
    let r =
        fs::write(path, b"").and_then(|()| std::os::unix::fs::chown(path, Some(1234), Some(1234)));
    let _ = fs::remove_file(path);
    outcome(r)
}

fn chflags(path: &Path) -> Value {
    if let Err(e) = fs::write(path, b"") {
        return json!({ "ok": false, "error": errno(&e), "step": "create" });
    }
    let r = sys::set_immutable(path, true);
    if r.is_ok() {
        let _ = sys::set_immutable(path, false);
    }
    let _ = fs::remove_file(path);
    outcome(r)
}

fn ptrace() -> Value {
    match sys::fork() {
        Err(e) => outcome(Err(e)),
        Ok(Fork::Child) => {
            std::thread::sleep(Duration::from_secs(30));
            sys::exit_now(0)
        }
        Ok(Fork::Parent(pid)) => {
            let r = sys::ptrace_attach(pid);
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::wait(pid);
            outcome(r)
        }
    }
}

fn loopback() -> Value {
    let attempt = || -> io::Result<()> {
        // The listener must stay open while the connection is made.
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        drop(listener);
        Ok(())
    };
    outcome(attempt())
}

fn cpu_burn(ms: u64) -> Value {
    let start = Instant::now();
    let cpu0 = sys::cpu_seconds();
    let mut x: u64 = 1;
    while start.elapsed() < Duration::from_millis(ms) {
        for _ in 0..10_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
        std::hint::black_box(x);
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = sys::cpu_seconds() - cpu0;
    json!({ "ok": true, "error": null, "wall": wall, "cpu": cpu, "ratio": cpu / wall })
}

/// A child forks a grandchild and exits at once; the grandchild, now an orphan, exits
/// 50 ms later. Whoever adopted it must reap it: is it gone 500 ms later?
fn orphan() -> Value {
    let (mut reader, writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => return outcome(Err(e)),
    };
    let child = match sys::fork() {
        Err(e) => return outcome(Err(e)),
        Ok(Fork::Child) => {
            drop(reader);
            let mut writer = writer;
            match sys::fork() {
                Ok(Fork::Child) => {
                    drop(writer);
                    std::thread::sleep(Duration::from_millis(50));
                    sys::exit_now(0)
                }
                Ok(Fork::Parent(pid)) => {
                    let _ = writer.write_all(&pid.to_ne_bytes());
                    sys::exit_now(0)
                }
                Err(_) => sys::exit_now(1),
            }
        }
        Ok(Fork::Parent(pid)) => pid,
    };
    drop(writer);
    let _ = sys::wait(child);
    let mut buf = [0u8; 4];
    if let Err(e) = reader.read_exact(&mut buf) {
        return outcome(Err(e));
    }
    let grandchild = i32::from_ne_bytes(buf);
    std::thread::sleep(Duration::from_millis(500));
    let reaped = !sys::exists(grandchild);
    if !reaped {
        // Adopted by the probe itself (it is PID 1 without a reaper): reap it now so
        // that the probe leaves nothing behind.
        let _ = sys::wait(grandchild);
    }
    json!({ "ok": reaped, "error": if reaped { Value::Null } else { json!("zombie") }, "reaped": reaped })
}

/// Runs every attempt the configuration asks for.
pub fn run(c: &Config) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(mib) = c.alloc {
        out.insert("alloc".into(), alloc(mib));
    }
    if let Some(mib) = c.alloc_self {
        // In the probe itself: an OOM kill ends the environment's first process.
        out.insert(
            "alloc_self".into(),
            outcome(bytes(mib).and_then(sys::touch_anonymous)),
        );
    }
    if let Some(mib) = c.mlock {
        out.insert("mlock".into(), mlock(mib, c.memlock_limit));
    }
    if let Some(n) = c.fork {
        out.insert("fork".into(), fork_many(n));
    }
    if let Some(n) = c.open {
        out.insert("open".into(), open_many(n));
    }
    if c.raw_socket {
        out.insert("raw_socket".into(), outcome(sys::raw_socket().map(drop)));
    }
    if let Some(dir) = &c.mount_tmpfs {
        out.insert("mount_tmpfs".into(), mount_tmpfs(dir));
    }
    if !c.connect.is_empty() {
        let m: Map<String, Value> = c.connect.iter().map(|t| (t.clone(), connect(t))).collect();
        out.insert("connect".into(), Value::Object(m));
    }
    if !c.write.is_empty() {
        let m: Map<String, Value> = c
            .write
            .iter()
            .map(|p| (p.display().to_string(), write_file(p)))
            .collect();
        out.insert("write".into(), Value::Object(m));
    }
    if !c.remove.is_empty() {
        let m: Map<String, Value> = c
            .remove
            .iter()
            .map(|p| (p.display().to_string(), outcome(fs::remove_file(p))))
            .collect();
        out.insert("remove".into(), Value::Object(m));
    }
    if let Some((path, mib)) = &c.fill {
        out.insert("fill".into(), fill(path, *mib));
    }
    if let Some(name) = &c.sethostname {
        out.insert("sethostname".into(), sethostname(name));
    }
    if let Some(p) = &c.mknod {
        out.insert("mknod".into(), mknod(p));
    }
    if let Some(port) = c.listen {
        let listening = TcpListener::bind(("0.0.0.0", port)).map(|l| {
            // Kept open until the probe exits: the host connects while it sleeps.
            std::mem::forget(l);
        });
        out.insert("listen".into(), outcome(listening));
    }
    if let Some(port) = c.bind_port {
        out.insert(
            "bind_port".into(),
            outcome(TcpListener::bind(("127.0.0.1", port)).map(drop)),
        );
    }
    if let Some(p) = &c.chown {
        out.insert("chown".into(), chown(p));
    }
    if let Some(p) = &c.chflags {
        out.insert("chflags".into(), chflags(p));
    }
    if c.ptrace {
        out.insert("ptrace".into(), ptrace());
    }
    if let Some(key) = c.shm_get {
        out.insert("shm_get".into(), outcome(sys::shm_lookup(key).map(drop)));
    }
    if c.shm_private {
        out.insert("shm_private".into(), outcome(sys::shm_attach_mode_000()));
    }
    if let Some(key) = c.shm_create {
        out.insert("shm_create".into(), outcome(sys::shm_create(key).map(drop)));
    }
    if let Some(key) = c.shm_remove {
        out.insert("shm_remove".into(), outcome(sys::shm_remove(key)));
    }
    if let Some(prio) = c.nice {
        out.insert("nice".into(), outcome(sys::set_priority(prio)));
    }
    if c.loopback {
        out.insert("loopback".into(), loopback());
    }
    if let Some(ms) = c.cpu_burn {
        out.insert("cpu_burn".into(), cpu_burn(ms));
    }
    if c.orphan {
        out.insert("orphan".into(), orphan());
    }
    // Last: after this the probe is no longer guaranteed single-threaded... it is again
    // once the threads are joined, but nothing forks after it anyway.
    if let Some(n) = c.threads {
        out.insert("threads".into(), threads(n));
    }
    out
}
