//! Start-up benchmark: `stockade run` of /bin/true in a busybox root, side by side with
//! `stockade oci run` and crun on the same OCI bundle and bubblewrap on the same root, in one interleaved run, reported as ratios.
//!
//! Run as root: `cargo bench -p stockade --bench startup [-- ROUNDS]` (default 40 rounds).
//! Each round runs every tool once, in a fresh random order, so machine noise (and what
//! ran just before) hits all alike;
//! the report gives median and p90 wall time and each median divided by crun's.
//!
//! On a cgroup "hybrid" host (v1 controllers plus a cgroup2 mount owning a controller)
//! crun refuses to run; the benchmark then moves itself, and so every tool it starts,
//! into a private mount namespace without /sys/fs/cgroup/unified, so all tools see the
//! same plain cgroup v1 (the approach of ../shared/tools/peers/cg-legacy.sh).

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    struct Tool {
        name: &'static str,
        argv: Vec<String>,
        times: Vec<Duration>,
    }

    pub fn main() {
        let rounds: usize = std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(40);
        if !nix::unistd::geteuid().is_root() {
            eprintln!("startup bench: needs root (namespaces, cgroups); skipped");
            return;
        }
        hide_hybrid_cgroup2();
        let work = tempfile::tempdir().expect("tempdir");
        let rootfs = work.path().join("rootfs");
        make_busybox_root(&rootfs);

        let stockade = PathBuf::from(env!("CARGO_BIN_EXE_stockade"));
        let state = work.path().join("state");
        let spec = work.path().join("bench.toml");
        fs::write(
            &spec,
            format!(
                "name = \"bench\"\n[root]\npath = \"{}\"\nreadonly = true\n[process]\ncommand = [\"/bin/true\"]\n",
                rootfs.display()
            ),
        )
        .expect("write spec");

        let mut tools = vec![Tool {
            name: "stockade",
            argv: vec![
                stockade.display().to_string(),
                "--root".into(),
                state.display().to_string(),
                "run".into(),
                spec.display().to_string(),
            ],
            times: Vec::new(),
        }];
        // The same environment with a private network, next to the default `mode = "none"`
        // above: a bare link (veth pair, addresses, routes, resolv.conf), then with NAT
        // (chains in table inet stockade, forwarding), then with a published port (its
        // bind probe, the nftables check and dnat rules).
        let networks: [(&'static str, &str, &str); 3] = [
            (
                "stockade private net, no NAT",
                "bench-link",
                "nat = false\n",
            ),
            ("stockade private net", "bench-net", ""),
            (
                "stockade private net + publish",
                "bench-pub",
                "publish = [\"18999:80\"]\n",
            ),
        ];
        for (i, (label, name, extra)) in networks.into_iter().enumerate() {
            let file = work.path().join(format!("{name}.toml"));
            fs::write(
                &file,
                format!(
                    "name = \"{name}\"\n[root]\npath = \"{}\"\nreadonly = true\n[process]\ncommand = [\"/bin/true\"]\n\
                     [network]\nmode = \"private\"\naddress = \"10.213.{}.2/30\"\n{extra}",
                    rootfs.display(),
                    250 + i
                ),
            )
            .expect("write spec");
            tools.push(Tool {
                name: label,
                argv: vec![
                    stockade.display().to_string(),
                    "--root".into(),
                    state.display().to_string(),
                    "run".into(),
                    file.display().to_string(),
                ],
                times: Vec::new(),
            });
        }
        if let Some(bundle) = crun_bundle(work.path(), &rootfs) {
            // The same bundle, run by stockade as an OCI runtime.
            tools.push(Tool {
                name: "stockade oci",
                argv: vec![
                    stockade.display().to_string(),
                    "oci".into(),
                    "--root".into(),
                    work.path().join("oci-state").display().to_string(),
                    "run".into(),
                    "--bundle".into(),
                    bundle.display().to_string(),
                    "bench".into(),
                ],
                times: Vec::new(),
            });
            tools.push(Tool {
                name: "crun",
                argv: vec![
                    "crun".into(),
                    "--root".into(),
                    work.path().join("crun-state").display().to_string(),
                    "run".into(),
                    "--bundle".into(),
                    bundle.display().to_string(),
                    "bench".into(),
                ],
                times: Vec::new(),
            });
        }
        if which("bwrap") {
            tools.push(Tool {
                name: "bwrap",
                argv: [
                    "bwrap",
                    "--unshare-pid",
                    "--unshare-ipc",
                    "--unshare-uts",
                    "--unshare-net",
                    "--unshare-cgroup-try",
                    "--die-with-parent",
                    "--ro-bind",
                ]
                .iter()
                .map(ToString::to_string)
                .chain([rootfs.display().to_string(), "/".into()])
                .chain(
                    ["--proc", "/proc", "--dev", "/dev", "/bin/true"]
                        .iter()
                        .map(ToString::to_string),
                )
                .collect(),
                times: Vec::new(),
            });
        }
        tools.push(Tool {
            name: "fork+exec",
            argv: vec![rootfs.join("bin/true").display().to_string()],
            times: Vec::new(),
        });

        // One warm-up each: page cache, first-use costs; also proves every tool works.
        for t in &tools {
            if let Err(e) = run_once(&t.argv) {
                eprintln!("startup bench: {} failed its warm-up run: {e}", t.name);
                std::process::exit(1);
            }
        }
        // A fresh random order every round: what a start-up costs depends on what ran just
        // before it (on cgroup v1 the first cgroup.procs write after an idle spell waits a
        // whole RCU grace period), so no tool may always follow the same one, as a
        // rotating order would make it.
        let mut order: Vec<usize> = (0..tools.len()).collect();
        let mut rng = Shuffle::seeded();
        for _ in 0..rounds {
            rng.shuffle(&mut order);
            for &i in &order {
                let t = &mut tools[i];
                let start = Instant::now();
                run_once(&t.argv).unwrap_or_else(|e| panic!("{}: {e}", t.name));
                t.times.push(start.elapsed());
            }
        }
        report(&mut tools, rounds);
    }

    /// xorshift64*: enough randomness to vary the order of a handful of tools.
    struct Shuffle(u64);

    impl Shuffle {
        fn seeded() -> Shuffle {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            Shuffle(nanos | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        /// Fisher–Yates.
        fn shuffle(&mut self, items: &mut [usize]) {
            for i in (1..items.len()).rev() {
                let j = (self.next() % (i as u64 + 1)) as usize;
                items.swap(i, j);
            }
        }
    }

    fn run_once(argv: &[String]) -> Result<(), String> {
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} ({})",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn report(tools: &mut [Tool], rounds: usize) {
        let median = |t: &mut Tool| {
            t.times.sort();
            t.times[t.times.len() / 2]
        };
        let crun = tools.iter_mut().find(|t| t.name == "crun").map(median);
        println!("start-up of /bin/true in a busybox root, {rounds} interleaved rounds");
        println!(
            "{:<30} {:>10} {:>10} {:>10}",
            "tool", "median", "p90", "vs crun"
        );
        for t in tools.iter_mut() {
            let m = median(t);
            let p90 = t.times[t.times.len() * 9 / 10];
            let ratio = crun.map_or("-".to_string(), |c| {
                format!("{:.2}x", m.as_secs_f64() / c.as_secs_f64())
            });
            println!(
                "{:<30} {:>8.2}ms {:>8.2}ms {:>10}",
                t.name,
                m.as_secs_f64() * 1e3,
                p90.as_secs_f64() * 1e3,
                ratio
            );
        }
    }

    fn which(cmd: &str) -> bool {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
    }

    fn make_busybox_root(root: &Path) {
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.is_file(),
            "needs /bin/busybox (apt-get install busybox-static)"
        );
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        for applet in ["sh", "true"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("symlink");
        }
    }

    /// An OCI bundle for crun from `crun spec`, set to run /bin/true on the same root.
    fn crun_bundle(dir: &Path, rootfs: &Path) -> Option<PathBuf> {
        if !which("crun") {
            eprintln!("startup bench: crun not found; reporting without it");
            return None;
        }
        let bundle = dir.join("bundle");
        fs::create_dir_all(&bundle).ok()?;
        let ok = Command::new("crun")
            .arg("spec")
            .current_dir(&bundle)
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
        let path = bundle.join("config.json");
        let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/bin/true"]);
        config["root"]["path"] = rootfs.display().to_string().into();
        config["root"]["readonly"] = true.into();
        fs::write(&path, serde_json::to_vec_pretty(&config).ok()?).ok()?;
        Some(bundle)
    }

    /// See the module comment: give crun (and everyone else) a plain cgroup v1 view.
    fn hide_hybrid_cgroup2() {
        let unified = Path::new("/sys/fs/cgroup/unified");
        let owns_controllers = fs::read_to_string(unified.join("cgroup.controllers"))
            .is_ok_and(|c| !c.trim().is_empty());
        if !owns_controllers {
            return;
        }
        use nix::mount::{mount, umount, MsFlags};
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make / private");
        umount(unified).expect("unmount /sys/fs/cgroup/unified");
        eprintln!(
            "startup bench: hybrid cgroup host: benchmarking in a mount namespace without {}",
            unified.display()
        );
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    linux::main();
    #[cfg(not(target_os = "linux"))]
    eprintln!("startup bench: Linux only for now");
}
