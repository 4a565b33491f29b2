//! Soak benchmark (not a test): many lifecycles through the binary, then what they left.
//!
//! Run as root: `cargo bench -p stockade --bench soak [-- RUNS DETACHED]` (defaults 1000
//! foreground runs, 200 detached environments).
//! 1. RUNS × `stockade run` of `/bin/true` on one busybox root (limits on, so cgroups are
//!    made and removed every time).
//! 2. DETACHED × `create` + `start` of `sleep 30`; while each runs, three other processes
//!    race `stop`, `kill -s KILL` and `delete --force` against it; then `delete --force`.
//!    Before racing, the idle Rss and Pss of the first few environments' monitors are read
//!    (/proc/PID/smaps_rollup).
//! 3. Leaks, counted against a snapshot taken before: mounts mentioning the work folder,
//!    cgroups named `soak-*`, `sk-*` interfaces, state folders, live monitors, and the
//!    benchmark's own open fds. Exit status 1 when anything leaked.

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    fn count_mounts(needle: &Path) -> usize {
        let needle = needle.display().to_string();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    fn count_cgroups(prefix: &str) -> usize {
        let mut n = 0;
        let Ok(top) = fs::read_dir("/sys/fs/cgroup") else {
            return 0;
        };
        let mut dirs: Vec<PathBuf> = top.filter_map(Result::ok).map(|e| e.path()).collect();
        dirs.push("/sys/fs/cgroup".into());
        for d in dirs {
            if let Ok(entries) = fs::read_dir(d.join("stockade")) {
                n += entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                    .count();
            }
        }
        n
    }

    fn count_interfaces() -> usize {
        fs::read_dir("/sys/class/net")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("sk-soak"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn count_fds() -> usize {
        fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Rss and Pss (KiB) of a process, from /proc/PID/smaps_rollup: Rss counts every
    /// page it maps that is in memory, Pss shares each page among the processes mapping
    /// it (the C library's pages, say, among everything on the host).
    fn rss_pss_kib(pid: i32) -> Option<(u64, u64)> {
        let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        };
        Some((field("Rss:")?, field("Pss:")?))
    }

    fn ppid(pid: i32) -> Option<i32> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        after.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn main() {
        let mut numbers = std::env::args().skip(1).filter_map(|a| a.parse().ok());
        let runs: usize = numbers.next().unwrap_or(1000);
        let detached: usize = numbers.next().unwrap_or(200);
        if !nix::unistd::geteuid().is_root() {
            eprintln!("soak bench: needs root (namespaces, mounts, cgroups); skipped");
            return;
        }
        let work = tempfile::tempdir().expect("tempdir");
        let root = work.path().join("rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(root.join(d)).expect("root folders");
        }
        fs::copy("/bin/busybox", root.join("bin/busybox")).expect("static busybox");
        for a in ["sh", "true", "sleep"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).expect("applet");
        }
        let state = work.path().join("state");
        let stockade = PathBuf::from(env!("CARGO_BIN_EXE_stockade"));
        let spec = |name: &str, cmd: &str| -> PathBuf {
            let path = work.path().join(format!("{name}.toml"));
            let text = format!(
                "name = {name:?}\n[root]\npath = {:?}\n[process]\ncommand = [\"/bin/sh\", \"-c\", {cmd:?}]\n[limits]\nmemory = \"64M\"\nprocesses = 32\n",
                root.display().to_string()
            );
            fs::write(&path, text).expect("spec");
            path
        };
        let cli = |args: &[&str]| -> bool {
            Command::new(&stockade)
                .arg("--root")
                .arg(&state)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let before = (
            count_mounts(work.path()),
            count_cgroups("soak-"),
            count_interfaces(),
            count_fds(),
        );

        // 1. Foreground runs.
        let run_spec = spec("soak-run", "exec /bin/true");
        let start = Instant::now();
        let mut run_failures = 0;
        for _ in 0..runs {
            if !cli(&["run", run_spec.to_str().unwrap()]) {
                run_failures += 1;
            }
        }
        let run_time = start.elapsed();

        // 2. Detached, with racing stop / kill / delete.
        let mut rss = Vec::new();
        let mut detached_failures = 0;
        let start = Instant::now();
        for i in 0..detached {
            let name = format!("soak-d{i}");
            let file = spec(&name, "exec sleep 30");
            if !cli(&["create", file.to_str().unwrap()]) || !cli(&["start", &name]) {
                detached_failures += 1;
            }
            if i < 5 {
                // The monitor is the environment's parent; give it a moment to settle idle.
                std::thread::sleep(std::time::Duration::from_millis(200));
                let text =
                    fs::read_to_string(state.join(&name).join("state.json")).unwrap_or_default();
                let pid = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["pid"].as_i64())
                    .map(|p| p as i32);
                if let Some(m) = pid.and_then(ppid) {
                    if i == 0 {
                        let exe = fs::read_link(format!("/proc/{m}/exe")).unwrap_or_default();
                        println!("soak: the monitor runs {}", exe.display());
                    }
                    rss.extend(rss_pss_kib(m));
                }
            }
            let racers: Vec<_> = [
                vec!["stop", "--time", "1", name.as_str()],
                vec!["kill", "-s", "KILL", name.as_str()],
                vec!["delete", "--force", name.as_str()],
            ]
            .into_iter()
            .map(|args| {
                let mut c = Command::new(&stockade);
                c.arg("--root")
                    .arg(&state)
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                c.spawn().expect("racer")
            })
            .collect();
            for mut r in racers {
                let _ = r.wait();
            }
            // Whatever order the racers ran in, this leaves nothing (or finds nothing).
            let _ = cli(&["delete", "--force", &name]);
        }
        let detached_time = start.elapsed();
        std::thread::sleep(std::time::Duration::from_millis(500));

        let leaked_mounts = count_mounts(work.path()).saturating_sub(before.0);
        let leaked_cgroups = count_cgroups("soak-").saturating_sub(before.1);
        let leaked_ifaces = count_interfaces().saturating_sub(before.2);
        let leaked_fds = count_fds().saturating_sub(before.3);
        let leaked_states = fs::read_dir(&state)
            .map(|d| d.filter_map(Result::ok).count())
            .unwrap_or(0);
        let monitors = Command::new("pgrep")
            // Both `stockade --root STATE ...` and `stockade-monitor STATE NAME ...`.
            .args(["-f", &state.display().to_string()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0);
        println!(
            "soak: {runs} runs in {:.1} s ({:.1} ms each, {run_failures} failed)",
            run_time.as_secs_f64(),
            run_time.as_secs_f64() * 1000.0 / runs.max(1) as f64
        );
        println!("soak: {detached} detached create/start + racing stop/kill/delete in {:.1} s ({detached_failures} failed to start)",
            detached_time.as_secs_f64());
        println!("soak: idle monitor (Rss, Pss) in KiB: {rss:?}");
        println!(
            "soak: leaked mounts {leaked_mounts}, cgroups {leaked_cgroups}, interfaces {leaked_ifaces}, fds {leaked_fds}, state folders {leaked_states}, live processes {monitors}"
        );
        if leaked_mounts + leaked_cgroups + leaked_ifaces + leaked_fds + leaked_states + monitors
            > 0
            || run_failures > 0
        {
            std::process::exit(1);
        }
    }
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("soak bench: Linux only");
}
