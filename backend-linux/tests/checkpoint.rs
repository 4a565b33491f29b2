//! `stockade checkpoint` / `restore` through CRIU on a real kernel: a counter loop is
//! dumped, the environment is gone, and after restore the counter goes on from where it
//! was. Needs root and criu (`.ci/run` installs it).
//!
//! When CRIU itself cannot work on the running kernel (criu 3.17 on a kernel newer than
//! it knows, say), the dump fails inside CRIU: the test then prints CRIU's own error
//! lines verbatim as the reason it stops there, and fails on any other error.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::Spec;
use stockade_linux::apply::checkpoint::{self, CheckpointError};
use stockade_linux::apply::RuntimeError;

fn count(w: &World) -> u64 {
    fs::read_to_string(w.out.join("count"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

fn wait_count(w: &World, above: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count(w);
        if n > above {
            return n;
        }
        assert!(Instant::now() < deadline, "the counter stayed at {n}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root"]
fn a_counter_continues_after_checkpoint_and_restore() {
    let w = World::new();
    let file = w.tmp.path().join("ckpt.toml");
    let text = format!(
        "name = \"ckpt\"\n[root]\npath = {root:?}\n[process]\ncommand = [\"/bin/sh\", \"-c\", \
         \"i=0; while true; do i=$((i+1)); echo $i > /out/count.tmp; mv /out/count.tmp /out/count; sleep 0.1; done\"]\n\
         [[mount]]\nkind = \"bind\"\nsource = {out:?}\ntarget = \"/out\"\n[limits]\nmemory = \"64M\"\n",
        root = w.root.display().to_string(),
        out = w.out.display().to_string(),
    );
    fs::write(&file, &text).unwrap();
    let spec = Spec::load(&file).unwrap();
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    wait_count(&w, 3);
    let images = w.tmp.path().join("images");
    let dumped = checkpoint::checkpoint_named(&w.backend, &w.store, "ckpt", &images, false);
    match dumped {
        Ok(()) => {}
        Err(RuntimeError::Checkpoint(e @ CheckpointError::Criu { .. })) => {
            let _ = w.backend.delete(&w.store, "ckpt", true);
            assert!(common::cgroups_named("ckpt").is_empty());
            // The host's limitation, verbatim; this is the only error that ends here.
            let text = e.to_string();
            assert!(text.starts_with("criu dump failed"), "{text}");
            eprintln!("SKIPPED past the dump: this host's CRIU cannot checkpoint:\n{text}");
            return;
        }
        Err(e) => panic!("checkpoint failed outside CRIU: {e}"),
    }
    // Dumped and gone: the counter stops, the environment is deleted.
    let at_dump = count(&w);
    assert!(w.backend.state(&w.store, "ckpt").is_err());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&w), at_dump, "the counter ran on after the dump");
    let state = checkpoint::restore_dir(&w.backend, &w.store, &images, None).unwrap();
    assert_eq!(state.name, "ckpt");
    let after = wait_count(&w, at_dump);
    assert!(
        after > at_dump && after < at_dump + 50,
        "{at_dump} then {after}"
    );
    // The limit came back with it.
    let folders = common::cgroups_named("ckpt");
    assert!(!folders.is_empty());
    w.backend.delete(&w.store, "ckpt", true).unwrap();
    assert!(common::cgroups_named("ckpt").is_empty());
}

#[test]
#[ignore = "needs root"]
fn checkpoint_refuses_what_is_not_running_and_a_used_folder() {
    let w = World::new();
    let err = checkpoint::checkpoint_named(
        &w.backend,
        &w.store,
        "absent",
        &w.tmp.path().join("x"),
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
    let err = checkpoint::restore_dir(&w.backend, &w.store, w.tmp.path(), None).unwrap_err();
    assert!(
        err.to_string().contains("not a stockade checkpoint"),
        "{err}"
    );
}
