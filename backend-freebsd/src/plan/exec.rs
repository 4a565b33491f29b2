//! Starting the command inside the jail: jail_attach(2), credentials, limits, execve(2).
//!
//! A forked child of stockade runs these steps in order:
//! 1. jail_attach(2) to the jail, its jid looked up by name (jail_getid(3)); from here on
//!    paths and /etc files are the jail's.
//! 2. A user given by name is resolved in the jail's /etc/passwd (and /etc/group), so the
//!    ids are the environment's, never the host's.
//! 3. setrlimit(2) `RLIMIT_NOFILE` while still root, as raising a hard limit needs it.
//! 4. setgroups(2), setgid(2), setuid(2), in that order (each later call drops the power
//!    the earlier ones need). The group list is the primary group only: on FreeBSD before
//!    15 the first entry of setgroups(2) is also the effective gid, so `[gid]` means
//!    "no supplementary groups" on every release (Linux: setgroups([])).
//! 5. chdir(2) as the user, so a folder the user cannot enter is an error, as on Linux.
//! 6. closefrom(2) 3: nothing of stockade's leaks into the environment.
//! 7. execve(2) with a clean environment: exactly the spec's `env`, plus `PATH` and `HOME`
//!    when the spec does not set them. `command[0]` without a `/` is looked up in that
//!    `PATH`.
//!
//! `process.init` plans no step: a jail has no PID 1 and the host's init reaps orphans
//! (the plan carries the portability table's note instead).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use stockade_core::spec::{Spec, User};

/// `PATH` when the spec sets none: FreeBSD's base system, then ports/packages.
pub const DEFAULT_PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin";

/// The first descriptor closed before exec: everything but stdin, stdout and stderr.
pub const CLOSE_FROM: i32 = 3;

/// A user or group id, fixed in the spec or found by name at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Id {
    /// A numeric id from the spec.
    Num(u32),
    /// The uid of this user in the jail's /etc/passwd.
    User(String),
    /// The gid of this group in the jail's /etc/group.
    Group(String),
    /// The primary gid of this user in the jail's /etc/passwd.
    PrimaryGroupOf(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::User(u) => write!(f, "uid of {u}"),
            Id::Group(g) => write!(f, "gid of group {g}"),
            Id::PrimaryGroupOf(u) => write!(f, "primary gid of {u}"),
        }
    }
}

/// An environment variable's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// This text.
    Set(String),
    /// The user's home folder from the jail's /etc/passwd, or `/` without an entry
    /// (the default for `HOME`).
    UserHome,
}

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// The name.
    pub name: String,
    /// The value.
    pub value: EnvValue,
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            EnvValue::Set(v) => write!(f, "{}={v:?}", self.name),
            EnvValue::UserHome => write!(
                f,
                "{}=<home from the jail's /etc/passwd, else />",
                self.name
            ),
        }
    }
}

/// One step of starting the process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ExecStep {
    /// jail_attach(2) to the jail with this name.
    JailAttach {
        /// The jail name.
        jail: String,
    },
    /// Look a named user (and group) up in the jail's /etc/passwd and /etc/group.
    ResolveUser {
        /// The user name.
        user: String,
        /// The group name, when the spec gives one.
        group: Option<String>,
    },
    /// setrlimit(2), soft and hard.
    SetRlimit {
        /// The resource, as `<sys/resource.h>` names it.
        resource: &'static str,
        /// Soft limit.
        soft: u64,
        /// Hard limit.
        hard: u64,
    },
    /// setgroups(2).
    SetGroups {
        /// The group list.
        groups: Vec<Id>,
    },
    /// setgid(2).
    SetGid {
        /// The group.
        gid: Id,
    },
    /// setuid(2).
    SetUid {
        /// The user.
        uid: Id,
    },
    /// chdir(2), a path inside the jail.
    Chdir {
        /// The folder.
        path: PathBuf,
    },
    /// `process.terminal`: a pty opened from the jail's /dev/ptmx, made the controlling
    /// terminal (setsid, `TIOCSCTTY`) and stdin/stdout/stderr; its master goes to stockade.
    Terminal,
    /// closefrom(2).
    CloseFrom {
        /// The lowest descriptor closed.
        fd: i32,
    },
    /// execve(2) (execvp-style lookup when `search_path`).
    Exec {
        /// argv.
        argv: Vec<String>,
        /// The complete environment, sorted by name.
        env: Vec<EnvVar>,
        /// True when `argv[0]` has no `/` and is looked up in the environment's `PATH`.
        search_path: bool,
    },
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ExecStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecStep::JailAttach { jail } => write!(f, "jail_attach {jail} (jid by name)"),
            ExecStep::ResolveUser { user, group: None } => {
                write!(f, "resolve user {user} in the jail's /etc/passwd")
            }
            ExecStep::ResolveUser {
                user,
                group: Some(g),
            } => write!(
                f,
                "resolve user {user} and group {g} in the jail's /etc/passwd and /etc/group"
            ),
            ExecStep::SetRlimit {
                resource,
                soft,
                hard,
            } => write!(f, "setrlimit {resource} soft={soft} hard={hard}"),
            ExecStep::SetGroups { groups } => write!(f, "setgroups [{}]", list(groups)),
            ExecStep::SetGid { gid } => write!(f, "setgid {gid}"),
            ExecStep::SetUid { uid } => write!(f, "setuid {uid}"),
            ExecStep::Chdir { path } => write!(f, "chdir {}", path.display()),
            ExecStep::Terminal => f.write_str(
                "open a pty from the jail's /dev/ptmx; setsid, TIOCSCTTY, dup2 onto 0/1/2; master to stockade",
            ),
            ExecStep::CloseFrom { fd } => write!(f, "closefrom {fd}"),
            ExecStep::Exec {
                argv,
                env,
                search_path,
            } => {
                write!(f, "execve {argv:?} env [{}]", list(env))?;
                if *search_path {
                    f.write_str(" (argv[0] looked up in PATH)")?;
                }
                Ok(())
            }
        }
    }
}

/// The environment: the spec's variables, plus `PATH` and `HOME` defaults, sorted.
pub fn environment(spec: &Spec) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = spec
        .process
        .env
        .iter()
        .map(|(name, value)| EnvVar {
            name: name.clone(),
            value: EnvValue::Set(value.clone()),
        })
        .collect();
    let defaults = [
        ("HOME", EnvValue::UserHome),
        ("PATH", EnvValue::Set(DEFAULT_PATH.to_string())),
    ];
    for (name, value) in defaults {
        if !spec.process.env.contains_key(name) {
            env.push(EnvVar {
                name: name.to_string(),
                value,
            });
        }
    }
    env.sort_by(|a, b| a.name.cmp(&b.name));
    env
}

/// The steps that start `spec`'s process in the jail.
pub fn plan(spec: &Spec) -> Vec<ExecStep> {
    let p = &spec.process;
    let mut steps = vec![ExecStep::JailAttach {
        jail: spec.name.clone(),
    }];
    let (uid, gid) = match &p.user {
        User::Id { uid, gid } => (Id::Num(*uid), Id::Num(*gid)),
        User::Name { user, group } => {
            steps.push(ExecStep::ResolveUser {
                user: user.clone(),
                group: group.clone(),
            });
            let gid = match group {
                Some(g) => Id::Group(g.clone()),
                None => Id::PrimaryGroupOf(user.clone()),
            };
            (Id::User(user.clone()), gid)
        }
    };
    if let Some(n) = spec.limits.open_files {
        steps.push(ExecStep::SetRlimit {
            resource: "RLIMIT_NOFILE",
            soft: n,
            hard: n,
        });
    }
    steps.extend([
        ExecStep::SetGroups {
            groups: vec![gid.clone()],
        },
        ExecStep::SetGid { gid },
        ExecStep::SetUid { uid },
        ExecStep::Chdir {
            path: p.cwd.clone(),
        },
    ]);
    if p.terminal {
        steps.push(ExecStep::Terminal);
    }
    steps.extend([
        ExecStep::CloseFrom { fd: CLOSE_FROM },
        ExecStep::Exec {
            argv: p.command.clone(),
            env: environment(spec),
            search_path: !p.command[0].contains('/'),
        },
    ]);
    steps
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn spec(process: &str, extra: &str) -> Spec {
        let text = format!("name = \"web\"\n[root]\nhost = true\n[process]\n{process}\n{extra}");
        Spec::from_toml(&text, Some(Path::new("/etc/stockade/web.toml"))).expect("valid spec")
    }

    fn render(steps: &[ExecStep]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numeric_user_with_open_files() {
        let s = spec(
            "command = [\"/bin/sh\", \"-c\", \"exec httpd\"]\nuser = \"1000:1001\"\ncwd = \"/srv\"\nenv = { LANG = \"C\" }",
            "[limits]\nopen_files = 1024\n",
        );
        assert_eq!(
            render(&plan(&s)),
            [
                "jail_attach web (jid by name)",
                "setrlimit RLIMIT_NOFILE soft=1024 hard=1024",
                "setgroups [1001]",
                "setgid 1001",
                "setuid 1000",
                "chdir /srv",
                "closefrom 3",
                "execve [\"/bin/sh\", \"-c\", \"exec httpd\"] env [HOME=<home from the jail's /etc/passwd, else />, \
                 LANG=\"C\", PATH=\"/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin\"]",
            ]
        );
    }

    #[test]
    fn named_user_is_resolved_in_the_jail() {
        let s = spec("command = [\"httpd\"]\nuser = \"www\"", "");
        let steps = plan(&s);
        assert_eq!(
            render(&steps)[..5],
            [
                "jail_attach web (jid by name)",
                "resolve user www in the jail's /etc/passwd",
                "setgroups [primary gid of www]",
                "setgid primary gid of www",
                "setuid uid of www",
            ]
        );
        let Some(ExecStep::Exec { search_path, .. }) = steps.last() else {
            panic!("last step is exec: {steps:?}");
        };
        assert!(*search_path);
    }

    #[test]
    fn named_group_and_no_rlimit_without_open_files() {
        let s = spec("command = [\"/bin/true\"]\nuser = \"www:staff\"", "");
        let steps = plan(&s);
        assert!(steps.contains(&ExecStep::SetGid {
            gid: Id::Group("staff".into())
        }));
        assert!(!steps
            .iter()
            .any(|s| matches!(s, ExecStep::SetRlimit { .. })));
    }

    #[test]
    fn spec_env_overrides_defaults_and_root_is_explicit() {
        let s = spec(
            "command = [\"/bin/true\"]\nenv = { PATH = \"/bin\", HOME = \"/h\" }",
            "",
        );
        assert_eq!(
            environment(&s),
            [
                EnvVar {
                    name: "HOME".into(),
                    value: EnvValue::Set("/h".into())
                },
                EnvVar {
                    name: "PATH".into(),
                    value: EnvValue::Set("/bin".into())
                },
            ]
        );
        // root:root still resets the host's supplementary groups.
        assert!(plan(&s).contains(&ExecStep::SetGroups {
            groups: vec![Id::Num(0)]
        }));
    }

    #[test]
    fn init_plans_no_step() {
        let with = spec("command = [\"/bin/true\"]\ninit = true", "");
        let without = spec("command = [\"/bin/true\"]", "");
        assert_eq!(plan(&with), plan(&without));
    }
}
