//! What an environment is cut off from: other processes, the host's SysV IPC objects, the
//! host name; who it runs as; the reaper; which descriptors it inherits; its working
//! folder and environment variables.

use serde_json::json;
use stockade_core::portability::{Feature, Target};
use stockade_core::spec::Privilege;

use crate::case::{
    attempt, attempt_error, key, probe, run, Action, Case, Env, Matcher, Script, Step,
};
use Matcher::{AtLeast, Contains, DiffersFromHost, Eq, Ne};

/// A SysV key the suite owns for the IPC case (0x5c0c).
const SHM_KEY: &str = "23564";

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "isolation.process",
            "the command sees only its own processes; on Linux it is PID 1",
            Env::host(&[]),
            run(&[]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![
            probe("run", "/processes", Eq(json!(1))),
            probe("run", "/pid", Eq(json!(1))).on(Target::Freebsd, Ne(json!(1))),
        ]),
        Case::new(
            "isolation.ipc",
            "a SysV shared memory segment made on the host is not visible inside",
            Env::host(&[]),
            Script::Steps(vec![
                Step::new("host_create", Action::HostProbe(vec!["--shm-create".into(), SHM_KEY.into()])),
                Step::new("host_sees", Action::HostProbe(vec!["--shm-get".into(), SHM_KEY.into()])),
                Step::new("run", Action::Run(vec!["--shm-get".into(), SHM_KEY.into()])),
            ]),
        )
        .features(&[Feature::IpcIsolation])
        .teardown(vec![Step::new("host_remove", Action::HostProbe(vec!["--shm-remove".into(), SHM_KEY.into()])).any_exit()])
        .checks(vec![
            attempt("host_sees", "shm_get", true),
            attempt("run", "shm_get", false),
            attempt_error("run", "shm_get", &["ENOENT"]),
        ]),
        Case::new(
            "isolation.hostname",
            "hostname sets the environment's own host name",
            Env::host(&[]).hostname("cf-uts-host"),
            run(&[]),
        )
        .features(&[Feature::Hostname])
        .checks(vec![
            probe("run", "/hostname", Eq(json!("cf-uts-host"))),
            probe("run", "/hostname", DiffersFromHost("/hostname")),
        ]),
        Case::new(
            "isolation.hostname_default",
            "without hostname, the host name is the environment's name",
            Env::host(&[]),
            run(&[]),
        )
        .features(&[Feature::Hostname])
        .checks(vec![probe("run", "/hostname", Eq(json!("{name}")))]),
        Case::new(
            "isolation.user",
            "process.user = \"1000:1000\": those ids, no supplementary groups, no privileges over root's files",
            Env::host(&[]).process("user = \"1000:1000\""),
            run(&["--write", "/owned-by-root"]),
        )
        .features(&[Feature::User])
        .checks(vec![
            probe("run", "/uid", Eq(json!(1000))),
            probe("run", "/euid", Eq(json!(1000))),
            probe("run", "/gid", Eq(json!(1000))),
            probe("run", "/egid", Eq(json!(1000))),
            probe("run", "/supplementary_groups", Eq(json!([]))),
            attempt_error("run", &format!("write/{}", key("/owned-by-root")), &["EACCES"]),
        ]),
        Case::new(
            "isolation.user_by_name",
            "process.user = \"tester:staff\" is resolved in the root's /etc/passwd and /etc/group",
            Env::path(&[]).process("user = \"tester:staff\""),
            run(&[]),
        )
        .features(&[Feature::User])
        .checks(vec![
            probe("run", "/uid", Eq(json!(1000))),
            probe("run", "/gid", Eq(json!(50))),
        ]),
        Case::new(
            "isolation.user_privileges_are_for_root",
            "privileges.allow applies to root only: a non-root user gets none of it",
            Env::host(&[]).process("user = \"1000:1000\"").extra("[privileges]\nallow = [\"raw_sockets\"]"),
            run(&["--raw-socket"]),
        )
        .features(&[Feature::User, Feature::Privilege(Privilege::RawSockets)])
        .checks(vec![
            attempt("run", "raw_socket", false),
            attempt_error("run", "raw_socket", &["EPERM", "EACCES"]),
        ]),
        // Linux: a reaper is PID 1 and the command its child. FreeBSD: no reaper runs; the
        // host's init adopts orphans. Either way orphans are reaped.
        Case::new(
            "isolation.init",
            "init = true: orphans are reaped; on Linux the command runs under a PID 1 reaper",
            Env::host(&[]).process("init = true"),
            run(&["--orphan"]),
        )
        .features(&[Feature::Init])
        .checks(vec![
            attempt("run", "orphan", true),
            probe("run", "/pid", Ne(json!(1))),
            probe("run", "/ppid", Eq(json!(1))).on(Target::Freebsd, AtLeast(1.0)),
        ]),
        Case::new(
            "isolation.fds",
            "the command inherits stdin, stdout and stderr only",
            Env::host(&[]),
            run(&[]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![probe("run", "/fds", Eq(json!([0, 1, 2])))]),
        Case::new(
            "isolation.cwd_env",
            "process.cwd and process.env are what the command gets, with PATH defaulted",
            Env::host(&[]).process("cwd = \"/probe\"\nenv = { GREETING = \"hello\" }"),
            run(&[]),
        )
        .features(&[Feature::ProcessIsolation])
        .checks(vec![
            probe("run", "/cwd", Eq(json!("/probe"))),
            probe("run", "/env/GREETING", Eq(json!("hello"))),
            probe("run", "/env/PATH", Contains(json!("/bin"))),
        ]),
    ]
}
