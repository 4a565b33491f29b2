//! What the process inside can and cannot see: the root, mounts, fds. Needs root.

#![cfg(target_os = "linux")]

mod common;

use std::fs;

use common::World;
use stockade_core::backend::Runtime;

#[test]
#[ignore = "needs root"]
fn marker_outside_the_root_is_invisible() {
    let w = World::new();
    let marker = w.tmp.path().join("marker-outside");
    fs::write(&marker, "secret").unwrap();
    let script = format!(
        "if [ -e {m} ]; then echo visible; else echo invisible; fi > /out/marker; \
         ls / > /out/rootls",
        m = marker.display()
    );
    let exit = w
        .backend
        .run(&w.spec("marker", &script, ""), &w.store)
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("marker"), "invisible");
    assert!(!w.read("rootls").contains("rootfs"));
}

#[test]
#[ignore = "needs root"]
fn readonly_root_bind_and_tmpfs() {
    let w = World::new();
    let data = w.tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::write(data.join("hello"), "from host").unwrap();
    let extra = format!(
        "[[mount]]\nkind = \"bind\"\nsource = {d:?}\ntarget = \"/data\"\nreadonly = true\n\
         [[mount]]\nkind = \"tmpfs\"\ntarget = \"/scratch\"\nsize = \"1M\"\n",
        d = data.display().to_string()
    );
    let script =
        "touch /rootfile 2>/dev/null && echo writable > /out/root || echo readonly > /out/root; \
         cat /data/hello > /out/bind; \
         touch /data/x 2>/dev/null && echo writable > /out/bindw || echo readonly > /out/bindw; \
         dd if=/dev/zero of=/scratch/big bs=1024 count=2048 2>/dev/null; \
         du -k /scratch/big | cut -f1 > /out/tmpfs; \
         rm /scratch/big; echo ok > /scratch/small && echo ok > /out/tmpfsw";
    let mut spec = w.spec("ro", script, &extra);
    spec.root.readonly = true;
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("root"), "readonly");
    assert_eq!(w.read("bind"), "from host");
    assert_eq!(w.read("bindw"), "readonly");
    let used: u64 = w.read("tmpfs").parse().unwrap();
    assert!(used <= 1024, "tmpfs of 1M holds {used}K");
    assert_eq!(w.read("tmpfsw"), "ok");
    assert!(!w.root.join("rootfile").exists());
}

#[test]
#[ignore = "needs root"]
fn only_stdio_fds_reach_the_command() {
    let w = World::new();
    // A host fd without CLOEXEC in this process must not leak in.
    let leak = fs::File::open("/etc/hostname").unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&leak);
    nix::fcntl::fcntl(
        &leak,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
    .unwrap();
    let exit = w
        .backend
        .run(&w.spec("fds", "ls /proc/self/fd > /out/fds", ""), &w.store)
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    // ls itself has 0, 1 (the redirect), 2 and the directory it reads (3).
    let fds: Vec<String> = w.read("fds").lines().map(str::to_string).collect();
    assert_eq!(fds, ["0", "1", "2", "3"], "leaked fd {raw}? {fds:?}");
    drop(leak);
}

#[test]
#[ignore = "needs root"]
fn host_root_view_and_dev() {
    let w = World::new();
    let toml = format!(
        "name = \"hostview\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\", \"-c\", \
         \"ls /dev > /out/dev; touch /usr/x 2>/dev/null && echo rw > /out/usr || echo ro > /out/usr\"]\n\
         [[mount]]\nkind = \"bind\"\nsource = {o:?}\ntarget = \"/out\"\n",
        o = w.out.display().to_string()
    );
    let spec = stockade_core::Spec::from_toml(&toml, None).unwrap();
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let dev = w.read("dev");
    for node in [
        "null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx", "fd",
    ] {
        assert!(dev.lines().any(|l| l == node), "/dev lacks {node}: {dev}");
    }
    assert_eq!(w.read("usr"), "ro");
}
