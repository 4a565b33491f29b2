//! A spec → a jail.conf(5) block and rctl.conf(5) lines.
//!
//! Built from the FreeBSD planner's own output ([`crate::plan`]): its jail_set(2)
//! parameters, its nmount(2) list, its rctl rules and its network steps, so that jail(8)
//! started from the export makes the jail `stockade run` would make. What jail(8) does
//! itself is said its way (`mount.devfs`, `mount` fstab lines, `vnet.interface`,
//! `exec.jail_user`, `exec.clean`); the rest becomes exec hooks: host-side steps in
//! `exec.prestart` / `exec.poststop`, jail-side ones in `exec.start` before the command.
//!
//! Differences are listed as [`ExportNote`]s and, as comments, in the block itself.

use std::fmt;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use stockade_core::backend::{CgroupVersion, PlanContext};
use stockade_core::spec::{RootSource, Spec, User};

use crate::jailconf::quote;
use crate::plan::jail::{JailParam, JailValue};
use crate::plan::mount::{FsType, IovValue, MountOrigin, MountStep, Nmount};
use crate::plan::net::{NetStep, Side};
use crate::plan::{self, jail, mount, net, rctl, PlanError};

/// Where stockade keeps environments on FreeBSD; a `root.host` environment's tree is
/// built below it, as `stockade run` would.
const STATE_ROOT: &str = "/var/run/stockade";

/// Characters that make jail(8) run a command string with `/bin/sh -c`.
const SHELL_META: &[char] = &[
    '!', '"', '$', '&', '\'', '(', ')', '*', ';', '<', '>', '?', '[', '\\', ']', '`', '{', '|',
    '}', '~',
];

/// One way the exported jail differs from `stockade run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportNote {
    /// The spec key concerned.
    pub key: String,
    /// What differs, and what to do.
    pub note: String,
}

impl fmt::Display for ExportNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.note)
    }
}

/// A spec as jail(8) configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    /// The jail name (the spec's name).
    pub name: String,
    /// The jail.conf block, with the notes as comments.
    pub jail_conf: String,
    /// rctl.conf lines for `[limits]`, one rule per line (empty without limits).
    pub rctl_conf: String,
    /// Where the jail differs from `stockade run`'s.
    pub notes: Vec<ExportNote>,
}

impl Exported {
    /// The block followed by the rctl lines as comments: one text to print or to paste
    /// into /etc/jail.conf.
    pub fn text(&self) -> String {
        let mut out = self.jail_conf.clone();
        if !self.rctl_conf.is_empty() {
            out.push_str("\n# rctl.conf(5) lines for this jail: add them to /etc/rctl.conf\n");
            out.push_str("# (rctl needs kern.racct.enable=1 in /boot/loader.conf):\n");
            for line in self.rctl_conf.lines() {
                let _ = writeln!(out, "#   {line}");
            }
        }
        out
    }
}

/// Why a spec cannot be exported to jail.conf: it has no FreeBSD plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The FreeBSD planner refuses the spec (an unsupported feature, a name no jail takes).
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Exports a spec as a jail.conf block plus rctl.conf lines.
pub fn export_jail_conf(spec: &Spec) -> Result<Exported, ExportError> {
    let ctx = PlanContext::new(STATE_ROOT, &spec.name, CgroupVersion::V2);
    // The whole plan: it validates the spec for FreeBSD and carries the table's notes.
    let full = plan::plan(spec, &ctx)?;
    // A copy-on-write root is built under the state folder like a host view: the jail
    // must never run on the base folder itself.
    let jail_path = match &spec.root.source {
        RootSource::Path(p) if full.copy_on_write.is_none() => p.clone(),
        _ => full.jail_path.clone(),
    };
    let params = jail::params(spec, &jail_path).map_err(PlanError::from)?;
    let mounts = mount::plan(spec, &jail_path, full.copy_on_write.as_ref());
    let network = net::plan(&spec.name, &spec.network).map_err(PlanError::from)?;
    let rules = rctl::rules(&spec.name, &spec.limits);

    let mut b = Block::default();
    let mut notes: Vec<ExportNote> = full
        .notes
        .iter()
        .map(|n| ExportNote {
            key: n.key.clone(),
            note: n.text.to_string(),
        })
        .collect();

    for p in &params {
        match p.name {
            // The block's name is the jail's name.
            "name" => {}
            "persist" => notes.push(ExportNote {
                key: "process.command".into(),
                note: "persist is left out: the jail lives while its command runs, as a stockade environment does".into(),
            }),
            _ => b.param(p),
        }
    }

    let idiomatic = matches!(spec.root.source, RootSource::Path(_))
        && full.copy_on_write.is_none()
        && !mounts
            .iter()
            .skip(1)
            .any(|s| matches!(s, MountStep::Mkdir { .. } | MountStep::Remount(_)));
    if idiomatic {
        mounts_as_params(&mut b, &mounts, &jail_path, &mut notes);
    } else {
        mounts_as_hooks(&mut b, &mounts);
        notes.push(ExportNote {
            key: "root".into(),
            note: format!(
                "the tree under {} is built by exec.prestart commands and taken apart by exec.poststop, as stockade builds it",
                jail_path.display()
            ),
        });
    }

    network_hooks(&mut b, &network);
    process(&mut b, spec, &mut notes);

    let mut jail_conf = String::new();
    let origin = spec
        .source
        .as_ref()
        .map(|p| format!(" from {}", p.display()))
        .unwrap_or_default();
    let _ = writeln!(jail_conf, "# Exported by `stockade export`{origin}.");
    for n in &notes {
        let _ = writeln!(jail_conf, "# {n}");
    }
    let _ = writeln!(jail_conf, "{} {{", quote(&spec.name));
    for line in &b.lines {
        let _ = writeln!(jail_conf, "    {line}");
    }
    jail_conf.push_str("}\n");

    let rctl_conf: String = rules.iter().map(|r| format!("{r}\n")).collect();
    Ok(Exported {
        name: spec.name.clone(),
        jail_conf,
        rctl_conf,
        notes,
    })
}

#[derive(Default)]
struct Block {
    lines: Vec<String>,
    /// Names given a list value so far: the first value is set with `=` (a global of the
    /// same name in the file it is pasted into must not leak in), the next ones appended.
    lists: Vec<String>,
}

impl Block {
    fn param(&mut self, p: &JailParam) {
        let line = match &p.value {
            JailValue::Bool(true) => format!("{};", p.name),
            JailValue::Bool(false) => format!("{} = false;", p.name),
            JailValue::Int(n) => format!("{} = {n};", p.name),
            JailValue::Str(s) => format!("{} = {};", p.name, quote(s)),
        };
        self.lines.push(line);
    }

    fn flag(&mut self, name: &str) {
        self.lines.push(format!("{name};"));
    }

    fn set(&mut self, name: &str, value: &str) {
        self.lines.push(format!("{name} = {};", quote(value)));
    }

    fn append(&mut self, name: &str, value: &str) {
        let op = if self.lists.iter().any(|n| n == name) {
            "+="
        } else {
            self.lists.push(name.to_string());
            "="
        };
        self.lines.push(format!("{name} {op} {};", quote(value)));
    }
}

/// `mount` fstab lines in plan order, with a trailing `/dev` devfs and `/proc` procfs
/// said as `mount.devfs` / `mount.procfs`. jail(8) mounts `mount` lines first, then
/// devfs, then procfs, so only mounts already in that order at the end can use the
/// short forms; any other devfs or procfs stays a line, in its place.
fn mounts_as_params(
    b: &mut Block,
    steps: &[MountStep],
    jail_path: &Path,
    notes: &mut Vec<ExportNote>,
) {
    let mut list: Vec<&Nmount> = steps
        .iter()
        .filter_map(|s| match s {
            MountStep::Mount(m) => Some(m),
            _ => None,
        })
        // The jail's path is the root folder itself; only a read-only root needs a
        // mount, of the folder over itself.
        .filter(|m| m.origin != MountOrigin::Root || m.is_readonly())
        .collect();
    let at = |m: &Nmount, fstype: FsType, dir: &str| {
        m.fstype == fstype && m.fspath == jail_path.join(dir) && !m.is_readonly()
    };
    let procfs = list.last().is_some_and(|m| at(m, FsType::Procfs, "proc"));
    if procfs {
        list.pop();
    }
    let devfs = list.last().is_some_and(|m| at(m, FsType::Devfs, "dev"));
    if devfs {
        list.pop();
    }
    for m in list {
        if m.fstype == FsType::Devfs && m.is_readonly() {
            notes.push(ExportNote {
                key: m.origin.to_string(),
                note: "a read-only devfs: jail(8) mounts it with mount(8)'s ro option".into(),
            });
        }
        b.append("mount", &fstab_line(m));
    }
    if devfs {
        b.flag("mount.devfs");
    }
    if procfs {
        b.flag("mount.procfs");
    }
}

/// One fstab(5) line for an nmount(2) call.
fn fstab_line(m: &Nmount) -> String {
    let mut source = m.fstype.as_str().to_string();
    let mut options = vec![if m.is_readonly() { "ro" } else { "rw" }.to_string()];
    for pair in &m.iov {
        match (pair.name, &pair.value) {
            ("fstype" | "fspath" | "ro", _) => {}
            ("target" | "from", IovValue::Path(p)) => source = p.display().to_string(),
            ("target" | "from", IovValue::Str(s)) => source.clone_from(s),
            (name, IovValue::Str(s)) => options.push(format!("{name}={s}")),
            (name, IovValue::Path(p)) => options.push(format!("{name}={}", p.display())),
            (name, IovValue::Flag) => options.push(name.to_string()),
        }
    }
    format!(
        "{} {} {} {} 0 0",
        fstab_escape(&source),
        fstab_escape(&m.fspath.display().to_string()),
        m.fstype,
        options.join(",")
    )
}

fn fstab_escape(s: &str) -> String {
    s.replace(' ', "\\040").replace('\t', "\\011")
}

/// Every mount step as a host command before the jail exists, undone after it is gone.
fn mounts_as_hooks(b: &mut Block, steps: &[MountStep]) {
    for step in steps {
        let cmd = match step {
            MountStep::Mkdir { path, mode } => {
                format!("mkdir -p -m {mode:04o} {}", sh_quote_path(path))
            }
            MountStep::RequireDir { path } => format!("test -d {}", sh_quote_path(path)),
            MountStep::Mount(m) => mount_command(m, false),
            MountStep::Remount(m) => mount_command(m, true),
            MountStep::EnsureDir { path, mode } => {
                format!("mkdir -p -m {mode:04o} {}", sh_quote_path(path))
            }
            MountStep::ZfsSnapshot { snapshot } => format!("zfs snapshot {}", sh_quote(snapshot)),
            MountStep::ZfsClone { snapshot, clone } => format!(
                "zfs clone -o mountpoint=legacy {} {}",
                sh_quote(snapshot),
                sh_quote(clone)
            ),
        };
        b.append("exec.prestart", &cmd);
    }
    for path in mount::undo_order(steps) {
        b.append("exec.poststop", &format!("umount {}", sh_quote_path(path)));
    }
    for dataset in mount::datasets(steps).iter().rev() {
        b.append(
            "exec.poststop",
            &format!("zfs destroy {}", sh_quote(dataset)),
        );
    }
}

fn mount_command(m: &Nmount, update: bool) -> String {
    let mut source = m.fstype.as_str().to_string();
    let mut options = Vec::new();
    for pair in &m.iov {
        match (pair.name, &pair.value) {
            ("fstype" | "fspath", _) => {}
            ("target" | "from", IovValue::Path(p)) => source = p.display().to_string(),
            ("target" | "from", IovValue::Str(s)) => source.clone_from(s),
            (name, IovValue::Str(s)) => options.push(format!("{name}={s}")),
            (name, IovValue::Path(p)) => options.push(format!("{name}={}", p.display())),
            (name, IovValue::Flag) => options.push(name.to_string()),
        }
    }
    let mut cmd = String::from("mount");
    if update {
        cmd.push_str(" -u");
    } else {
        let _ = write!(cmd, " -t {}", m.fstype);
    }
    if !options.is_empty() {
        let _ = write!(cmd, " -o {}", sh_quote(&options.join(",")));
    }
    if !update {
        let _ = write!(cmd, " {}", sh_quote(&source));
    }
    let _ = write!(cmd, " {}", sh_quote_path(&m.fspath));
    cmd
}

/// The network plan as hooks: the epair is made and addressed on the host before the jail
/// exists, handed to the jail by `vnet.interface`, and the jail's side is addressed by
/// `exec.start` commands before the command itself.
fn network_hooks(b: &mut Block, steps: &[NetStep]) {
    let mut inside: Vec<String> = Vec::new();
    let mut host_epair: Option<String> = None;
    let mut up_done: Vec<(Side, String)> = Vec::new();
    for step in steps {
        match step {
            NetStep::CreateEpair(names) => {
                let stem = names.host.trim_end_matches('a');
                b.append(
                    "exec.prestart",
                    &format!(
                        "e=$(ifconfig epair create) && ifconfig $e name {} && ifconfig ${{e%a}}b name {}b",
                        names.host, stem
                    ),
                );
                host_epair = Some(names.host.clone());
            }
            NetStep::MoveToJail { iface, .. } => b.set("vnet.interface", iface),
            NetStep::AddAddress {
                side,
                iface,
                address,
            } => {
                let family = crate::plan::net::family(address.addr());
                let cmd = format!("ifconfig {iface} {family} {address} up");
                up_done.push((*side, iface.clone()));
                match side {
                    Side::Host => b.append("exec.prestart", &cmd),
                    Side::Jail => inside.push(cmd),
                }
            }
            NetStep::Up { side, iface } => {
                if up_done.iter().any(|(s, i)| s == side && i == iface) {
                    continue;
                }
                let cmd = format!("ifconfig {iface} up");
                match side {
                    Side::Host => b.append("exec.prestart", &cmd),
                    Side::Jail => inside.push(cmd),
                }
            }
            NetStep::DefaultRoute { side, gateway } => {
                let family = crate::plan::net::family(*gateway);
                let cmd = format!("route add -{family} default {gateway}");
                match side {
                    Side::Host => b.append("exec.prestart", &cmd),
                    Side::Jail => inside.push(cmd),
                }
            }
        }
    }
    if let Some(host) = host_epair {
        b.append("exec.poststop", &format!("ifconfig {host} destroy"));
    }
    for cmd in inside {
        b.append("exec.start", &cmd);
    }
}

/// The command as an `exec.start` string jail(8) turns back into the same argv, with
/// the user, the working folder, the environment and the open-files rlimit.
fn process(b: &mut Block, spec: &Spec, notes: &mut Vec<ExportNote>) {
    let p = &spec.process;
    match &p.user {
        User::Id { uid: 0, gid: 0 } => {}
        User::Id { uid, gid } => notes.push(ExportNote {
            key: "process.user".into(),
            note: format!(
                "jail(8) takes a user name (exec.jail_user), not {uid}:{gid}: the command runs as root until you set exec.jail_user"
            ),
        }),
        User::Name { user, group } => {
            b.set("exec.jail_user", user);
            if let Some(g) = group {
                notes.push(ExportNote {
                    key: "process.user".into(),
                    note: format!(
                        "jail(8) runs the command with {user}'s own groups, not group {g:?}"
                    ),
                });
            }
        }
    }
    b.flag("exec.clean");

    let mut prefix: Vec<String> = Vec::new();
    if let Some(n) = spec.limits.open_files {
        prefix.push(format!("ulimit -n {n}"));
    }
    if p.cwd != Path::new("/") {
        prefix.push(format!("cd {}", sh_quote_path(&p.cwd)));
    }
    let env: Vec<String> = p
        .env
        .iter()
        .map(|(k, v)| sh_quote(&format!("{k}={v}")))
        .collect();
    let argv_plain = p.command.iter().all(|a| is_plain(a));
    let command = if prefix.is_empty() && env.is_empty() && argv_plain {
        p.command.join(" ")
    } else if prefix.is_empty()
        && env.is_empty()
        && p.command.len() == 3
        && p.command[0] == "/bin/sh"
        && p.command[1] == "-c"
        && p.command[2].contains(SHELL_META)
    {
        // jail(8) hands a string with a shell metacharacter to /bin/sh -c: exact.
        p.command[2].clone()
    } else {
        let mut words = vec!["exec".to_string()];
        if !env.is_empty() {
            words.push("env".into());
            words.extend(env);
        }
        words.extend(p.command.iter().map(|a| sh_quote(a)));
        prefix.push(words.join(" "));
        prefix.join(" && ")
    };
    if p.init {
        notes.push(ExportNote {
            key: "process.init".into(),
            note: "a jail has no PID 1: no reaper is needed or run".into(),
        });
    }
    b.append("exec.start", &command);
}

fn is_plain(s: &str) -> bool {
    !s.is_empty() && !s.contains(SHELL_META) && !s.contains(char::is_whitespace)
}

/// A word `/bin/sh` reads back as `s`.
fn sh_quote(s: &str) -> String {
    if is_plain(s) && !s.starts_with('#') {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn sh_quote_path(p: &Path) -> String {
    sh_quote(&p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        Spec::from_toml(text, Some(Path::new("/etc/stockade/web.toml"))).unwrap()
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("/bin/sh"), "/bin/sh");
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote("K=V"), "K=V");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn commands_come_back_as_the_same_argv() {
        let s = spec("name = \"web\"\n[root]\npath = \"/j/web\"\n[process]\ncommand = [\"/bin/sh\", \"-c\", \"exec httpd -f; echo\"]\n");
        let e = export_jail_conf(&s).unwrap();
        assert!(
            e.jail_conf
                .contains("exec.start += \"exec httpd -f; echo\";"),
            "{}",
            e.jail_conf
        );
        let s = spec("name = \"web\"\n[root]\npath = \"/j/web\"\n[process]\ncommand = [\"/usr/sbin/httpd\", \"-f\"]\ncwd = \"/srv\"\nenv = { A = \"x y\" }\n");
        let e = export_jail_conf(&s).unwrap();
        assert!(
            e.jail_conf
                .contains("exec.start += \"cd /srv && exec env 'A=x y' /usr/sbin/httpd -f\";"),
            "{}",
            e.jail_conf
        );
    }
}
