//! The environment's process: host name, credentials, environment variables, working
//! folder, file descriptors and the final `execve(2)`.
//!
//! - **Host name**: `sethostname(2)` in the new UTS namespace, before capabilities drop.
//! - **Credentials**: supplementary groups cleared (`setgroups(0, NULL)`), then `setgid`,
//!   then `setuid`. A user given by name is looked up in the root's `/etc/passwd` (and a
//!   group name in its `/etc/group`) at start time, after the pivot: the root's files
//!   decide, never the host's.
//! - **Environment**: exactly `process.env`, plus defaults for what a shell expects when
//!   the spec does not set it: `PATH` ([`DEFAULT_PATH`], as runc and Docker) and `HOME`
//!   (`/root` for uid 0, `/` for other numeric ids, the passwd entry's home for a user
//!   given by name). `TERM` is only there if the spec sets it: stockade does not guess
//!   the terminal. The spec's values always win.
//! - **Descriptors**: everything above stderr is closed (`close_range(3, ~0U, 0)`), so no
//!   descriptor of stockade's leaks in.
//! - **exec**: `command[0]` is looked up in the environment's `PATH` when it has no `/`;
//!   with `process.init`, stockade's minimal reaper runs as PID 1 and the command as its
//!   child, with signals forwarded.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use stockade_core::spec::{Spec, User};

/// `PATH` when the spec does not set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The first descriptor closed before exec; 0, 1 and 2 stay.
pub const FIRST_CLOSED_FD: u32 = 3;

/// The final steps of the environment's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessPlan {
    /// The host name set in the UTS namespace.
    pub hostname: String,
    /// Who the process runs as.
    pub user: User,
    /// Supplementary groups after `setgroups`: always empty.
    pub groups: Vec<u32>,
    /// The working folder, inside the root (checked to stay inside it).
    pub cwd: PathBuf,
    /// The environment, sorted by name.
    pub env: BTreeMap<String, String>,
    /// True when `HOME` is still to be taken from the root's `/etc/passwd` entry of a user
    /// given by name (`/` if the entry has none).
    pub home_from_passwd: bool,
    /// Descriptors from this one up are closed before exec.
    pub close_fds_from: u32,
    /// Run stockade's reaper as PID 1, the command as its child.
    pub init: bool,
    /// `process.terminal`: a pty from the environment's devpts as its stdio.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub terminal: bool,
    /// The program and its arguments.
    pub argv: Vec<String>,
}

impl ProcessPlan {
    pub(crate) fn describe_hostname(&self) -> Vec<String> {
        vec![format!("sethostname {}", self.hostname)]
    }

    pub(crate) fn describe_credentials(&self) -> Vec<String> {
        vec![match &self.user {
            User::Id { uid, gid } => format!("setgroups [], setgid {gid}, setuid {uid}"),
            User::Name { user, group } => match group {
                Some(g) => format!(
                    "setgroups [], setgid/setuid to user {user} (group {g}), \
                     resolved in the root's /etc/passwd and /etc/group"
                ),
                None => format!(
                    "setgroups [], setgid/setuid to user {user}, resolved in the root's /etc/passwd"
                ),
            },
        }]
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("chdir {}", self.cwd.display())];
        lines.push(format!(
            "close_range({}, ~0): keep only stdin, stdout, stderr",
            self.close_fds_from
        ));
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if self.home_from_passwd {
            env.push("HOME=<from /etc/passwd>".into());
        }
        if self.terminal {
            lines.push(
                "open a pty from the environment's /dev/ptmx (its own devpts); setsid, TIOCSCTTY, dup2 onto 0/1/2; master to stockade"
                    .into(),
            );
        }
        if self.init {
            lines.push("run stockade's reaper as PID 1, the command as its child".into());
        }
        lines.push(format!("execve {:?}", self.argv));
        lines.push(format!("with environment {}", env.join(" ")));
        lines
    }
}

/// The process steps of a spec.
pub fn plan(spec: &Spec) -> ProcessPlan {
    let p = &spec.process;
    let mut env = p.env.clone();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    let mut home_from_passwd = false;
    if !env.contains_key("HOME") {
        match &p.user {
            User::Id { uid: 0, .. } => {
                env.insert("HOME".into(), "/root".into());
            }
            User::Id { .. } => {
                env.insert("HOME".into(), "/".into());
            }
            User::Name { .. } => home_from_passwd = true,
        }
    }
    ProcessPlan {
        hostname: spec.hostname.clone(),
        user: p.user.clone(),
        groups: Vec::new(),
        cwd: p.cwd.clone(),
        env,
        home_from_passwd,
        close_fds_from: FIRST_CLOSED_FD,
        init: p.init,
        terminal: p.terminal,
        argv: p.command.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec_toml;

    fn process(section: &str) -> ProcessPlan {
        plan(&spec_toml(&format!(
            "name = \"web\"\nhostname = \"box\"\n[root]\npath = \"/r\"\n[process]\n{section}"
        )))
    }

    fn env(p: &ProcessPlan) -> Vec<(&str, &str)> {
        p.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn root_gets_path_and_home() {
        let p = process("command = [\"/bin/sh\", \"-c\", \"true\"]\n");
        assert_eq!(p.argv, ["/bin/sh", "-c", "true"]);
        assert_eq!(env(&p), [("HOME", "/root"), ("PATH", DEFAULT_PATH)]);
        assert!(!p.home_from_passwd);
        assert_eq!(p.hostname, "box");
        assert_eq!(p.user, User::ROOT);
        assert!(p.groups.is_empty());
        assert_eq!(p.cwd, PathBuf::from("/"));
        assert_eq!(p.close_fds_from, 3);
        assert!(!p.init);
    }

    #[test]
    fn other_ids_get_slash_as_home_and_no_term() {
        let p = process("command = [\"app\"]\nuser = \"1000:100\"\ninit = true\ncwd = \"/srv\"\n");
        assert_eq!(env(&p), [("HOME", "/"), ("PATH", DEFAULT_PATH)]);
        assert_eq!(
            p.user,
            User::Id {
                uid: 1000,
                gid: 100
            }
        );
        assert!(p.init);
        assert_eq!(p.cwd, PathBuf::from("/srv"));
        assert_eq!(
            p.describe_credentials()[0],
            "setgroups [], setgid 100, setuid 1000"
        );
    }

    #[test]
    fn spec_env_wins() {
        let p = process(
            "command = [\"app\"]\nenv = { PATH = \"/opt/bin\", HOME = \"/home/x\", TERM = \"xterm\", LANG = \"C.UTF-8\" }\n",
        );
        assert_eq!(
            env(&p),
            [
                ("HOME", "/home/x"),
                ("LANG", "C.UTF-8"),
                ("PATH", "/opt/bin"),
                ("TERM", "xterm")
            ]
        );
    }

    #[test]
    fn named_users_take_home_from_passwd() {
        let p = process("command = [\"app\"]\nuser = \"www:web\"\n");
        assert!(p.home_from_passwd);
        assert!(!p.env.contains_key("HOME"));
        assert_eq!(
            p.describe_credentials()[0],
            "setgroups [], setgid/setuid to user www (group web), resolved in the root's /etc/passwd and /etc/group"
        );
        let q = process("command = [\"app\"]\nuser = \"www\"\nenv = { HOME = \"/w\" }\n");
        assert!(!q.home_from_passwd);
        assert_eq!(q.env["HOME"], "/w");
    }
}
