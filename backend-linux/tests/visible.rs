//! `limits.cpuset` and `limits.visible` on a real kernel, on whichever cgroup version the
//! host drives (the v1 hybrid development host, the pure v2 VM of `.ci/vm-tests`): what
//! `nproc`, /proc/meminfo and /proc/cpuinfo say inside, and the cgroup's cpuset files.
//! Needs root.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};

fn wait_for_file(w: &World, file: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !w.out.join(file).exists() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for /out/{file}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The environment's cpuset folder (v1: in the cpuset hierarchy; v2: the only one).
fn cpuset_folder(name: &str) -> std::path::PathBuf {
    let folders = common::cgroups_named(name);
    folders
        .iter()
        .find(|f| f.join("cpuset.cpus").exists())
        .unwrap_or_else(|| panic!("no cpuset folder among {folders:?}"))
        .clone()
}

#[test]
#[ignore = "needs root"]
fn cpuset_zero_shows_one_cpu_and_sets_the_cgroup() {
    let w = World::new();
    let spec = w.spec(
        "vis-cpuset",
        "nproc > /out/nproc.tmp && grep Cpus_allowed_list /proc/self/status > /out/allowed \
         && mv /out/nproc.tmp /out/nproc && sleep 30",
        "[limits]\ncpuset = \"0\"\n",
    );
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    wait_for_file(&w, "nproc");
    let folder = cpuset_folder("vis-cpuset");
    let cpus = fs::read_to_string(folder.join("cpuset.cpus")).unwrap();
    let mems = fs::read_to_string(folder.join("cpuset.mems")).unwrap();
    w.backend.delete(&w.store, "vis-cpuset", true).unwrap();
    assert_eq!(w.read("nproc"), "1");
    assert_eq!(w.read("allowed"), "Cpus_allowed_list:\t0");
    assert_eq!(cpus.trim(), "0");
    // Copied from the parent: the nodes the host offers (node 0 on every host).
    assert!(mems.trim().starts_with('0'), "cpuset.mems {mems:?}");
    assert!(common::cgroups_named("vis-cpuset").is_empty());
}

#[test]
#[ignore = "needs root"]
fn visible_limits_show_the_memory_limit_and_the_cpu_count() {
    let w = World::new();
    let spec = w.spec(
        "vis-mem",
        "nproc > /out/nproc; cat /proc/meminfo > /out/meminfo; \
         grep -c ^processor /proc/cpuinfo > /out/cpuinfo; grep -c '^cpu[0-9]' /proc/stat > /out/stat; \
         echo x 2> /out/write-error > /proc/meminfo || echo refused > /out/write",
        "[limits]\ncpus = 1\nmemory = \"96M\"\nvisible = true\n",
    );
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let meminfo = w.read("meminfo");
    let total = meminfo.lines().next().unwrap();
    assert_eq!(
        total.split_whitespace().collect::<Vec<_>>(),
        ["MemTotal:", "98304", "kB"],
        "{meminfo}"
    );
    assert_eq!(w.read("nproc"), "1");
    assert_eq!(w.read("cpuinfo"), "1");
    assert_eq!(w.read("stat"), "1");
    assert_eq!(w.read("write"), "refused");
    assert!(common::cgroups_named("vis-mem").is_empty());
}

#[test]
#[ignore = "needs root"]
fn without_visible_the_host_shows_through() {
    let w = World::new();
    let spec = w.spec(
        "vis-off",
        "head -1 /proc/meminfo > /out/meminfo",
        "[limits]\nmemory = \"96M\"\n",
    );
    w.backend.run(&spec, &w.store).unwrap();
    let host = fs::read_to_string("/proc/meminfo").unwrap();
    assert_eq!(w.read("meminfo"), host.lines().next().unwrap().trim());
}
