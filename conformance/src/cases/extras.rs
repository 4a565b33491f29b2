//! Rows beyond the first suite: a terminal for the process, published ports and the
//! environment's own resolver, pinned CPUs and limits visible inside, the userland's ABI,
//! and checkpoint/restore. Each case observes the effect from inside (or, for a published
//! port, from the host), never the mechanism.

use serde_json::json;
use stockade_core::portability::{Feature, Target};

use crate::case::{
    at, attempt, check, key, probe, run, strings, Action, Case, Env, Matcher, Script, Step,
};
use Matcher::{Contains, Eq};

fn file(path: &str) -> String {
    format!("/files/{}/content", key(path))
}

pub fn cases() -> Vec<Case> {
    vec![
        terminal(),
        published_port(),
        resolver(),
        pinned_cpus(),
        visible_limits(),
        linux_userland(),
        freebsd_userland(),
        checkpoint_restore(),
    ]
}

/// `process.terminal = true`: the process's stdin is a terminal of its own, opened inside
/// the environment (Linux: its own devpts, so it is /dev/pts/0).
fn terminal() -> Case {
    Case::new(
        "process.terminal",
        "process.terminal: the process runs on a pty of its own, opened inside the environment",
        Env::host(&["--path", "/dev/pts/0"]).process("terminal = true"),
        run(&[]),
    )
    .features(&[Feature::Terminal])
    .checks(vec![probe(
        "run",
        &format!("/paths/{}/exists", key("/dev/pts/0")),
        Eq(json!(true)),
    )
    // FreeBSD's pts numbers are host-wide: the jail's pty is not necessarily 0.
    .not_on(Target::Freebsd)])
}

/// `network.publish`: a server inside (on 8080: binding below 1024 is a privilege the
/// default set withholds) answers on the host's port.
fn published_port() -> Case {
    Case::new(
        "network.publish",
        "network.publish: a server inside on port 8080 answers on the host's 127.0.0.1:18481",
        Env::host(&["--listen", "8080", "--sleep", "300"]).extra(
            "[network]\nmode = \"private\"\naddress = \"10.213.4.2/30\"\ngateway = \"10.213.4.1\"\npublish = [\"18481:8080\"]",
        ),
        Script::Steps(vec![
            Step::new("run", Action::RunDetached),
            Step::new("running", Action::WaitStatus("running")),
            Step::new("host", Action::HostProbe(strings(&["--connect", "127.0.0.1:18481"]))),
            Step::new("delete", Action::Delete { force: true }),
        ]),
    )
    .features(&[Feature::NetworkPublish, Feature::NetworkPrivate])
    .checks(vec![
        check(at("running", "/json/status"), Eq(json!("running"))),
        // pf does not redirect the host's own connections (the table says so).
        attempt("host", "connect/127.0.0.1:18481", true).not_on(Target::Freebsd),
    ])
}

/// `network.dns` / `network.search`: the environment's own resolv.conf.
fn resolver() -> Case {
    Case::new(
        "network.dns",
        "network.dns and network.search: the environment's /etc/resolv.conf lists them",
        Env::host(&["--read", "/etc/resolv.conf"]).extra(
            "[network]\nmode = \"private\"\naddress = \"10.213.5.2/30\"\ngateway = \"10.213.5.1\"\nnat = false\ndns = [\"192.0.2.53\"]\nsearch = [\"cf.example\"]",
        ),
        run(&[]),
    )
    .features(&[Feature::NetworkDns, Feature::NetworkPrivate])
    .checks(vec![
        probe("run", &file("/etc/resolv.conf"), Contains(json!("nameserver 192.0.2.53"))),
        probe("run", &file("/etc/resolv.conf"), Contains(json!("cf.example"))),
    ])
}

/// `limits.cpuset = "0"`: the process may run on CPU 0 only.
fn pinned_cpus() -> Case {
    Case::new(
        "limits.cpuset",
        "limits.cpuset = \"0\": the process's CPU affinity is CPU 0 alone",
        Env::host(&["--read", "/proc/self/status"]).extra("[limits]\ncpuset = \"0\""),
        run(&[]),
    )
    .features(&[Feature::CpuSet])
    .checks(vec![probe(
        "run",
        &file("/proc/self/status"),
        Contains(json!("Cpus_allowed_list:\t0\n")),
    )
    // FreeBSD's procfs has no status file: the jail's cpuset is checked by its planner.
    .not_on(Target::Freebsd)])
}

/// `limits.visible = true`: /proc/meminfo inside shows the memory limit as the total.
fn visible_limits() -> Case {
    Case::new(
        "limits.visible",
        "limits.visible: /proc/meminfo shows the memory limit (96M) as MemTotal",
        Env::host(&["--read", "/proc/meminfo"])
            .extra("[limits]\nmemory = \"96M\"\ncpus = 1\nvisible = true"),
        run(&[]),
    )
    .features(&[
        Feature::VisibleLimits,
        Feature::MemoryLimit,
        Feature::CpuLimit,
    ])
    .checks(vec![probe(
        "run",
        &file("/proc/meminfo"),
        Contains(json!("98304 kB")),
    )
    // FreeBSD shows the host's hw.physmem (the table says so).
    .not_on(Target::Freebsd)])
}

/// `root.abi = "linux"`: native on Linux (the environment runs as any other).
fn linux_userland() -> Case {
    Case::new(
        "root.abi_linux",
        "root.abi = \"linux\": a Linux userland runs (natively on Linux, through linux64 on FreeBSD)",
        Env::host(&[]).root_keys("abi = \"linux\""),
        run(&[]),
    )
    .features(&[Feature::LinuxRoot])
    .checks(vec![probe("run", "/os", Eq(json!("linux")))])
}

/// `root.abi = "freebsd"`: native on FreeBSD; the table says Linux cannot (skipped there).
fn freebsd_userland() -> Case {
    Case::new(
        "root.abi_freebsd",
        "root.abi = \"freebsd\": a FreeBSD userland runs natively on FreeBSD",
        Env::host(&[]).root_keys("abi = \"freebsd\""),
        run(&[]),
    )
    .features(&[Feature::FreebsdRoot])
    .checks(vec![probe("run", "/os", Eq(json!("freebsd")))])
}

/// checkpoint then restore: the restored environment runs again under its name, and
/// once killed its exit is recorded like any detached environment's.
fn checkpoint_restore() -> Case {
    Case::new(
        "checkpoint.restore",
        "checkpoint stops a running environment into a folder; restore brings it back running, and its exit is recorded",
        Env::host(&["--sleep", "300"]),
        Script::Steps(vec![
            Step::new("run", Action::RunDetached),
            Step::new("running", Action::WaitStatus("running")),
            Step::new(
                "checkpoint",
                Action::Stockade(strings(&[
                    "checkpoint",
                    "{name}",
                    "--out",
                    "{workdir}/ckpt-{name}",
                ])),
            ),
            Step::new(
                "restore",
                Action::Stockade(strings(&[
                    "restore",
                    "{workdir}/ckpt-{name}",
                    "--name",
                    "{name}",
                ])),
            ),
            Step::new("restored", Action::WaitStatus("running")),
            Step::new("exec", Action::Exec(vec![])),
            Step::new("kill", Action::Kill("KILL")),
            Step::new("stopped", Action::WaitStatus("stopped")),
            Step::new("delete", Action::Delete { force: false }),
        ]),
    )
    .features(&[Feature::Checkpoint])
    .checks(vec![
        check(at("restored", "/json/status"), Eq(json!("running"))),
        probe("exec", "/processes", Matcher::AtLeast(2.0)),
        check(at("stopped", "/json/exit_code"), Eq(json!(137))),
        check(at("stopped", "/json/exit_signal"), Eq(json!(9))),
    ])
}
