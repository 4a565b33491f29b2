//! Privileges: for every portable name in the table, one case that grants it and shows
//! the operation works, and one that does not and shows it is refused. The operations
//! are behaviours, the same question on both OSes ("can this environment open a raw
//! socket?"); on Linux the granted case also checks the effective capability set holds
//! what `portability::PRIVILEGES` maps the name to. A privilege the table marks
//! unsupported on a target skips there, both ways.
//!
//! Also the defaults every environment gets (no_new_privs, no CAP_SYS_ADMIN) and the
//! syscall filter on and off.

use serde_json::json;
use stockade_core::portability::{Feature, Target};
use stockade_core::spec::Privilege;

use crate::case::{
    attempt, attempt_error, probe, run, Action, Case, Check, Env, Matcher, Script, Step,
};
use Matcher::{Eq, HasCapabilitiesOf, Lacks, SameAsHost};

/// What refusing a privilege looks like.
#[derive(Clone, Copy)]
enum Refused {
    /// The attempt fails with one of these errors.
    With(&'static [&'static str]),
    /// It works anyway: the default set already grants it (chown).
    Never,
}

/// One privilege's trial.
struct Trial {
    privilege: Privilege,
    allowed: &'static str,
    denied: &'static str,
    /// The probe's flags, and the attempt they report under.
    args: &'static [&'static str],
    attempt: &'static str,
    /// Flags for the refused case, when they differ.
    denied_args: Option<&'static [&'static str]>,
    refused: Refused,
    /// FreeBSD cannot withhold it (the table's approximation): refused case works there.
    freebsd_cannot_withhold: bool,
}

const TRIALS: &[Trial] = &[
    Trial {
        privilege: Privilege::RawSockets,
        allowed: "privilege.raw_sockets.allowed",
        denied: "privilege.raw_sockets.denied",
        args: &["--raw-socket"],
        attempt: "raw_socket",
        denied_args: None,
        refused: Refused::With(&["EPERM", "EACCES"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::Chown,
        allowed: "privilege.chown.allowed",
        denied: "privilege.chown.default",
        args: &["--chown", "/chown-test"],
        attempt: "chown",
        denied_args: None,
        refused: Refused::Never,
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::NetBindService,
        allowed: "privilege.net_bind_service.allowed",
        denied: "privilege.net_bind_service.denied",
        args: &["--bind-port", "80"],
        attempt: "bind_port",
        denied_args: None,
        refused: Refused::With(&["EACCES", "EPERM"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::Mount,
        allowed: "privilege.mount.allowed",
        denied: "privilege.mount.denied",
        args: &["--mount-tmpfs", "/mnt-test"],
        attempt: "mount_tmpfs",
        denied_args: None,
        refused: Refused::With(&["EPERM"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::Sysvipc,
        allowed: "privilege.sysvipc.allowed",
        denied: "privilege.sysvipc.denied",
        args: &["--shm-private"],
        attempt: "shm_private",
        denied_args: None,
        refused: Refused::With(&["EACCES", "EPERM"]),
        freebsd_cannot_withhold: true,
    },
    // CAP_IPC_LOCK lifts RLIMIT_MEMLOCK; allow.mlock permits mlock at all. Refused: with
    // the soft limit at 0, a page cannot be locked on either OS.
    Trial {
        privilege: Privilege::Mlock,
        allowed: "privilege.mlock.allowed",
        denied: "privilege.mlock.denied",
        args: &["--mlock", "1"],
        attempt: "mlock",
        denied_args: Some(&["--mlock", "1", "--memlock-limit", "0"]),
        refused: Refused::With(&["EPERM", "ENOMEM", "EAGAIN"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::SetHostname,
        allowed: "privilege.set_hostname.allowed",
        denied: "privilege.set_hostname.denied",
        args: &["--sethostname", "cf-renamed"],
        attempt: "sethostname",
        denied_args: None,
        refused: Refused::With(&["EPERM"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::Chflags,
        allowed: "privilege.chflags.allowed",
        denied: "privilege.chflags.denied",
        args: &["--chflags", "/chflags-test"],
        attempt: "chflags",
        denied_args: None,
        refused: Refused::With(&["EPERM"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::Mknod,
        allowed: "privilege.mknod.allowed",
        denied: "privilege.mknod.denied",
        args: &["--mknod", "/node-test"],
        attempt: "mknod",
        denied_args: None,
        refused: Refused::With(&["EPERM"]),
        freebsd_cannot_withhold: false,
    },
    Trial {
        privilege: Privilege::Ptrace,
        allowed: "privilege.ptrace.allowed",
        denied: "privilege.ptrace.denied",
        args: &["--ptrace"],
        attempt: "ptrace",
        denied_args: None,
        refused: Refused::With(&["EPERM"]),
        freebsd_cannot_withhold: true,
    },
    Trial {
        privilege: Privilege::SysNice,
        allowed: "privilege.sys_nice.allowed",
        denied: "privilege.sys_nice.denied",
        args: &["--nice", "-5"],
        attempt: "nice",
        denied_args: None,
        refused: Refused::With(&["EACCES", "EPERM"]),
        freebsd_cannot_withhold: false,
    },
];

fn allowed_case(t: &Trial) -> Case {
    let p = t.privilege;
    let extra = format!("[privileges]\nallow = [\"{}\"]", p.name());
    let mut steps = vec![Step::new(
        "run",
        Action::Run(t.args.iter().map(|a| (*a).to_string()).collect()),
    )];
    let mut checks = vec![
        attempt("run", t.attempt, true),
        probe("run", "/capabilities/effective", HasCapabilitiesOf(p)).not_on(Target::Freebsd),
    ];
    if p == Privilege::SetHostname {
        // The new name holds inside; the host keeps its own.
        steps.push(Step::new("host", Action::HostProbe(vec![])));
        checks.push(probe(
            "run",
            "/attempts/sethostname/hostname_after",
            Eq(json!("cf-renamed")),
        ));
        checks.push(probe("host", "/hostname", SameAsHost("/hostname")));
    }
    Case::new(
        t.allowed,
        "the privilege granted: the operation works",
        Env::host(&[]).extra(extra),
        Script::Steps(steps),
    )
    .features(&[Feature::Privilege(p)])
    .checks(checks)
}

fn denied_case(t: &Trial) -> Case {
    let p = t.privilege;
    let args: Vec<String> = t
        .denied_args
        .unwrap_or(t.args)
        .iter()
        .map(|a| (*a).to_string())
        .collect();
    let checks: Vec<Check> = match t.refused {
        Refused::Never => vec![attempt("run", t.attempt, true)],
        Refused::With(errors) => {
            let mut ok = attempt("run", t.attempt, false);
            let mut err = attempt_error("run", t.attempt, errors);
            if t.freebsd_cannot_withhold {
                ok = ok.on(Target::Freebsd, Eq(json!(true)));
                err = err.on(Target::Freebsd, Eq(json!(null)));
            }
            vec![ok, err]
        }
    };
    let summary = match t.refused {
        Refused::Never => "not asked for: the operation works anyway (the default set has it)",
        Refused::With(_) => "the privilege not granted: the operation is refused",
    };
    Case::new(
        t.denied,
        summary,
        Env::host(&[]),
        Script::Steps(vec![Step::new("run", Action::Run(args))]),
    )
    .features(&[Feature::Privilege(p)])
    .checks(checks)
}

pub fn cases() -> Vec<Case> {
    let mut all = Vec::new();
    for t in TRIALS {
        all.push(allowed_case(t));
        all.push(denied_case(t));
    }
    all.push(
        Case::new(
            "privilege.defaults",
            "every environment: no_new_privs, no CAP_SYS_ADMIN (Linux mechanisms)",
            Env::host(&[]),
            run(&[]),
        )
        .features(&[Feature::SyscallFilter])
        .checks(vec![
            probe("run", "/no_new_privs", Eq(json!(null))).on_linux(Eq(json!(1))),
            probe(
                "run",
                "/capabilities/effective",
                Lacks(json!("CAP_SYS_ADMIN")),
            )
            .not_on(Target::Freebsd),
            probe(
                "run",
                "/capabilities/bounding",
                Lacks(json!("CAP_SYS_ADMIN")),
            )
            .not_on(Target::Freebsd),
        ]),
    );
    all.push(
        Case::new(
            "privilege.seccomp_default",
            "the default syscall filter is on (Linux), and FreeBSD has none to show",
            Env::host(&[]),
            run(&[]),
        )
        .features(&[Feature::SyscallFilter])
        .checks(vec![
            probe("run", "/seccomp", Eq(json!(null))).on_linux(Eq(json!(2)))
        ]),
    );
    all.push(
        Case::new(
            "privilege.seccomp_unconfined",
            "seccomp = \"unconfined\": no filter, so ptrace of a child is no longer refused",
            Env::host(&[]).extra("[privileges]\nseccomp = \"unconfined\""),
            run(&["--ptrace"]),
        )
        .features(&[Feature::SyscallFilterOff])
        .checks(vec![
            probe("run", "/seccomp", Eq(json!(null))).on_linux(Eq(json!(0))),
            attempt("run", "ptrace", true),
        ]),
    );
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_privilege_has_a_trial_named_after_it() {
        for p in Privilege::ALL {
            let t = TRIALS
                .iter()
                .find(|t| t.privilege == *p)
                .unwrap_or_else(|| panic!("{p:?}"));
            assert!(
                t.allowed.starts_with(&format!("privilege.{}.", p.name())),
                "{}",
                t.allowed
            );
            assert!(
                t.denied.starts_with(&format!("privilege.{}.", p.name())),
                "{}",
                t.denied
            );
        }
    }
}
