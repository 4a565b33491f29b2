//! Copy-on-write benchmark: what `root.overlay = true` costs in time, and what it saves in
//! disk.
//!
//! Run as root: `cargo bench -p stockade --bench overlay [-- ROUNDS [ENVS]]` (defaults 40
//! rounds, 100 environments).
//! 1. **Time**: `stockade run` (create + start + wait + delete) of /bin/true on one
//!    busybox base, as a plain `root.path` environment and as an overlay one, in
//!    interleaved rounds so machine noise hits both alike; median and p90 wall time. Twice:
//!    with the state folder on the base's disk, and on a tmpfs, as `/run` usually is (the
//!    writable layer lives in the state folder, and each file deleted on a disk costs a
//!    journal write, more still with `discard`).
//! 2. **Disk**: ENVS overlay environments created on the same base (with a 16 MiB file
//!    in it, so that copies would show), each writing one small file and left running;
//!    the disk used by the base plus every writable layer, against what ENVS copies of
//!    the base would take. Blocks are counted (st_blocks), each inode once.

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::BTreeSet;
    use std::fs;
    use std::io::{Read as _, Seek as _, SeekFrom};
    use std::os::unix::fs::MetadataExt as _;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    pub fn main() {
        let mut numbers = std::env::args().skip(1).filter_map(|a| a.parse().ok());
        let rounds: usize = numbers.next().unwrap_or(40);
        let envs: usize = numbers.next().unwrap_or(100);
        if !nix::unistd::geteuid().is_root() {
            eprintln!("overlay bench: needs root (namespaces, mounts, cgroups); skipped");
            return;
        }
        let work = tempfile::tempdir().expect("tempdir");
        let base = work.path().join("base");
        make_base(&base);
        let stockade = PathBuf::from(env!("CARGO_BIN_EXE_stockade"));
        let state = work.path().join("state");
        let state_tmpfs = work.path().join("state-tmpfs");
        private_tmpfs(&state_tmpfs);
        let cli_in = |state: &Path, args: &[&str]| -> Result<(), String> {
            let mut argv = vec!["--root", state.to_str().expect("utf-8 path")];
            argv.extend_from_slice(args);
            run_once(&stockade, &argv)
        };
        let cli = |args: &[&str]| cli_in(&state, args);

        // 1. create + start + delete, plain vs overlay.
        let spec = |name: &str, overlay: bool, script: &str| -> PathBuf {
            let path = work.path().join(format!("{name}.toml"));
            let text = format!(
                "name = {name:?}\n[root]\npath = {:?}\n{}[process]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n",
                base.display().to_string(),
                if overlay { "overlay = true\n" } else { "" },
            );
            fs::write(&path, text).expect("write spec");
            path
        };
        let plain = spec("plain", false, "exec /bin/true");
        let cow = spec("cow", true, "exec /bin/true");
        for (where_, state) in [("on disk", &state), ("on tmpfs", &state_tmpfs)] {
            let mut cases = [
                ("root.path", plain.clone(), Vec::new()),
                ("root.overlay", cow.clone(), Vec::new()),
            ];
            let run = |path: &Path| cli_in(state, &["run", path.to_str().expect("utf-8")]);
            for (name, path, _) in &cases {
                if let Err(e) = run(path) {
                    eprintln!("overlay bench: {name} failed its warm-up run: {e}");
                    std::process::exit(1);
                }
            }
            for round in 0..rounds {
                for i in 0..cases.len() {
                    let (name, path, times) = &mut cases[(round + i) % 2];
                    let start = Instant::now();
                    run(path).unwrap_or_else(|e| panic!("{name}: {e}"));
                    times.push(start.elapsed());
                }
            }
            println!(
                "create + start + delete of /bin/true on one busybox base, state folder \
                 {where_}, {rounds} interleaved rounds"
            );
            println!("{:<14} {:>10} {:>10}", "root", "median", "p90");
            let mut medians = Vec::new();
            for (name, _, times) in &mut cases {
                times.sort();
                let (m, p90) = (times[times.len() / 2], times[times.len() * 9 / 10]);
                medians.push(m);
                println!("{name:<14} {:>8.2}ms {:>8.2}ms", ms(m), ms(p90));
            }
            println!(
                "overlay costs {:+.2}ms per environment ({:.2}x)\n",
                ms(medians[1]) - ms(medians[0]),
                medians[1].as_secs_f64() / medians[0].as_secs_f64()
            );
        }

        // 2. disk of ENVS environments on one base.
        let start = Instant::now();
        let mut names = Vec::new();
        for i in 0..envs {
            let name = format!("cow{i:03}");
            let path = spec(
                &name,
                true,
                &format!("echo {name} > /etc/motd; exec sleep 1000"),
            );
            cli(&["run", "-d", path.to_str().expect("utf-8")])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            names.push(name);
        }
        let made = start.elapsed();
        // Each writes its file right after it starts.
        let deadline = Instant::now() + Duration::from_secs(60);
        for name in &names {
            let motd = state.join(name).join("layer/upper/etc/motd");
            while !motd.exists() {
                assert!(Instant::now() < deadline, "{name} never wrote");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let base_bytes = disk_usage(std::slice::from_ref(&base));
        let layers: Vec<PathBuf> = names.iter().map(|n| state.join(n).join("layer")).collect();
        let layer_bytes = disk_usage(&layers);
        let copies = base_bytes * envs as u64;
        println!(
            "{envs} overlay environments on one base (created and started in {:.2}s, {:.1}ms each)",
            made.as_secs_f64(),
            ms(made) / envs as f64
        );
        println!("{:<34} {:>12}", "base", mib(base_bytes));
        println!(
            "{:<34} {:>12}  ({} per environment)",
            format!("{envs} writable layers"),
            mib(layer_bytes),
            kib(layer_bytes / envs as u64)
        );
        println!(
            "{:<34} {:>12}",
            "base + layers",
            mib(base_bytes + layer_bytes)
        );
        println!(
            "{:<34} {:>12}  ({:.1}x more)",
            format!("{envs} copies of the base"),
            mib(copies),
            copies as f64 / (base_bytes + layer_bytes) as f64
        );
        let start = Instant::now();
        for name in &names {
            // One retry: a monitor that records the exit while delete removes the state
            // folder can leave it not quite empty (a race outside the overlay code).
            cli(&["delete", "--force", name])
                .or_else(|_| cli(&["delete", "--force", name]))
                .unwrap_or_else(|e| panic!("delete {name}: {e}"));
        }
        println!(
            "deleting them took {:.2}s; layers left: {}",
            start.elapsed().as_secs_f64(),
            layers.iter().filter(|l| l.exists()).count()
        );
    }

    /// A tmpfs at `dir`, in a mount namespace of this process's own (inherited by the
    /// stockade commands it starts), so it goes when the bench ends.
    fn private_tmpfs(dir: &Path) {
        use nix::mount::{mount, MsFlags};
        fs::create_dir_all(dir).expect("mkdir");
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make / private");
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("mode=0700"),
        )
        .expect("mount tmpfs");
    }

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    fn mib(bytes: u64) -> String {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    }

    fn kib(bytes: u64) -> String {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }

    /// Bytes allocated under `roots` (st_blocks × 512), each inode counted once.
    fn disk_usage(roots: &[PathBuf]) -> u64 {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        let mut todo: Vec<PathBuf> = roots.to_vec();
        while let Some(path) = todo.pop() {
            let Ok(m) = fs::symlink_metadata(&path) else {
                continue;
            };
            if seen.insert((m.dev(), m.ino())) {
                total += m.blocks() * 512;
            }
            if m.is_dir() {
                if let Ok(entries) = fs::read_dir(&path) {
                    todo.extend(entries.filter_map(Result::ok).map(|e| e.path()));
                }
            }
        }
        total
    }

    /// Runs stockade. Its stderr goes to a file, not a pipe: a detached environment's
    /// monitor inherits it and would keep a pipe open long after stockade returns.
    fn run_once(exe: &Path, args: &[&str]) -> Result<(), String> {
        let mut log = tempfile::tempfile().map_err(|e| e.to_string())?;
        let status = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().map_err(|e| e.to_string())?)
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            return Ok(());
        }
        let mut text = String::new();
        let _ = log.seek(SeekFrom::Start(0));
        let _ = log.read_to_string(&mut text);
        Err(format!("{status} ({})", text.trim()))
    }

    /// A busybox root with a 16 MiB data file, so that a copy per environment would show.
    fn make_base(root: &Path) {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "needs /bin/busybox (apt-get install busybox-static)"
        );
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "usr/share"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "true", "echo", "sleep"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
        }
        let data: Vec<u8> = (0..16 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        fs::write(root.join("usr/share/data.bin"), data).expect("write data");
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("overlay bench: Linux only for now");
}
