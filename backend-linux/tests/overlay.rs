//! Copy-on-write roots on a real kernel (overlayfs): many environments on one busybox
//! base, the base left byte-identical, kept changes, layers, `diff`, and cleanup. Needs
//! root (namespaces, mounts, cgroups, whiteouts).

#![cfg(target_os = "linux")]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::state::Status;
use stockade_core::Spec;
use stockade_linux::apply::layer;
use stockade_linux::diff::ChangeKind;

/// A spec on the world's busybox base with `root_keys` in `[root]` (after `path`),
/// running `sh -c script`, with `/out` bound to the world's output folder.
fn spec(w: &World, name: &str, root_keys: &str, script: &str) -> Spec {
    let toml = format!(
        "name = {name:?}\n\
         [root]\npath = {root:?}\n{root_keys}\n\
         [process]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n\
         [[mount]]\nkind = \"bind\"\nsource = {out:?}\ntarget = \"/out\"\n",
        root = w.root.display().to_string(),
        out = w.out.display().to_string(),
    );
    Spec::from_toml(&toml, Some(&w.tmp.path().join("env.toml")))
        .unwrap_or_else(|e| panic!("{e}\n{toml}"))
}

/// Everything about a tree that a change could touch: type, mode, owner, size, content
/// or link target, per path.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = fs::symlink_metadata(&path).unwrap();
            let what = if m.is_dir() {
                todo.push(path.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link {}", fs::read_link(&path).unwrap().display())
            } else if m.is_file() {
                let bytes = fs::read(&path).unwrap();
                format!("file {} {:x}", bytes.len(), fnv(&bytes))
            } else {
                format!("special {:o} {}", m.mode(), m.rdev())
            };
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            out.insert(
                rel,
                format!(
                    "{what} mode={:o} {}:{} mtime={}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.mtime()
                ),
            );
        }
    }
    out
}

/// FNV-1a, enough to tell contents apart in a test.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn detached_started() -> CreateOptions {
    CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    }
}

fn wait_stopped(w: &World, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = w.backend.state(&w.store, name).unwrap();
        if s.status == Status::Stopped && s.exit.is_some() {
            assert_eq!(s.exit.as_ref().map(|e| e.code), Some(0), "{name}: {s:?}");
            return;
        }
        assert!(Instant::now() < deadline, "{name} never stopped: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// No state folder, no layer and no host mount left for `name`.
fn assert_gone(w: &World, name: &str) {
    let dir = w.store.dir(name);
    assert!(
        !dir.exists(),
        "state folder (and its layer) left: {}",
        dir.display()
    );
    for needle in [dir.as_path(), w.root.as_path()] {
        let mounts = common::mounts_mentioning(needle);
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    }
    assert!(common::cgroups_named(name).is_empty(), "cgroup left");
}

fn diff_lines(w: &World, name: &str) -> Vec<String> {
    layer::changes(&w.store, name)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
#[ignore = "needs root"]
fn twenty_environments_on_one_base_each_see_only_their_own_write() {
    let w = World::new();
    let before = snapshot(&w.root);
    let names: Vec<String> = (0..20).map(|i| format!("cow{i:02}")).collect();
    // Each writes the same path, waits until all have written, then reads it back.
    for name in &names {
        let script = format!(
            "echo {name} > /etc/motd; echo {name} >> /etc/group; rm /bin/vi; \
             touch /out/{name}.written; \
             while [ ! -e /out/go ]; do sleep 0.05; done; \
             cat /etc/motd > /out/{name}.seen; tail -n 1 /etc/group > /out/{name}.tail; \
             [ -e /bin/vi ] && echo present > /out/{name}.vi; true"
        );
        let spec = spec(&w, name, "overlay = true", &script);
        w.backend
            .create(&spec, &w.store, &detached_started())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in &names {
        wait_for(&w.out.join(format!("{name}.written")));
    }
    fs::write(w.out.join("go"), "").unwrap();
    for name in &names {
        wait_stopped(&w, name);
        assert_eq!(w.read(&format!("{name}.seen")), *name);
        assert_eq!(w.read(&format!("{name}.tail")), *name);
        assert!(
            !w.out.join(format!("{name}.vi")).exists(),
            "{name} sees /bin/vi"
        );
        let upper = w.store.dir(name).join("layer/upper");
        assert_eq!(
            fs::read_to_string(upper.join("etc/motd")).unwrap().trim(),
            *name
        );
    }
    assert_eq!(snapshot(&w.root), before, "the base changed");
    for name in &names {
        w.backend.delete(&w.store, name, false).unwrap();
        assert_gone(&w, name);
    }
    assert_eq!(snapshot(&w.root), before, "the base changed on delete");
}

#[test]
#[ignore = "needs root"]
fn diff_lists_exactly_what_the_environment_changed() {
    let w = World::new();
    let script = "echo hi > /etc/motd; echo x >> /etc/passwd; rm /bin/vi; \
                  mkdir -p /srv/www; echo page > /srv/www/index.html; chmod 700 /root; \
                  rm -r /var; mkdir /var; touch /var/fresh; cat /etc/passwd > /dev/null";
    let s = spec(&w, "differ", "overlay = true", script);
    fs::create_dir_all(w.root.join("var/log")).unwrap();
    fs::write(w.root.join("var/log/old"), "").unwrap();
    let before_var = snapshot(&w.root);
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    };
    w.backend.create(&s, &w.store, &opts).unwrap();
    wait_stopped(&w, "differ");
    assert_eq!(
        diff_lines(&w, "differ"),
        [
            "D /bin/vi",
            "A /etc/motd",
            "M /etc/passwd",
            "M /root",
            "A /srv",
            "A /srv/www",
            "A /srv/www/index.html",
            "M /var",
            "A /var/fresh",
            "D /var/log",
        ]
    );
    // The JSON form names the kinds.
    let changes = layer::changes(&w.store, "differ").unwrap();
    assert_eq!(changes[0].kind, ChangeKind::Deleted);
    assert_eq!(
        serde_json::to_value(&changes[0]).unwrap(),
        serde_json::json!({"path": "/bin/vi", "kind": "deleted"})
    );
    assert_eq!(snapshot(&w.root), before_var);
    w.backend.delete(&w.store, "differ", false).unwrap();
    assert_gone(&w, "differ");
}

#[test]
#[ignore = "needs root"]
fn a_deleted_base_file_stays_deleted_inside_and_present_in_the_base() {
    let w = World::new();
    let s = spec(
        &w,
        "rm",
        "overlay = true",
        "rm /etc/passwd; [ -e /etc/passwd ] && echo present > /out/first; true",
    );
    let exit = w.backend.run(&s, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert!(
        !w.out.join("first").exists(),
        "the file was still there inside"
    );
    assert!(
        w.root.join("etc/passwd").is_file(),
        "the base lost the file"
    );
    // Kept changes: a later environment on the same layer still does not see it.
    let keep = w.tmp.path().join("keep");
    let keys = format!("overlay = true\nchanges = {:?}", keep.display().to_string());
    let s = spec(&w, "rm2", &keys, "rm /etc/group");
    w.backend.run(&s, &w.store).unwrap();
    let wh = fs::symlink_metadata(keep.join("upper/etc/group")).unwrap();
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "not a whiteout"
    );
    let s = spec(
        &w,
        "rm3",
        &keys,
        "[ -e /etc/group ] && echo present > /out/again; cat /etc/passwd > /out/passwd",
    );
    w.backend.run(&s, &w.store).unwrap();
    assert!(
        !w.out.join("again").exists(),
        "the deletion did not survive"
    );
    assert!(w.read("passwd").starts_with("root:"));
    assert!(w.root.join("etc/group").is_file(), "the base lost the file");
}

#[test]
#[ignore = "needs root"]
fn kept_changes_survive_delete_and_the_next_create_sees_them() {
    let w = World::new();
    let before = snapshot(&w.root);
    let keep = w.tmp.path().join("changes/web");
    let keys = format!("overlay = true\nchanges = {:?}", keep.display().to_string());
    let s = spec(&w, "keep1", &keys, "echo 1 > /root/counter");
    let exit = w.backend.run(&s, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_gone(&w, "keep1");
    assert_eq!(
        fs::read_to_string(keep.join("upper/root/counter")).unwrap(),
        "1\n",
        "the layer went with delete"
    );
    let s = spec(
        &w,
        "keep2",
        &keys,
        "cat /root/counter > /out/seen; echo 2 >> /root/counter",
    );
    let exit = w.backend.run(&s, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("seen"), "1");
    assert_eq!(
        fs::read_to_string(keep.join("upper/root/counter")).unwrap(),
        "1\n2\n"
    );
    assert_gone(&w, "keep2");
    assert_eq!(snapshot(&w.root), before);

    // One environment at a time: a second live one on the same folder is refused.
    let s = spec(&w, "keep3", &keys, "sleep 30");
    w.backend.create(&s, &w.store, &detached_started()).unwrap();
    let s4 = spec(&w, "keep4", &keys, "true");
    let err = w.backend.run(&s4, &w.store).unwrap_err().to_string();
    assert!(
        err.contains("is the writable layer of environment \"keep3\""),
        "{err}"
    );
    assert!(
        !w.store.dir("keep4").exists(),
        "a refused create left its state"
    );
    // A lower that is a live environment's upper is refused too.
    let keys5 = format!(
        "overlay = true\nlayers = [{:?}]",
        keep.join("upper").display().to_string()
    );
    let err = w
        .backend
        .run(&spec(&w, "keep5", &keys5, "true"), &w.store)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is in use as the writable layer") && err.contains("\"keep3\""),
        "{err}"
    );
    w.backend.delete(&w.store, "keep3", true).unwrap();
    assert_gone(&w, "keep3");
}

#[test]
#[ignore = "needs root"]
fn layers_stack_above_the_base_top_first() {
    let w = World::new();
    let (common_layer, role) = (w.tmp.path().join("common"), w.tmp.path().join("role"));
    fs::create_dir_all(common_layer.join("etc")).unwrap();
    fs::create_dir_all(role.join("etc")).unwrap();
    fs::write(common_layer.join("etc/motd"), "common\n").unwrap();
    fs::write(common_layer.join("etc/common-only"), "c\n").unwrap();
    fs::write(role.join("etc/motd"), "role\n").unwrap();
    let keys = format!(
        "overlay = true\nlayers = [{:?}, {:?}]",
        role.display().to_string(),
        common_layer.display().to_string()
    );
    let s = spec(
        &w,
        "layered",
        &keys,
        "cat /etc/motd > /out/motd; cat /etc/common-only > /out/common; \
         head -c 4 /etc/passwd > /out/base; echo changed > /etc/motd",
    );
    let exit = w.backend.run(&s, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("motd"), "role");
    assert_eq!(w.read("common"), "c");
    assert_eq!(w.read("base"), "root");
    assert_eq!(fs::read_to_string(role.join("etc/motd")).unwrap(), "role\n");
    assert_gone(&w, "layered");
}

#[test]
#[ignore = "needs root"]
fn host_view_overlay_writes_to_its_layer_not_the_host() {
    let w = World::new();
    let toml = format!(
        "name = \"hostcow\"\n[root]\nhost = true\noverlay = true\n\
         [process]\ncommand = [\"/bin/sh\", \"-c\", \"echo hi > /etc/stockade-cow-test; \
         cat /etc/stockade-cow-test > /out/seen\"]\n\
         [[mount]]\nkind = \"bind\"\nsource = {out:?}\ntarget = \"/out\"\n",
        out = w.out.display().to_string()
    );
    let s = Spec::from_toml(&toml, Some(&w.tmp.path().join("h.toml"))).unwrap();
    let before = fs::metadata("/etc").unwrap();
    w.backend.create(&s, &w.store, &detached_started()).unwrap();
    wait_stopped(&w, "hostcow");
    assert_eq!(w.read("seen"), "hi");
    assert!(
        !Path::new("/etc/stockade-cow-test").exists(),
        "wrote the host's /etc"
    );
    assert_eq!(diff_lines(&w, "hostcow"), ["A /etc/stockade-cow-test"]);
    let after = fs::metadata("/etc").unwrap();
    assert_eq!((before.mode(), before.uid()), (after.mode(), after.uid()));
    w.backend.delete(&w.store, "hostcow", false).unwrap();
    assert_gone(&w, "hostcow");
}

#[test]
#[ignore = "needs root"]
fn a_state_folder_on_overlayfs_puts_the_layer_on_a_tmpfs() {
    let w = World::new();
    // The store lives inside an overlay mount, as it would inside a container.
    let t = w.tmp.path();
    for d in ["l", "u", "wk", "merged"] {
        fs::create_dir_all(t.join(d)).unwrap();
    }
    let merged = t.join("merged");
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        t.join("l").display(),
        t.join("u").display(),
        t.join("wk").display()
    );
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_str()),
    )
    .unwrap();
    let store = stockade_core::state::StateStore::new(merged.join("run"));
    let s = spec(
        &w,
        "ontmp",
        "overlay = true",
        "echo x > /etc/motd; sleep 30",
    );
    w.backend.create(&s, &store, &detached_started()).unwrap();
    let layer_dir = store.dir("ontmp").join("layer");
    let notes = w.backend.state(&store, "ontmp").unwrap().notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("is on overlayfs") && n.contains("tmpfs")),
        "{notes:?}"
    );
    let mounts = common::mounts_mentioning(&layer_dir);
    assert!(
        mounts.iter().any(|m| m.contains(" - tmpfs ")),
        "no tmpfs under the layer: {mounts:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !layer_dir.join("upper/etc/motd").exists() {
        assert!(
            Instant::now() < deadline,
            "the write never reached the layer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    w.backend.delete(&store, "ontmp", true).unwrap();
    assert!(!store.dir("ontmp").exists());
    assert!(
        common::mounts_mentioning(&layer_dir).is_empty(),
        "tmpfs left"
    );
    nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH).unwrap();
}
