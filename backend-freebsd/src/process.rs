//! What the environment's process needs, taken from the plan's exec steps and kept in the
//! state folder (`process.json`) so that `start` and `exec` find it again; and the pure
//! parts of starting it: the user's ids from the jail's passwd(5) and group(5) files, the
//! environment, and the `PATH` lookup of `argv[0]`.
//!
//! The system calls (fork(2), jail_attach(2), setgroups(2), setgid(2), setuid(2),
//! setrlimit(2), chdir(2), closefrom(2), execve(2)) are made by the FreeBSD runtime, in
//! the order of the plan's [`ExecStep`]s; everything here is text in, values out, and is
//! tested on every OS.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::exec::{EnvValue, ExecStep, Id};

/// The user the process runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSpec {
    /// Numeric ids from the spec.
    Ids {
        /// User id.
        uid: u32,
        /// Group id.
        gid: u32,
    },
    /// Names looked up in the jail's /etc/passwd and /etc/group.
    Name {
        /// User name.
        user: String,
        /// Group name; the user's primary group when absent.
        group: Option<String>,
    },
}

/// One environment variable; `None` is the user's home folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvEntry {
    /// Name.
    pub name: String,
    /// Value, or `None` for the home folder from the jail's /etc/passwd (`/` without one).
    pub value: Option<String>,
}

/// Everything needed to start a process in the jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessConfig {
    /// The jail to attach to, by name.
    pub jail: String,
    /// Who runs it.
    pub user: UserSpec,
    /// `RLIMIT_NOFILE` (soft and hard), when the spec limits open files.
    pub nofile: Option<u64>,
    /// Working folder, inside the jail.
    pub cwd: PathBuf,
    /// The command.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<EnvEntry>,
    /// `argv[0]` is looked up in the environment's `PATH`.
    pub search_path: bool,
}

/// Why a process cannot be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The plan's exec steps lack one (a planner bug).
    #[error("the plan has no {0} step")]
    MissingStep(&'static str),
    /// An empty command.
    #[error("the command is empty")]
    EmptyCommand,
    /// The user is not in the jail's /etc/passwd.
    #[error("user {0:?} is not in the environment's /etc/passwd: use a user that exists inside its root, or numeric ids (user = \"1000:1000\")")]
    NoUser(String),
    /// The group is not in the jail's /etc/group.
    #[error("group {0:?} is not in the environment's /etc/group: use a group that exists inside its root, or a numeric gid")]
    NoGroup(String),
    /// A passwd or group line with a bad number.
    #[error("{file}: bad entry for {name:?}")]
    BadEntry {
        /// Which file.
        file: &'static str,
        /// Whose entry.
        name: String,
    },
    /// A string that cannot be passed to execve(2).
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
}

impl ProcessConfig {
    /// The configuration a plan's exec steps describe.
    pub fn from_steps(steps: &[ExecStep]) -> Result<ProcessConfig, ProcessError> {
        let mut jail = None;
        let mut resolve = None;
        let mut nofile = None;
        let mut uid = None;
        let mut gid = None;
        let mut cwd = None;
        let mut exec = None;
        for step in steps {
            match step {
                ExecStep::JailAttach { jail: j } => jail = Some(j.clone()),
                ExecStep::ResolveUser { user, group } => resolve = Some((user, group)),
                ExecStep::SetRlimit {
                    resource: "RLIMIT_NOFILE",
                    hard,
                    ..
                } => nofile = Some(*hard),
                ExecStep::SetRlimit { .. }
                | ExecStep::SetGroups { .. }
                | ExecStep::CloseFrom { .. }
                // The runtime's stdio decides (`Stdio::Terminal`, `LogTerminal`).
                | ExecStep::Terminal => {}
                ExecStep::SetGid { gid: g } => gid = Some(g),
                ExecStep::SetUid { uid: u } => uid = Some(u),
                ExecStep::Chdir { path } => cwd = Some(path.clone()),
                ExecStep::Exec {
                    argv,
                    env,
                    search_path,
                } => exec = Some((argv, env, *search_path)),
            }
        }
        let user = match (resolve, uid, gid) {
            (Some((user, group)), _, _) => UserSpec::Name {
                user: user.clone(),
                group: group.clone(),
            },
            (None, Some(Id::Num(uid)), Some(Id::Num(gid))) => UserSpec::Ids {
                uid: *uid,
                gid: *gid,
            },
            (None, None, _) => return Err(ProcessError::MissingStep("setuid")),
            (None, _, _) => return Err(ProcessError::MissingStep("setgid")),
        };
        let (argv, env, search_path) = exec.ok_or(ProcessError::MissingStep("execve"))?;
        if argv.is_empty() {
            return Err(ProcessError::EmptyCommand);
        }
        Ok(ProcessConfig {
            jail: jail.ok_or(ProcessError::MissingStep("jail_attach"))?,
            user,
            nofile,
            cwd: cwd.ok_or(ProcessError::MissingStep("chdir"))?,
            argv: argv.clone(),
            env: env
                .iter()
                .map(|v| EnvEntry {
                    name: v.name.clone(),
                    value: match &v.value {
                        EnvValue::Set(s) => Some(s.clone()),
                        EnvValue::UserHome => None,
                    },
                })
                .collect(),
            search_path,
        })
    }

    /// The same process with another command (`stockade exec`).
    pub fn with_command(&self, command: &[String]) -> Result<ProcessConfig, ProcessError> {
        let first = command.first().ok_or(ProcessError::EmptyCommand)?;
        Ok(ProcessConfig {
            argv: command.to_vec(),
            search_path: !first.contains('/'),
            ..self.clone()
        })
    }

    /// `NAME=value` strings for execve(2), with the home folder filled in.
    pub fn environment(&self, home: &Path) -> Result<Vec<String>, ProcessError> {
        self.env
            .iter()
            .map(|e| {
                let value = match &e.value {
                    Some(v) => v.clone(),
                    None => home.display().to_string(),
                };
                let kv = format!("{}={value}", e.name);
                if kv.contains('\0') {
                    Err(ProcessError::Nul(kv))
                } else {
                    Ok(kv)
                }
            })
            .collect()
    }

    /// The paths execve(2) tries, in order: `argv[0]` itself, or each `PATH` entry joined
    /// with it (an empty entry is the working folder), as execvp(3) does.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let Some(first) = self.argv.first() else {
            return Vec::new();
        };
        if !self.search_path {
            return vec![PathBuf::from(first)];
        }
        let path = self
            .env
            .iter()
            .find(|e| e.name == "PATH")
            .and_then(|e| e.value.as_deref())
            .unwrap_or(crate::plan::exec::DEFAULT_PATH);
        path.split(':')
            .map(|dir| {
                if dir.is_empty() {
                    PathBuf::from(".").join(first)
                } else {
                    Path::new(dir).join(first)
                }
            })
            .collect()
    }
}

/// Resolved credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User id.
    pub uid: u32,
    /// Group id (also the whole supplementary group list).
    pub gid: u32,
    /// Home folder from passwd, or `/`.
    pub home: PathBuf,
}

/// One passwd(5) line: `name:password:uid:gid:class:change:expire:gecos:home:shell`
/// (the master.passwd fields less the three the public file omits also parse: only
/// name, uid, gid and home are read, by position from both ends).
struct PasswdEntry<'a> {
    name: &'a str,
    uid: &'a str,
    gid: &'a str,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            // FreeBSD's /etc/passwd has 10 fields (with class, change, expire), the
            // traditional format 7; home is always second to last.
            (f.len() >= 7).then(|| PasswdEntry {
                name: f[0],
                uid: f[2],
                gid: f[3],
                home: f[f.len() - 2],
            })
        })
}

/// The credentials of `user` from the texts of the jail's /etc/passwd and /etc/group.
pub fn resolve(user: &UserSpec, passwd: &str, group: &str) -> Result<Credentials, ProcessError> {
    let bad = |file, name: &str| ProcessError::BadEntry {
        file,
        name: name.to_string(),
    };
    match user {
        UserSpec::Ids { uid, gid } => {
            let home = passwd_entries(passwd)
                .find(|e| e.uid.parse() == Ok(*uid))
                .map_or_else(|| PathBuf::from("/"), |e| home_of(e.home));
            Ok(Credentials {
                uid: *uid,
                gid: *gid,
                home,
            })
        }
        UserSpec::Name { user, group: g } => {
            let e = passwd_entries(passwd)
                .find(|e| e.name == user)
                .ok_or_else(|| ProcessError::NoUser(user.clone()))?;
            let uid = e.uid.parse().map_err(|_| bad("/etc/passwd", user))?;
            let gid = match g {
                None => e.gid.parse().map_err(|_| bad("/etc/passwd", user))?,
                Some(g) => group_id(group, g)?,
            };
            Ok(Credentials {
                uid,
                gid,
                home: home_of(e.home),
            })
        }
    }
}

fn home_of(home: &str) -> PathBuf {
    if home.is_empty() {
        PathBuf::from("/")
    } else {
        PathBuf::from(home)
    }
}

/// The gid of a group in group(5) text (`name:password:gid:members`).
fn group_id(text: &str, name: &str) -> Result<u32, ProcessError> {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && f[0] == name {
            return f[2].parse().map_err(|_| ProcessError::BadEntry {
                file: "/etc/group",
                name: name.to_string(),
            });
        }
    }
    Err(ProcessError::NoGroup(name.to_string()))
}

#[cfg(test)]
mod tests {
    use stockade_core::Spec;

    use super::*;

    fn config(process: &str) -> ProcessConfig {
        let text = format!("name = \"web\"\n[root]\nhost = true\n[process]\n{process}\n[limits]\nopen_files = 64\n");
        let spec = Spec::from_toml(&text, Some(Path::new("/e/web.toml"))).expect("spec");
        ProcessConfig::from_steps(&crate::plan::exec::plan(&spec)).expect("config")
    }

    const PASSWD: &str = "# comment\nroot:*:0:0:Charlie &:/root:/bin/csh\n\
        www:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n\
        bob:*:1001:1001:default:0:0:Bob:/home/bob:/bin/sh\n";
    const GROUP: &str = "wheel:*:0:root\nwww:*:80:\nstaff:*:20:bob\n";

    #[test]
    fn numeric_user_from_the_plan() {
        let c = config(
            "command = [\"/bin/sh\", \"-c\", \"true\"]\nuser = \"1000:1001\"\ncwd = \"/srv\"",
        );
        assert_eq!(c.jail, "web");
        assert_eq!(
            c.user,
            UserSpec::Ids {
                uid: 1000,
                gid: 1001
            }
        );
        assert_eq!(c.nofile, Some(64));
        assert_eq!(c.cwd, Path::new("/srv"));
        assert!(!c.search_path);
        assert_eq!(c.candidates(), [PathBuf::from("/bin/sh")]);
        let env = c.environment(Path::new("/home/x")).expect("env");
        assert_eq!(
            env,
            [
                "HOME=/home/x",
                "PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
            ]
        );
    }

    #[test]
    fn named_user_and_path_lookup() {
        let c = config("command = [\"httpd\", \"-f\"]\nuser = \"www:staff\"\nenv = { PATH = \"/usr/local/sbin::/bin\" }");
        assert_eq!(
            c.user,
            UserSpec::Name {
                user: "www".into(),
                group: Some("staff".into())
            }
        );
        assert_eq!(
            c.candidates(),
            [
                PathBuf::from("/usr/local/sbin/httpd"),
                PathBuf::from("./httpd"),
                PathBuf::from("/bin/httpd")
            ]
        );
        let cred = resolve(&c.user, PASSWD, GROUP).expect("resolve");
        assert_eq!(
            cred,
            Credentials {
                uid: 80,
                gid: 20,
                home: "/nonexistent".into()
            }
        );
    }

    #[test]
    fn users_resolve_in_both_passwd_formats() {
        let bob = UserSpec::Name {
            user: "bob".into(),
            group: None,
        };
        assert_eq!(
            resolve(&bob, PASSWD, GROUP).expect("bob"),
            Credentials {
                uid: 1001,
                gid: 1001,
                home: "/home/bob".into()
            }
        );
        let root = UserSpec::Ids { uid: 0, gid: 0 };
        assert_eq!(
            resolve(&root, PASSWD, "").expect("root").home,
            Path::new("/root")
        );
        let nobody = UserSpec::Ids {
            uid: 4242,
            gid: 4242,
        };
        assert_eq!(resolve(&nobody, "", "").expect("ids").home, Path::new("/"));
    }

    #[test]
    fn missing_users_and_groups_say_what_to_do() {
        let ghost = UserSpec::Name {
            user: "ghost".into(),
            group: None,
        };
        let err = resolve(&ghost, PASSWD, GROUP).expect_err("no such user");
        assert_eq!(err, ProcessError::NoUser("ghost".into()));
        assert!(err.to_string().contains("numeric ids"), "{err}");
        let nogroup = UserSpec::Name {
            user: "www".into(),
            group: Some("nope".into()),
        };
        assert_eq!(
            resolve(&nogroup, PASSWD, GROUP),
            Err(ProcessError::NoGroup("nope".into()))
        );
    }

    #[test]
    fn exec_replaces_the_command_and_keeps_the_rest() {
        let c = config("command = [\"/bin/sh\"]");
        let e = c.with_command(&["ls".into(), "-l".into()]).expect("exec");
        assert_eq!(e.argv, ["ls", "-l"]);
        assert!(e.search_path);
        assert_eq!(e.jail, c.jail);
        assert_eq!(c.with_command(&[]), Err(ProcessError::EmptyCommand));
    }

    #[test]
    fn survives_a_json_round_trip() {
        let c = config("command = [\"/bin/sh\"]\nuser = \"www\"");
        let json = serde_json::to_string(&c).expect("json");
        let back: ProcessConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, c);
    }
}
