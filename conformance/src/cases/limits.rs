//! Resource limits: memory, processes, CPU time, open files. Where the kernels count or
//! enforce differently (the table's approximations), the expectation says so per target.

use serde_json::json;
use stockade_core::portability::{Feature, Target};

use crate::case::{
    at, attempt, attempt_error, check, probe, run, Action, Case, Env, Matcher, Script, Step,
};
use Matcher::{AtLeast, AtMost, Between, Contains, Eq, OneOf};

pub fn cases() -> Vec<Case> {
    vec![
        // Linux: the OOM killer ends the process that outgrows memory.max; FreeBSD's
        // memoryuse:deny makes the allocation fail instead.
        Case::new(
            "limits.memory",
            "limits.memory = 64M: touching 256 MiB fails (Linux: the OOM killer ends the allocating process)",
            Env::host(&[]).extra("[limits]\nmemory = \"64M\""),
            run(&["--alloc", "256"]),
        )
        .features(&[Feature::MemoryLimit])
        .checks(vec![
            attempt("run", "alloc", false),
            probe("run", "/attempts/alloc/signal", Eq(json!("SIGKILL")))
                .on(Target::Freebsd, OneOf(vec![json!(null), json!("SIGKILL"), json!("SIGSEGV"), json!("SIGBUS"), json!("SIGABRT")])),
        ]),
        // The first process itself outgrows the limit: Linux's OOM killer ends it and
        // stockade says why; FreeBSD makes the allocation fail instead.
        Case::new(
            "limits.memory_oom_first_process",
            "limits.memory = 64M and the first process touches 256 MiB: killed (137), and state says \"out of memory\"",
            Env::host(&["--alloc-self", "256"]).extra("[limits]\nmemory = \"64M\""),
            Script::Steps(vec![
                Step::new("run", Action::RunDetached),
                Step::new("stopped", Action::WaitStatus("stopped")),
                Step::new("delete", Action::Delete { force: false }),
            ]),
        )
        .features(&[Feature::MemoryLimit])
        .checks(vec![
            check(at("stopped", "/json/exit_code"), Eq(json!(137))).on(Target::Freebsd, AtLeast(0.0)),
            check(at("stopped", "/json/reason"), Contains(json!("out of memory"))).not_on(Target::Freebsd),
        ]),
        Case::new(
            "limits.memory_within",
            "limits.memory = 64M: touching 16 MiB works",
            Env::host(&[]).extra("[limits]\nmemory = \"64M\""),
            run(&["--alloc", "16"]),
        )
        .features(&[Feature::MemoryLimit])
        .checks(vec![attempt("run", "alloc", true)]),
        Case::new(
            "limits.processes",
            "limits.processes = 16: forks fail with EAGAIN once 16 processes exist",
            Env::host(&[]).extra("[limits]\nprocesses = 16"),
            run(&["--fork", "40"]),
        )
        .features(&[Feature::ProcessLimit])
        .checks(vec![
            attempt("run", "fork", false),
            attempt_error("run", "fork", &["EAGAIN"]),
            probe("run", "/attempts/fork/count", Between(10.0, 15.0)),
        ]),
        // pids.max counts threads; maxproc counts processes only.
        Case::new(
            "limits.processes_threads",
            "limits.processes = 16 and 40 threads: Linux counts threads (they fail), FreeBSD counts processes only",
            Env::host(&[]).extra("[limits]\nprocesses = 16"),
            run(&["--threads", "40"]),
        )
        .features(&[Feature::ProcessLimit])
        .checks(vec![
            attempt("run", "threads", false).on(Target::Freebsd, Eq(json!(true))),
            probe("run", "/attempts/threads/count", AtMost(15.0)).on(Target::Freebsd, Eq(json!(40))),
        ]),
        // cpu.max is a hard quota per period; pcpu is a decaying %CPU average.
        Case::new(
            "limits.cpus",
            "limits.cpus = 0.5: a busy loop gets about half a core",
            Env::host(&[]).extra("[limits]\ncpus = 0.5"),
            run(&["--cpu-burn", "2000"]),
        )
        .features(&[Feature::CpuLimit])
        .checks(vec![
            probe("run", "/attempts/cpu_burn/ratio", Between(0.25, 0.62))
                .on(Target::Freebsd, Between(0.2, 0.8)),
        ]),
        Case::new(
            "limits.open_files",
            "limits.open_files = 64: RLIMIT_NOFILE is 64 (soft and hard) and the 65th descriptor fails with EMFILE",
            Env::host(&[]).extra("[limits]\nopen_files = 64"),
            run(&["--open", "100"]),
        )
        .features(&[Feature::OpenFilesLimit])
        .checks(vec![
            probe("run", "/rlimits/nofile/soft", Eq(json!(64))),
            probe("run", "/rlimits/nofile/hard", Eq(json!(64))),
            attempt("run", "open", false),
            attempt_error("run", "open", &["EMFILE"]).on(Target::Freebsd, OneOf(vec![json!("EMFILE"), json!("ENFILE")])),
            probe("run", "/attempts/open/count", Between(55.0, 61.0)),
        ]),
    ]
}
