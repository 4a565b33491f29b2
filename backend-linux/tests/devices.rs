//! Devices: nothing beyond the standard set is reachable. The host's kernel log
//! (`/dev/kmsg`, c 1:11, readable by root here) is the witness: planted in a root or a
//! bind-mounted folder it cannot be opened (`nodev` mounts), and made with mknod in
//! `/dev` — the one mount without `nodev` — it is refused by the device controller (v1
//! `devices`, v2 a BPF program), even when `privileges.allow` grants `mknod`. Needs root.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::World;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use stockade_core::backend::Runtime;

/// Makes a character device node for the host's /dev/kmsg at `path`.
fn plant_kmsg(path: &std::path::Path) {
    mknod(
        path,
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o644),
        makedev(1, 11),
    )
    .unwrap();
}

/// A shell line that tries to read one record of `node` and says what happened.
fn try_read(node: &str, out: &str) -> String {
    format!(
        "if dd if={node} of=/dev/null bs=8192 count=1 2>/out/{out}.err; \
         then echo readable > /out/{out}; else echo denied > /out/{out}; fi"
    )
}

#[test]
#[ignore = "needs root"]
fn host_kmsg_is_readable_here() {
    // The witness is a real one: root on this host can read the kernel log, so a
    // "denied" below is the environment's doing.
    let mut f = fs::File::open("/dev/kmsg").expect("root can open /dev/kmsg on this host");
    let mut buf = vec![0u8; 8192];
    std::io::Read::read(&mut f, &mut buf).expect("and read a record");
}

#[test]
#[ignore = "needs root"]
fn a_device_node_planted_in_the_root_or_a_bind_cannot_be_opened() {
    let w = World::new();
    plant_kmsg(&w.root.join("kmsg"));
    let data = w.tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    plant_kmsg(&data.join("kmsg"));
    let extra = format!(
        "[[mount]]\nkind = \"bind\"\nsource = {:?}\ntarget = \"/data\"\n",
        data.display().to_string()
    );
    let script = format!(
        "{}; {}; ls -l /kmsg > /out/ls 2>&1",
        try_read("/kmsg", "root"),
        try_read("/data/kmsg", "bind")
    );
    let exit = w
        .backend
        .run(&w.spec("dev-plant", &script, &extra), &w.store)
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert!(w.read("ls").starts_with('c'), "{}", w.read("ls"));
    assert_eq!(w.read("root"), "denied", "{}", w.read("root.err"));
    assert_eq!(w.read("bind"), "denied", "{}", w.read("bind.err"));
    // nodev answers first (EACCES); the device controller would say EPERM.
    assert!(
        w.read("root.err").contains("Permission denied"),
        "{}",
        w.read("root.err")
    );
}

#[test]
#[ignore = "needs root"]
fn mknod_of_kmsg_is_refused_without_and_with_the_mknod_privilege() {
    let w = World::new();
    let script = |out: &str| {
        format!(
            "mknod /dev/k c 1 11 2>/out/{out}.mknod.err && echo made > /out/{out}.mknod \
             || echo refused > /out/{out}.mknod; {}; \
             mknod /dev/n c 1 3 2>/out/{out}.null.err && echo x > /dev/n && echo usable > /out/{out}.null \
             || echo refused > /out/{out}.null",
            try_read("/dev/k", &format!("{out}.read")),
        )
    };
    // Without CAP_MKNOD (not in the default set): mknod fails outright.
    let exit = w
        .backend
        .run(&w.spec("dev-mknod0", &script("plain"), ""), &w.store)
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("plain.mknod"), "refused");
    assert_eq!(w.read("plain.read"), "denied");
    assert_eq!(w.read("plain.null"), "refused");

    // With it, a standard device can be made and used, the kernel log still cannot:
    // the device controller says no to mknod and to open.
    let exit = w
        .backend
        .run(
            &w.spec(
                "dev-mknod1",
                &script("granted"),
                "[privileges]\nallow = [\"mknod\"]\n",
            ),
            &w.store,
        )
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(
        w.read("granted.null"),
        "usable",
        "{}",
        w.read("granted.null.err")
    );
    assert_eq!(w.read("granted.mknod"), "refused");
    assert!(
        w.read("granted.mknod.err")
            .contains("Operation not permitted"),
        "{}",
        w.read("granted.mknod.err")
    );
    assert_eq!(w.read("granted.read"), "denied");
}

#[test]
#[ignore = "needs root"]
fn every_mount_but_dev_is_nodev() {
    let w = World::new();
    let data = w.tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "[[mount]]\nkind = \"bind\"\nsource = {:?}\ntarget = \"/data\"\n\
         [[mount]]\nkind = \"tmpfs\"\ntarget = \"/scratch\"\n",
        data.display().to_string()
    );
    let exit = w
        .backend
        .run(
            &w.spec(
                "dev-nodev",
                "cat /proc/self/mountinfo > /out/mountinfo",
                &extra,
            ),
            &w.store,
        )
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let mountinfo = w.read("mountinfo");
    let mut checked = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (source_root, target, options) = (fields[3], fields[4], fields[5]);
        // /dev (a tmpfs holding the device binds) and devpts keep devices usable; each
        // bound standard device is its own mount of the host's /dev node, and so is every
        // masked /proc file (the environment's /dev/null bound over it).
        if target == "/dev" || target.starts_with("/dev/") || source_root == "/null" {
            continue;
        }
        assert!(
            options.split(',').any(|o| o == "nodev"),
            "{target} is mounted without nodev: {line}"
        );
        checked.push(target.to_string());
    }
    for t in ["/", "/proc", "/out", "/data", "/scratch"] {
        assert!(
            checked.iter().any(|c| c == t),
            "{t} not mounted: {checked:?}"
        );
    }
}
