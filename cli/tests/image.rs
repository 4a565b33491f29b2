//! Images end to end, through the binary: an OCI archive built here (a busybox-static
//! root, tar, a written manifest) or by podman is imported, run with `root.image`,
//! shared by many environments, committed, exported and loaded again.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

fn stockade(t: &Fixture) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stockade"));
    c.arg("--store").arg(&t.store).arg("--root").arg(&t.states);
    c
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn ok(cmd: &mut Command) -> String {
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{cmd:?}\nstdout: {out}\nstderr: {err}");
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    store: PathBuf,
    states: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let states = dir.path().join("states");
    Fixture { dir, store, states }
}

impl Fixture {
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn spec(&self, file: &str, text: &str) -> PathBuf {
        let p = self.path(file);
        fs::write(&p, text).unwrap();
        p
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

fn symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, path, target).unwrap();
}

/// Layer 1: a busybox-static userland. Layer 2: a file, a whiteout of one of layer 1's
/// files and an opaque folder, so the image exercises overlayfs' whiteout forms.
fn busybox_layers() -> Vec<Vec<u8>> {
    let busybox = fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut b = tar::Builder::new(Vec::new());
    for d in ["bin", "etc", "etc/opq", "root", "tmp", "srv"] {
        dir(&mut b, d);
    }
    file(&mut b, "bin/busybox", 0o755, &busybox);
    for app in [
        "sh", "cat", "echo", "ls", "env", "pwd", "id", "rm", "mkdir", "sleep", "test",
    ] {
        symlink(&mut b, &format!("bin/{app}"), "busybox");
    }
    file(
        &mut b,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n",
    );
    file(&mut b, "etc/removed", 0o644, b"layer 1\n");
    file(&mut b, "etc/opq/old", 0o644, b"layer 1\n");
    let l1 = b.into_inner().unwrap();

    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "etc");
    file(&mut b, "etc/motd", 0o644, b"from layer 2\n");
    file(&mut b, "etc/.wh.removed", 0o644, b"");
    dir(&mut b, "etc/opq");
    file(&mut b, "etc/opq/.wh..wh..opq", 0o644, b"");
    file(&mut b, "etc/opq/new", 0o644, b"layer 2\n");
    let l2 = b.into_inner().unwrap();
    vec![l1, l2]
}

/// An OCI archive: blobs, manifest, config and index.json in a tar, with gzip'd layers.
fn oci_archive(path: &Path, layers: &[Vec<u8>], config: serde_json::Value, name: &str) {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        diff_ids.push(format!("sha256:{}", sha(l)));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(l).unwrap();
        let gz = gz.finish().unwrap();
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": format!("sha256:{}", sha(&gz)),
            "size": gz.len(),
        }));
        blobs.push((sha(&gz), gz));
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    })
    .to_string()
    .into_bytes();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", sha(&config)),
            "size": config.len(),
        },
        "layers": descs,
    })
    .to_string()
    .into_bytes();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha(&manifest)),
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": name },
        }],
    })
    .to_string();
    blobs.push((sha(&config), config));
    blobs.push((sha(&manifest), manifest));
    let mut b = tar::Builder::new(Vec::new());
    file(
        &mut b,
        "oci-layout",
        0o644,
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    );
    file(&mut b, "index.json", 0o644, index.as_bytes());
    for (hex, bytes) in &blobs {
        file(&mut b, &format!("blobs/sha256/{hex}"), 0o644, bytes);
    }
    fs::write(path, b.into_inner().unwrap()).unwrap();
}

/// Imports the busybox test image as `test/busybox:1`.
fn import_busybox(t: &Fixture) -> PathBuf {
    let archive = t.path("busybox-oci.tar");
    oci_archive(
        &archive,
        &busybox_layers(),
        serde_json::json!({
            "Cmd": ["/bin/sh", "-c", "echo greeting=$GREETING; echo cwd=$(pwd); id -u"],
            "Env": ["PATH=/bin", "GREETING=hello from the image"],
            "WorkingDir": "/etc",
            "User": "0:0",
        }),
        "test/busybox:1",
    );
    let (code, out, err) = run(stockade(t).args(["image", "import"]).arg(&archive));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("test/busybox:1 sha256:"), "{out}");
    assert!(
        err.contains("unpacking layer 2/2"),
        "no progress shown: {err}"
    );
    archive
}

#[test]
#[ignore = "needs root"]
fn an_imported_oci_archive_runs_with_its_cmd_env_and_workdir() {
    let t = fixture();
    import_busybox(&t);
    let spec = t.spec(
        "img.toml",
        "name = \"img-run\"\n[root]\nimage = \"test/busybox:1\"\n",
    );
    let out = ok(stockade(&t).arg("run").arg(&spec));
    assert_eq!(out, "greeting=hello from the image\ncwd=/etc\n0\n");

    // The spec's own keys win: env variable by variable, cwd, and the command.
    let spec = t.spec(
        "img2.toml",
        "name = \"img-run2\"\n[root]\nimage = \"test/busybox:1\"\n[process]\ncwd = \"/srv\"\n\
         env = { GREETING = \"from the spec\" }\n",
    );
    let out = ok(stockade(&t).arg("run").arg(&spec));
    assert_eq!(out, "greeting=from the spec\ncwd=/srv\n0\n");

    // Layer 2's whiteout and opaque folder hide layer 1's files; its new file shows.
    let out = ok(stockade(&t).arg("run").arg(&spec).args([
        "--",
        "/bin/sh",
        "-c",
        "cat /etc/motd; ls /etc/opq; test -e /etc/removed && echo removed-still-there; echo PATH=$PATH",
    ]));
    assert_eq!(out, "from layer 2\nnew\nPATH=/bin\n");
}

#[test]
#[ignore = "needs root"]
fn podman_made_oci_and_docker_archives_import_and_run() {
    let t = fixture();
    // podman import of a plain root tar, then podman save as an OCI archive.
    let root_tar = t.path("root.tar");
    fs::write(&root_tar, &busybox_layers()[0]).unwrap();
    let tag = format!("localhost/stockade-test-{}:1", std::process::id());
    let (code, out, err) = run(Command::new("podman")
        .args([
            "import",
            "--change",
            "CMD [\"/bin/sh\", \"-c\", \"echo podman=$FROM_PODMAN\"]",
            "--change",
            "ENV FROM_PODMAN=yes",
        ])
        .arg(&root_tar)
        .arg(&tag));
    assert_eq!(code, 0, "podman import: {out}{err}");
    let archive = t.path("podman-oci.tar");
    let saved = run(Command::new("podman")
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&archive)
        .arg(&tag));
    // The same image as a `docker save` archive (manifest.json, RepoTags).
    let docker = t.path("podman-docker.tar");
    let saved_docker = run(Command::new("podman")
        .args(["save", "--format", "docker-archive", "-o"])
        .arg(&docker)
        .arg(&tag));
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    assert_eq!(saved.0, 0, "podman save: {}{}", saved.1, saved.2);
    assert_eq!(
        saved_docker.0, 0,
        "podman save: {}{}",
        saved_docker.1, saved_docker.2
    );
    let (code, out, err) = run(stockade(&t).args(["image", "import"]).arg(&docker));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with(&format!("{tag} sha256:")),
        "the docker archive's name: {out}"
    );
    let spec = t.spec(
        "d.toml",
        &format!("name = \"img-docker\"\n[root]\nimage = \"{tag}\"\n"),
    );
    assert_eq!(ok(stockade(&t).arg("run").arg(&spec)), "podman=yes\n");
    let out = ok(stockade(&t)
        .args(["image", "import", "--name", "podman/made:1"])
        .arg(&archive));
    assert!(out.starts_with("podman/made:1 "), "{out}");
    let spec = t.spec(
        "p.toml",
        "name = \"img-podman\"\n[root]\nimage = \"podman/made:1\"\n",
    );
    assert_eq!(ok(stockade(&t).arg("run").arg(&spec)), "podman=yes\n");
}

fn du_kib(path: &Path) -> u64 {
    let out = Command::new("du").arg("-sk").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
#[ignore = "needs root"]
fn fifty_environments_share_one_copy_of_the_image_layers() {
    let t = fixture();
    import_busybox(&t);
    let store_before = du_kib(&t.store);
    let layers_kib = du_kib(&t.store.join("layers"));
    let spec = t.spec(
        "many.toml",
        "[root]\nimage = \"test/busybox:1\"\n[process]\ncommand = [\"/bin/sh\", \"-c\", \"echo ok > /tmp/mine; sleep 1000\"]\n",
    );
    let names: Vec<String> = (0..50).map(|i| format!("share-{i}")).collect();
    for n in &names {
        ok(stockade(&t).args(["run", "-d", "--name", n]).arg(&spec));
    }
    // Each environment sees the whole image and its own write.
    for n in [&names[0], &names[49]] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, out, _) = run(stockade(&t).args(["exec", n, "--", "/bin/cat", "/tmp/mine"]));
            if out == "ok\n" || Instant::now() > deadline {
                assert_eq!(out, "ok\n", "{n}");
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = ok(stockade(&t).args(["exec", n, "--", "/bin/ls", "-s", "/bin/busybox"]));
        assert!(out.contains("busybox"), "{out}");
    }
    let states_kib = du_kib(&t.states);
    let store_after = du_kib(&t.store);
    eprintln!(
        "image layers: {layers_kib} KiB once in the store; 50 running environments add \
         {states_kib} KiB of state and writable layers ({} KiB each); a copy per \
         environment would be {} KiB",
        states_kib / 50,
        layers_kib * 50
    );
    for n in &names {
        ok(stockade(&t).args(["delete", "--force", n]));
    }
    assert_eq!(
        store_after, store_before,
        "running environments wrote into the store"
    );
    // 50 copies of the root would cost 50 x the layers; sharing costs a few KiB each.
    assert!(
        states_kib < layers_kib * 5,
        "50 environments use {states_kib} KiB, the image's layers {layers_kib} KiB"
    );
}

#[test]
#[ignore = "needs root"]
fn image_rm_is_refused_while_an_environment_uses_it() {
    let t = fixture();
    import_busybox(&t);
    let spec = t.spec(
        "rm.toml",
        "name = \"img-rm\"\n[root]\nimage = \"test/busybox:1\"\n[process]\ncommand = [\"/bin/sleep\", \"1000\"]\n",
    );
    ok(stockade(&t).arg("create").arg(&spec));
    let (code, _, err) = run(stockade(&t).args(["image", "rm", "test/busybox:1"]));
    assert_ne!(code, 0);
    assert!(err.contains("used by environment(s) img-rm"), "{err}");
    ok(stockade(&t).args(["delete", "--force", "img-rm"]));
    let out = ok(stockade(&t).args(["image", "rm", "test/busybox:1"]));
    assert!(
        out.contains("untagged test/busybox:1") && out.contains("removed sha256:"),
        "{out}"
    );
    ok(stockade(&t).args(["image", "prune"]));
    assert_eq!(fs::read_dir(t.store.join("layers")).unwrap().count(), 0);
    assert_eq!(
        fs::read_dir(t.store.join("blobs/sha256")).unwrap().count(),
        0
    );
}

fn wait_stopped(t: &Fixture, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = run(stockade(t).args(["state", name]));
        if out.contains("\"stopped\"") {
            return;
        }
        assert!(Instant::now() < deadline, "{name} did not stop: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root"]
fn commit_then_export_round_trips_through_podman_and_a_second_store() {
    let t = fixture();
    import_busybox(&t);
    let spec = t.spec(
        "c.toml",
        "name = \"img-commit\"\n[root]\nimage = \"test/busybox:1\"\n[process]\ncommand = \
         [\"/bin/sh\", \"-c\", \"echo changed > /etc/motd; rm /etc/passwd; mkdir -p /srv/new/deep; \
         echo x > /srv/new/deep/f\"]\n",
    );
    ok(stockade(&t).args(["run", "-d"]).arg(&spec));
    wait_stopped(&t, "img-commit");
    let diff = ok(stockade(&t).args(["diff", "img-commit"]));
    assert!(
        diff.contains("D /etc/passwd") && diff.contains("M /etc/motd"),
        "{diff}"
    );
    let tag = format!("localhost/stockade-commit-{}:1", std::process::id());
    let out = ok(stockade(&t).args(["commit", "img-commit", "--name", &tag]));
    assert!(out.starts_with(&format!("{tag} sha256:")), "{out}");
    ok(stockade(&t).args(["delete", "img-commit"]));

    let archive = t.path("committed.tar");
    ok(stockade(&t).args(["image", "export", &tag]).arg(&archive));

    let check = "cat /etc/motd /srv/new/deep/f; test -e /etc/passwd || echo no-passwd; ls /etc/opq";
    let want = "changed\nx\nno-passwd\nnew\n";

    // Into a second store, run by stockade.
    let t2 = fixture();
    let out = ok(stockade(&t2).args(["image", "import"]).arg(&archive));
    assert!(out.starts_with(&format!("{tag} ")), "{out}");
    let spec2 = t2.spec(
        "c2.toml",
        &format!("name = \"img-second\"\n[root]\nimage = \"{tag}\"\n"),
    );
    assert_eq!(
        ok(stockade(&t2)
            .arg("run")
            .arg(&spec2)
            .args(["--", "/bin/sh", "-c", check])),
        want
    );

    // podman load reads the archive; its copy of the root holds the committed changes.
    // (podman export of a container made from it, rather than podman run: crun may not
    // raise rlimits in a sandbox that stockade itself runs in.)
    let (code, out, err) = run(Command::new("podman").args(["load", "-i"]).arg(&archive));
    assert_eq!(code, 0, "podman load: {out}{err}");
    let ctr = format!("stockade-commit-{}", std::process::id());
    let (code, out, err) = run(Command::new("podman").args(["create", "--name", &ctr, &tag]));
    let rootfs = t.path("podman-rootfs");
    fs::create_dir(&rootfs).unwrap();
    let exported = if code == 0 {
        let tar = t.path("podman-export.tar");
        let e = run(Command::new("podman")
            .args(["export", "-o"])
            .arg(&tar)
            .arg(&ctr));
        let x = run(Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&rootfs));
        (
            e.0 == 0 && x.0 == 0,
            format!("{}{}{}{}", e.1, e.2, x.1, x.2),
        )
    } else {
        (false, String::new())
    };
    let _ = Command::new("podman").args(["rm", "-f", &ctr]).output();
    let _ = Command::new("podman").args(["rmi", "-f", &tag]).output();
    assert_eq!(code, 0, "podman create: {out}{err}");
    assert!(exported.0, "podman export: {}", exported.1);
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "changed\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("srv/new/deep/f")).unwrap(),
        "x\n"
    );
    assert!(!rootfs.join("etc/passwd").exists(), "the deletion was lost");
    assert!(!rootfs.join("etc/removed").exists() && !rootfs.join("etc/opq/old").exists());
    assert!(rootfs.join("bin/busybox").is_file());
}

#[test]
#[ignore = "needs root"]
fn concurrent_imports_of_one_image_leave_one_consistent_copy() {
    let t = fixture();
    let archive = t.path("busybox-oci.tar");
    oci_archive(
        &archive,
        &busybox_layers(),
        serde_json::json!({ "Cmd": ["/bin/sh", "-c", "true"] }),
        "test/busybox:1",
    );
    let children: Vec<_> = (0..4)
        .map(|_| {
            stockade(&t)
                .args(["image", "import"])
                .arg(&archive)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list: serde_json::Value =
        serde_json::from_str(&ok(stockade(&t).args(["image", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(fs::read_dir(t.store.join("layers")).unwrap().count(), 2);
    assert_eq!(fs::read_dir(t.store.join("tmp")).unwrap().count(), 0);

    // An import killed at any point leaves either nothing or the whole image visible.
    let t = fixture();
    for delay in [5, 20, 60] {
        let mut child = stockade(&t)
            .args(["image", "import"])
            .arg(&archive)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let list: serde_json::Value =
            serde_json::from_str(&ok(stockade(&t).args(["image", "list", "--json"]))).unwrap();
        for image in list.as_array().unwrap() {
            // Whatever is listed is whole: it runs.
            let r = ok(stockade(&t).args(["image", "inspect", image["id"].as_str().unwrap()]));
            let v: serde_json::Value = serde_json::from_str(&r).unwrap();
            for d in v["layer_dirs"].as_array().unwrap() {
                assert!(Path::new(d.as_str().unwrap()).is_dir(), "{d} missing");
            }
        }
    }
    // The next writer clears what the killed ones left, and completes.
    ok(stockade(&t).args(["image", "import"]).arg(&archive));
    assert_eq!(fs::read_dir(t.store.join("tmp")).unwrap().count(), 0);
    let spec = t.spec(
        "k.toml",
        "name = \"img-killed\"\n[root]\nimage = \"test/busybox:1\"\n",
    );
    ok(stockade(&t).arg("run").arg(&spec));
}

#[test]
#[ignore = "needs root"]
fn imports_while_an_environment_runs_leave_it_alone() {
    let t = fixture();
    let archive = import_busybox(&t);
    let spec = t.spec(
        "during.toml",
        "name = \"img-during\"\n[root]\nimage = \"test/busybox:1\"\n[process]\ncommand = [\"/bin/sleep\", \"1000\"]\n",
    );
    ok(stockade(&t).args(["run", "-d"]).arg(&spec));
    // The same image again (every layer already there), and under a second name.
    let (code, _, err) = run(stockade(&t).args(["image", "import"]).arg(&archive));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already in the store"), "{err}");
    ok(stockade(&t)
        .args(["image", "import", "--name", "test/other:2"])
        .arg(&archive));
    let out = ok(stockade(&t).args(["exec", "img-during", "--", "/bin/cat", "/etc/motd"]));
    assert_eq!(out, "from layer 2\n");
    let list: serde_json::Value =
        serde_json::from_str(&ok(stockade(&t).args(["image", "list", "--json"]))).unwrap();
    assert_eq!(
        list[0]["names"],
        serde_json::json!(["test/busybox:1", "test/other:2"])
    );
    // Untagging one name of an image in use is fine; removing the image by id is not.
    ok(stockade(&t).args(["image", "rm", "test/other:2"]));
    let id = list[0]["id"].as_str().unwrap().to_string();
    let (code, _, err) = run(stockade(&t).args(["image", "rm", &id]));
    assert_ne!(code, 0, "{err}");
    ok(stockade(&t).args(["delete", "--force", "img-during"]));
}

#[test]
#[ignore = "needs root"]
fn a_root_folder_imports_as_a_one_layer_image() {
    let t = fixture();
    let root = t.path("rootfs");
    fs::create_dir(&root).unwrap();
    let layers = busybox_layers();
    let mut a = tar::Archive::new(&layers[0][..]);
    a.unpack(&root).unwrap();
    let out = ok(stockade(&t)
        .args(["image", "import", "--rootfs", "--name", "folder/bb:1"])
        .arg(&root));
    assert!(out.starts_with("folder/bb:1 sha256:"), "{out}");
    // No process defaults: the spec says what to run.
    let spec = t.spec(
        "f.toml",
        "name = \"img-folder\"\n[root]\nimage = \"folder/bb:1\"\n[process]\ncommand = [\"/bin/cat\", \"/etc/removed\"]\n",
    );
    assert_eq!(ok(stockade(&t).arg("run").arg(&spec)), "layer 1\n");
    let spec = t.spec(
        "g.toml",
        "name = \"img-folder2\"\n[root]\nimage = \"folder/bb:1\"\n",
    );
    let (code, _, err) = run(stockade(&t).arg("run").arg(&spec));
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("has no Entrypoint or Cmd: set process.command"),
        "{err}"
    );
}
