//! One evaluated jail → spec TOML text and a report.
//!
//! Every parameter of the jail is looked at exactly once and ends up in one of three
//! places: a spec key (silently when the mapping is exact), a comment next to the key
//! it approximates, or the list at the end of the file of settings with no spec form.
//! The result is checked with the spec loader itself before it is returned.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use ipnet::IpNet;
use stockade_core::portability::PRIVILEGES;
use stockade_core::spec::{check_name, format_size, parse_size, Privilege};
use stockade_core::Spec;

use super::fstab;
use super::rctl::{self, Rule};
use super::toml_out::{comment, comment_text, string, strings};
use super::{ImportError, ImportOptions, Imported, ReportItem, ReportKind};
use crate::jailconf::{self, Document, Jail, Param, Position};

/// Characters that make jail(8) run a command string with `/bin/sh -c` instead of
/// splitting it on white space (usr.sbin/jail/command.c).
const SHELL_META: &[char] = &[
    '!', '"', '$', '&', '\'', '(', ')', '*', ';', '<', '>', '?', '[', '\\', ']', '`', '{', '|',
    '}', '~',
];

/// The devfs ruleset stockade uses (`devfsrules_jail`).
const JAIL_RULESET: &str = "4";

pub(super) fn run(
    text: &str,
    origin: &Path,
    options: &ImportOptions<'_>,
) -> Result<Vec<Imported>, ImportError> {
    let conf_options = jailconf::Options {
        root: options.host_root.clone(),
        ..jailconf::Options::default()
    };
    let doc = Document::parse_with(text, origin, &conf_options)?;
    let rules = match options.rctl_conf {
        Some((text, file)) => {
            rctl::parse(text, file).map_err(|(at, message)| ImportError::Rctl { at, message })?
        }
        None => Vec::new(),
    };
    let names = match options.only_jail {
        Some(n) => vec![n.to_string()],
        None => doc.jail_names(),
    };
    if names.is_empty() {
        return Err(ImportError::NoJails {
            file: origin.to_path_buf(),
        });
    }
    names
        .iter()
        .map(|n| {
            let jail = doc.jail(n)?;
            import_jail(&jail, &rules, options, doc.files())
        })
        .collect()
}

/// Where a note goes in the TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Top,
    Root,
    Process,
    Mount,
    Limits,
    Network,
    Privileges,
}

struct Noted {
    item: ReportItem,
    section: Section,
}

enum RootDraft {
    Path(String),
    Host,
}

struct MountDraft {
    /// jail(8) mounts `mount` lines, then `mount.fstab` lines, then `mount.devfs`, then
    /// `mount.procfs`, whatever order the parameters are written in.
    stage: u8,
    kind: &'static str,
    source: Option<String>,
    target: String,
    readonly: bool,
    size: Option<u64>,
}

#[derive(Default)]
struct LimitsDraft {
    memory: Option<u64>,
    processes: Option<u64>,
    cpus: Option<f64>,
    open_files: Option<u64>,
}

impl LimitsDraft {
    fn is_empty(&self) -> bool {
        self.memory.is_none()
            && self.processes.is_none()
            && self.cpus.is_none()
            && self.open_files.is_none()
    }
}

#[derive(Default)]
struct NetDraft {
    mode: &'static str,
    address: Option<IpNet>,
    gateway: Option<IpAddr>,
}

struct Importer<'a> {
    jail: &'a Jail,
    options: &'a ImportOptions<'a>,
    notes: Vec<Noted>,
    name: String,
    hostname: Option<String>,
    root: RootDraft,
    root_readonly: bool,
    /// The jail's path on the host, to turn fstab mount points into targets.
    jail_path: Option<PathBuf>,
    commands: Vec<(String, Position)>,
    /// The command, once [`Importer::process`] has decided it.
    argv: Option<Vec<String>>,
    user: Option<String>,
    mounts: Vec<MountDraft>,
    limits: LimitsDraft,
    network: NetDraft,
    /// Whether the jail has its own network stack.
    vnet: bool,
    allow: Vec<Privilege>,
    /// `exec.start` values consumed by the network mapping: (param index, value index).
    consumed: BTreeSet<(usize, usize)>,
}

fn import_jail(
    jail: &Jail,
    rules: &[Rule],
    options: &ImportOptions<'_>,
    files: &[PathBuf],
) -> Result<Imported, ImportError> {
    let mut im = Importer {
        jail,
        options,
        notes: Vec::new(),
        name: String::new(),
        hostname: None,
        root: RootDraft::Host,
        root_readonly: false,
        jail_path: None,
        commands: Vec::new(),
        argv: None,
        user: None,
        mounts: Vec::new(),
        limits: LimitsDraft::default(),
        network: NetDraft {
            mode: "none",
            ..NetDraft::default()
        },
        vnet: false,
        allow: Vec::new(),
        consumed: BTreeSet::new(),
    };
    im.name();
    im.root();
    im.network()?;
    im.privileges()?;
    for (i, p) in jail.params.iter().enumerate() {
        im.param(i, p)?;
    }
    im.process();
    im.mounts.sort_by_key(|m| m.stage);
    for rule in rules
        .iter()
        .filter(|r| r.subject == "jail" && r.id == jail.name)
    {
        im.rule(rule, None);
    }
    // File order (jail.conf and its includes as read, then any other file such as
    // rctl.conf or an fstab), then line and column; items with no place last.
    im.notes.sort_by_key(|n| match &n.item.at {
        Some(at) => (
            files
                .iter()
                .position(|f| **f == *at.file)
                .unwrap_or(files.len()),
            at.line,
            at.column,
        ),
        None => (usize::MAX, 0, 0),
    });
    let toml = im.render();
    if let Err(e) = Spec::from_toml(&toml, None) {
        return Err(ImportError::Generated {
            jail: jail.name.clone(),
            diagnostics: e.to_string(),
            toml,
        });
    }
    Ok(Imported {
        name: im.name,
        jail: jail.name.clone(),
        toml,
        report: im.notes.into_iter().map(|n| n.item).collect(),
    })
}

impl Importer<'_> {
    fn note(&mut self, kind: ReportKind, section: Section, p: &Param, note: impl Into<String>) {
        self.note_at(
            kind,
            section,
            &p.name,
            p.to_conf(),
            Some(p.at.clone()),
            note,
        );
    }

    fn note_at(
        &mut self,
        kind: ReportKind,
        section: Section,
        param: &str,
        setting: String,
        at: Option<Position>,
        note: impl Into<String>,
    ) {
        self.notes.push(Noted {
            item: ReportItem {
                kind,
                param: param.to_string(),
                setting,
                at,
                note: note.into(),
            },
            section,
        });
    }

    fn param_named(&self, name: &str) -> Option<&Param> {
        self.jail.param(name)
    }

    fn boolean(&self, p: &Param) -> Result<bool, ImportError> {
        p.bool().ok_or_else(|| ImportError::Invalid {
            at: p.last().map_or_else(|| p.at.clone(), |v| v.at.clone()),
            param: p.name.clone(),
            message: format!(
                "{:?} is not a boolean (jail(8) takes true, false or a number)",
                p.last().map_or("", |v| v.text.as_str())
            ),
        })
    }

    fn last_text(p: &Param) -> &str {
        p.last().map_or("", |v| v.text.as_str())
    }

    /// The jail's name, made a valid spec name when it is not one.
    fn name(&mut self) {
        let jail_name = self.jail.name.clone();
        if check_name(&jail_name).is_ok() {
            self.name = jail_name;
            return;
        }
        let mut name: String = jail_name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        name = name.trim_matches('-').to_string();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            name = format!("jail-{name}");
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            name = format!("jail-{name}");
        }
        name.truncate(64);
        let why = check_name(&jail_name).err().unwrap_or_default();
        self.note_at(
            ReportKind::Review,
            Section::Top,
            "name",
            format!("{} {{ ... }}", jailconf::quote(&jail_name)),
            Some(self.jail.at.clone()),
            format!("the jail name {why}; the environment is named {name:?} instead"),
        );
        self.name = name;
    }

    fn root(&mut self) {
        let Some(p) = self.param_named("path").cloned() else {
            self.note_at(
                ReportKind::Approximate,
                Section::Root,
                "path",
                "(no path)".into(),
                None,
                "the jail has no path, so it saw the host's whole file system; root.host = true gives a read-only view of the host's system folders instead",
            );
            return;
        };
        let text = Self::last_text(&p).to_string();
        let path = Path::new(&text);
        if text.is_empty() || path == Path::new("/") {
            self.note(
                ReportKind::Approximate,
                Section::Root,
                &p,
                "the jail's root is the host's /; root.host = true gives a read-only view of the host's system folders instead",
            );
            return;
        }
        if !path.is_absolute() {
            self.note(
                ReportKind::Review,
                Section::Root,
                &p,
                "a relative path was relative to the folder jail(8) ran in; in the spec it is relative to the TOML file: make it absolute",
            );
        }
        self.jail_path = Some(normalize(path));
        self.root = RootDraft::Path(text);
    }

    fn hostname(&mut self, p: &Param) {
        let h = Self::last_text(p).to_string();
        match stockade_core::spec::check_hostname(&h) {
            Ok(()) => self.hostname = Some(h),
            Err(why) => self.note(
                ReportKind::NotCarried,
                Section::Top,
                p,
                format!("{why}: the environment's host name stays its name"),
            ),
        }
    }

    /// `[network]` from vnet, ip4/ip6 and the exec hooks that address a vnet's interface.
    fn network(&mut self) -> Result<(), ImportError> {
        let vnet = match self.param_named("vnet").cloned() {
            None => false,
            Some(p) => match p.last().map(|v| v.text.to_ascii_lowercase()) {
                Some(ref v) if v == "new" => !p.is_negated(),
                Some(ref v) if v == "inherit" || v == "disable" => false,
                _ => self.boolean(&p)?,
            },
        };
        self.vnet = vnet;
        if vnet {
            return self.vnet_network();
        }
        let inherit = ["ip4", "ip6"].iter().any(|n| {
            self.param_named(n)
                .is_some_and(|p| Self::last_text(p).eq_ignore_ascii_case("inherit"))
        });
        let has_addrs = ["ip4.addr", "ip6.addr"]
            .iter()
            .any(|n| self.param_named(n).is_some_and(|p| !p.values.is_empty()));
        if inherit || has_addrs {
            self.network.mode = "host";
        } else {
            self.note_at(
                ReportKind::Approximate,
                Section::Network,
                "ip4",
                "(no ip4.addr, ip6.addr or inherit)".into(),
                None,
                "the jail had no IP address of its own; network.mode = \"none\" gives it a loopback interface only",
            );
        }
        Ok(())
    }

    fn vnet_network(&mut self) -> Result<(), ImportError> {
        let ifaces: Vec<String> = self
            .param_named("vnet.interface")
            .map(|p| p.values.iter().map(|v| v.text.clone()).collect())
            .unwrap_or_default();
        let mut address: Option<IpNet> = None;
        let mut gateway: Option<IpAddr> = None;
        let mut host_side: Option<IpNet> = None;
        for (pi, p) in self.jail.params.iter().enumerate() {
            let base = p.base_name();
            let inside = base == "exec.start" || base == "command";
            let host_hook = matches!(
                base.as_str(),
                "exec.prestart" | "exec.created" | "exec.poststart"
            );
            if !inside && !host_hook {
                continue;
            }
            for (vi, v) in p.values.iter().enumerate() {
                let Some(argv) = simple_argv(&v.text) else {
                    continue;
                };
                let prog = argv.first().map(|a| basename(a)).unwrap_or_default();
                if prog == "ifconfig" && argv.len() >= 2 {
                    let ifname = argv[1].as_str();
                    let ours = if ifaces.is_empty() {
                        ifname.starts_with("epair") && ifname.ends_with('b')
                    } else {
                        ifaces.iter().any(|i| i == ifname)
                    };
                    if inside && ifname == "lo0" {
                        self.consumed.insert((pi, vi));
                    } else if inside && ours {
                        if let Some(a) = ifconfig_address(&argv[2..]) {
                            address.get_or_insert(a);
                            self.consumed.insert((pi, vi));
                        }
                    } else if host_hook {
                        if let Some(a) = ifconfig_address(&argv[2..]) {
                            host_side.get_or_insert(a);
                        }
                    }
                } else if inside && prog == "route" {
                    if let Some(gw) = default_route(&argv[1..]) {
                        gateway.get_or_insert(gw);
                        self.consumed.insert((pi, vi));
                    }
                }
            }
        }
        let Some(address) = address else {
            let wired = !ifaces.is_empty()
                || self.jail.params.iter().any(|p| {
                    p.base_name().starts_with("exec.")
                        && p.values.iter().any(|v| v.text.contains("epair"))
                });
            if !wired {
                // A vnet with only lo0: exactly network.mode = "none".
                return Ok(());
            }
            self.note_at(
                ReportKind::Review,
                Section::Network,
                "vnet",
                "vnet".into(),
                self.param_named("vnet").map(|p| p.at.clone()),
                "a vnet jail whose address is not set in its exec.start hooks (the jail's own rc.conf?): mapped to network.mode = \"none\" (loopback only); set mode = \"private\" and address to give it a link to the host",
            );
            return Ok(());
        };
        let gateway = gateway
            .or_else(|| host_side.map(|h| h.addr()))
            .filter(|g| address.contains(g) && *g != address.addr());
        self.network = NetDraft {
            mode: "private",
            address: Some(address),
            gateway,
        };
        Ok(())
    }

    /// `privileges.allow` from `allow.*`, through the core table read in reverse.
    fn privileges(&mut self) -> Result<(), ImportError> {
        let mut seen_reserved_ports = false;
        let mut seen_set_hostname = false;
        let mut mount_fs: Vec<String> = Vec::new();
        let allow_mount = match self.param_named("allow.mount").cloned() {
            Some(p) => self.boolean(&p)?,
            None => false,
        };
        for p in self.jail.params.clone() {
            let base = p.base_name();
            if !base.starts_with("allow.") || base == "allow.dying" {
                continue;
            }
            let on = self.boolean(&p)?;
            seen_reserved_ports |= base == "allow.reserved_ports";
            seen_set_hostname |= base == "allow.set_hostname";
            let mapping = PRIVILEGES
                .iter()
                .find(|m| m.jail_params.contains(&base.as_str()));
            match mapping {
                Some(m) if m.privilege == Privilege::Mount && base != "allow.mount" => {
                    if on && allow_mount {
                        mount_fs.push(base.trim_start_matches("allow.mount.").to_string());
                    } else if !on {
                        self.note(
                            ReportKind::Implied,
                            Section::Privileges,
                            &p,
                            "off, as in every stockade environment without privilege \"mount\"",
                        );
                    } else {
                        self.note(
                            ReportKind::Implied,
                            Section::Privileges,
                            &p,
                            "has no effect without allow.mount, so nothing is granted",
                        );
                    }
                }
                Some(m) if on => {
                    if !self.allow.contains(&m.privilege) {
                        self.allow.push(m.privilege);
                    }
                }
                Some(_) => self.note(
                    ReportKind::Implied,
                    Section::Privileges,
                    &p,
                    "not granting it is stockade's default",
                ),
                None if !on => self.note(
                    ReportKind::Implied,
                    Section::Privileges,
                    &p,
                    "off, as in every stockade environment",
                ),
                None => self.note(
                    ReportKind::NotCarried,
                    Section::Privileges,
                    &p,
                    "no portable privilege grants it (see `stockade portability` for the list)",
                ),
            }
        }
        if allow_mount {
            let all = ["tmpfs", "nullfs", "procfs", "devfs"];
            let missing: Vec<&str> = all
                .iter()
                .copied()
                .filter(|fs| !mount_fs.iter().any(|m| m == fs))
                .collect();
            if !missing.is_empty() {
                if let Some(p) = self.param_named("allow.mount").cloned() {
                    self.note(
                        ReportKind::Approximate,
                        Section::Privileges,
                        &p,
                        format!(
                            "the jail could not mount {}; privilege \"mount\" allows tmpfs, nullfs, procfs and devfs",
                            missing.join(", ")
                        ),
                    );
                }
            }
        }
        if !seen_reserved_ports {
            self.allow.push(Privilege::NetBindService);
            self.note_at(
                ReportKind::Approximate,
                Section::Privileges,
                "allow.reserved_ports",
                "(allow.reserved_ports not set)".into(),
                None,
                "FreeBSD lets jail root bind ports below 1024 unless allow.reserved_ports = false, so net_bind_service is granted; remove it if the jail does not need it",
            );
        }
        if !seen_set_hostname {
            self.note_at(
                ReportKind::Approximate,
                Section::Privileges,
                "allow.set_hostname",
                "(allow.set_hostname not set)".into(),
                None,
                "FreeBSD lets jail root change its host name unless allow.set_hostname = false; not granted here, because on Linux set_hostname needs CAP_SYS_ADMIN: add \"set_hostname\" if the jail needs it",
            );
        }
        // The core table's order: one jail, one printout.
        self.allow
            .sort_by_key(|p| Privilege::ALL.iter().position(|q| q == p));
        Ok(())
    }

    /// Every parameter not handled by a pass above.
    fn param(&mut self, index: usize, p: &Param) -> Result<(), ImportError> {
        use ReportKind::{Approximate, Implied, NotCarried};
        let base = p.base_name();
        let value = Self::last_text(p).to_ascii_lowercase();
        match base.as_str() {
            "name" | "path" | "vnet" => {}
            b if b.starts_with("allow.") && b != "allow.dying" => {}
            "jid" => self.note(NotCarried, Section::Top, p, "jail ids are given when the jail starts"),
            "host.hostname" => self.hostname(p),
            "host" if value == "inherit" => self.note(Approximate, Section::Top, p, "the jail shared the host's name; a stockade environment always has its own"),
            "host" => self.note(Implied, Section::Top, p, "a stockade environment always has its own host name"),
            "ip4" | "ip6" if value == "inherit" => {}
            "ip4" | "ip6" => self.note(Implied, Section::Network, p, "the addresses follow network.mode"),
            "ip4.addr" | "ip6.addr" => self.addresses(p),
            "interface" => self.note(NotCarried, Section::Network, p, "jail(8) added the jail's addresses to this host interface; stockade does not add addresses to host interfaces: add them on the host if the environment must answer on them"),
            "vnet.interface" => self.note(Approximate, Section::Network, p, "stockade makes its own epair(4) for network.mode = \"private\" (named after the environment) and needs no interface from the host"),
            "ip4.saddrsel" | "ip6.saddrsel" | "ip_hostname" => self.note(NotCarried, Section::Network, p, "no spec form"),
            "enforce_statfs" if value == "2" => self.note(Implied, Section::Top, p, "stockade uses enforce_statfs = 2 (1 with privilege \"mount\")"),
            "enforce_statfs" => self.note(Approximate, Section::Top, p, "stockade always uses enforce_statfs = 2 (1 with privilege \"mount\"): the environment sees only its own mounts"),
            "securelevel" if value == "2" => self.note(Implied, Section::Top, p, "stockade jails run at securelevel 2"),
            "securelevel" => self.note(Approximate, Section::Top, p, "stockade jails run at securelevel 2 (Linux has no securelevel)"),
            "children.max" if value == "0" => self.note(Implied, Section::Top, p, "stockade environments cannot make nested jails"),
            "children.max" => self.note(NotCarried, Section::Top, p, "nested jails: stockade environments cannot make jails"),
            "sysvmsg" | "sysvsem" | "sysvshm" if value == "new" => self.note(Implied, Section::Top, p, "stockade always gives the environment its own System V IPC (Linux: IPC namespace)"),
            "sysvmsg" | "sysvsem" | "sysvshm" => self.note(Approximate, Section::Top, p, "stockade always gives the environment its own System V IPC (FreeBSD: new, Linux: IPC namespace), never the host's"),
            "devfs_ruleset" if value == JAIL_RULESET => self.note(Implied, Section::Mount, p, "stockade's /dev uses ruleset 4 (devfsrules_jail)"),
            "devfs_ruleset" => self.note(Approximate, Section::Mount, p, "stockade's /dev uses ruleset 4 (devfsrules_jail) on FreeBSD and a fixed minimal /dev on Linux; custom rulesets are not carried"),
            "persist" => self.note(Approximate, Section::Process, p, "a stockade environment lives while its command runs (use `stockade run -d` to keep it in the background), not without processes"),
            "mount.devfs" => {
                if self.boolean(p)? {
                    self.mounts.push(MountDraft::simple(2, "dev", "/dev"));
                } else {
                    self.note(Approximate, Section::Mount, p, "stockade always gives an environment a minimal /dev");
                }
            }
            "mount.procfs" => {
                if self.boolean(p)? {
                    self.mounts.push(MountDraft::simple(3, "proc", "/proc"));
                } else {
                    self.note(Implied, Section::Mount, p, "no /proc unless a [[mount]] of kind proc asks for it");
                }
            }
            "mount.fdescfs" if !self.boolean(p)? => self.note(Implied, Section::Mount, p, "not mounted by default"),
            "mount.fdescfs" => self.note(NotCarried, Section::Mount, p, "fdescfs has no spec mount kind"),
            "mount.fstab" => self.fstab_files(p)?,
            "mount" => {
                for v in &p.values {
                    match fstab::parse_line(&v.text, v.at.clone()) {
                        Ok(Some(e)) => self.mount_entry(&e, "mount"),
                        Ok(None) => {}
                        Err((at, message)) => {
                            return Err(ImportError::Invalid { at, param: p.name.clone(), message })
                        }
                    }
                }
            }
            "exec.start" | "command" => {
                for (vi, v) in p.values.iter().enumerate() {
                    if !self.consumed.contains(&(index, vi)) && !v.text.trim().is_empty() {
                        self.commands.push((v.text.clone(), v.at.clone()));
                    }
                }
                if p.values.iter().enumerate().any(|(vi, _)| self.consumed.contains(&(index, vi))) {
                    self.note(Approximate, Section::Network, p, "the ifconfig/route commands are carried into [network]: stockade addresses the interface and lo0 itself");
                }
            }
            "exec.jail_user" => self.jail_user(p),
            "exec.clean" if self.boolean(p)? => self.note(Implied, Section::Process, p, "stockade always starts the command with a clean environment (process.env plus PATH and HOME)"),
            "exec.clean" => self.note(Approximate, Section::Process, p, "jail(8) passed the host's environment to the command; stockade starts from a clean one: put the variables it needs in process.env"),
            "exec.stop" => self.note(NotCarried, Section::Process, p, "ran inside the jail at stop; `stockade stop` sends SIGTERM, waits, then SIGKILLs: let the command shut down on SIGTERM"),
            "exec.prestart" | "exec.poststart" | "exec.prestop" | "exec.poststop"
            | "exec.created" | "exec.prepare" | "exec.release" => self.hook(p),
            "exec.consolelog" => self.note(NotCarried, Section::Process, p, "stockade passes the command's output through (`run`), or to its log with `run -d`: redirect it yourself for a file"),
            "exec.timeout" | "stop.timeout" => self.note(NotCarried, Section::Process, p, "use `stockade stop --time SECONDS` for the stop grace period"),
            "exec.fib" => self.note(NotCarried, Section::Network, p, "routing tables (FIBs) have no spec form"),
            "exec.system_user" | "exec.system_jail_user" => self.note(NotCarried, Section::Process, p, "no spec form"),
            "depend" => self.note(NotCarried, Section::Top, p, "start order between environments is yours to keep: start the dependencies first"),
            "allow.dying" => self.note(NotCarried, Section::Top, p, "no spec form"),
            _ => self.note(NotCarried, Section::Top, p, "no spec form"),
        }
        Ok(())
    }

    fn addresses(&mut self, p: &Param) {
        if self.vnet {
            self.note(
                ReportKind::NotCarried,
                Section::Network,
                p,
                "a vnet jail's own stack is configured by its hooks, not by this parameter",
            );
            return;
        }
        let host_ifaces: Vec<&str> = p
            .values
            .iter()
            .filter_map(|v| v.text.split_once('|').map(|(i, _)| i))
            .collect();
        let mut note = String::from("the jail was limited to these addresses on the host's network stack; network.mode = \"host\" shares every host address (Linux: the host's network namespace)");
        if !host_ifaces.is_empty() || self.param_named("interface").is_some() {
            note.push_str("; jail(8) also added them to the host interface at start: stockade does not, so add them on the host");
        }
        self.note(ReportKind::Approximate, Section::Network, p, note);
    }

    fn jail_user(&mut self, p: &Param) {
        let user = Self::last_text(p).to_string();
        if user == "root" || user.is_empty() {
            self.note(
                ReportKind::Implied,
                Section::Process,
                p,
                "root is the default user",
            );
            return;
        }
        let valid =
            !user.contains([':', '/', '\0']) && !user.starts_with(|c: char| c.is_ascii_digit());
        if valid {
            self.user = Some(user);
        } else {
            self.note(
                ReportKind::NotCarried,
                Section::Process,
                p,
                "not a user name the spec accepts: set process.user to \"uid:gid\"",
            );
        }
    }

    fn hook(&mut self, p: &Param) {
        let mut limits = 0;
        for v in &p.values {
            let Some(argv) = simple_argv(&v.text) else {
                continue;
            };
            if argv.first().map(|a| basename(a)) != Some("rctl") {
                continue;
            }
            let mut args = argv.iter().skip(1);
            while let Some(a) = args.next() {
                if a != "-a" {
                    continue;
                }
                let Some(rule) = args.next() else { break };
                if let Ok(r) = rctl::parse_rule(rule, v.at.clone()) {
                    if r.subject == "jail" && r.id == self.jail.name {
                        self.rule(&r, Some(&p.name));
                        limits += 1;
                    }
                }
            }
        }
        let network_words = ["epair", "bridge", "ifconfig", "jib", "jng"];
        let note = if limits > 0 {
            "host-side hook; its rctl limits are carried into [limits], the rest is not: run it yourself around `stockade run` if still needed"
        } else if p
            .values
            .iter()
            .any(|v| network_words.iter().any(|w| v.text.contains(w)))
        {
            "host-side network wiring: with network.mode = \"private\" stockade creates, addresses and removes its own epair(4) (Linux: veth pair); bridging it further is yours to do"
        } else {
            "host-side hook with no spec form: run it yourself around `stockade run` if still needed"
        };
        self.note(ReportKind::NotCarried, Section::Process, p, note);
    }

    /// `mount.fstab` files: each line becomes a mount, like a `mount` value.
    fn fstab_files(&mut self, p: &Param) -> Result<(), ImportError> {
        for v in &p.values {
            if v.text.is_empty() {
                continue;
            }
            let logical = PathBuf::from(&v.text);
            let physical = match logical.strip_prefix("/") {
                Ok(rest) => self.options.host_root.join(rest),
                Err(_) => logical.clone(),
            };
            let text = match std::fs::read_to_string(&physical) {
                Ok(t) => t,
                Err(e) => {
                    self.note_at(
                        ReportKind::NotCarried,
                        Section::Mount,
                        &p.name,
                        format!("{} = {};", p.name, jailconf::quote(&v.text)),
                        Some(v.at.clone()),
                        format!("cannot read {}: {e}; its mounts are not imported: run the import where the file is, or add them as [[mount]]", v.text),
                    );
                    continue;
                }
            };
            let entries = fstab::parse_file(&text, &logical).map_err(|(at, message)| {
                ImportError::Invalid {
                    at,
                    param: p.name.clone(),
                    message,
                }
            })?;
            for e in entries {
                self.mount_entry(&e, "mount.fstab");
            }
        }
        Ok(())
    }

    fn mount_entry(&mut self, e: &fstab::Entry, param: &str) {
        let setting = e.text.clone();
        let not_carried = |this: &mut Self, why: String| {
            this.note_at(
                ReportKind::NotCarried,
                Section::Mount,
                param,
                setting.clone(),
                Some(e.at.clone()),
                why,
            );
        };
        let Some(jail_path) = self.jail_path.clone() else {
            not_carried(self, "the jail has no path to place the mount in".into());
            return;
        };
        let mountpoint = normalize(Path::new(&e.mountpoint));
        let Ok(rel) = mountpoint.strip_prefix(&jail_path) else {
            not_carried(
                self,
                format!("mounts outside the jail's path {}", jail_path.display()),
            );
            return;
        };
        if rel.as_os_str().is_empty()
            && e.fstype == "nullfs"
            && normalize(Path::new(&e.device)) == jail_path
            && e.readonly()
        {
            // The root folder mounted read-only over itself: `root.readonly`.
            self.root_readonly = true;
            return;
        }
        if rel.as_os_str().is_empty() {
            not_carried(
                self,
                "mounts over the jail's root itself; root.path names the root".into(),
            );
            return;
        }
        if rel.components().any(|c| c == Component::ParentDir) {
            not_carried(
                self,
                "the mount point leaves the jail's path through '..'".into(),
            );
            return;
        }
        let target = format!("/{}", rel.display());
        let mut extra: Vec<&str> = Vec::new();
        let mut draft = MountDraft {
            stage: u8::from(param == "mount.fstab"),
            kind: "bind",
            source: None,
            target,
            readonly: e.readonly(),
            size: None,
        };
        match e.fstype.as_str() {
            "nullfs" => {
                if !Path::new(&e.device).is_absolute() {
                    not_carried(
                        self,
                        "the nullfs source is not an absolute host path".into(),
                    );
                    return;
                }
                draft.source = Some(e.device.clone());
            }
            "tmpfs" => {
                draft.kind = "tmpfs";
                if let Some(size) = e.option("size") {
                    match parse_size(size).filter(|n| *n > 0) {
                        Some(n) => draft.size = Some(n),
                        None => extra.push("size"),
                    }
                }
                if e.option("mode")
                    .is_some_and(|m| m != "1777" && m != "01777")
                {
                    extra.push("mode");
                }
            }
            "devfs" => {
                draft.kind = "dev";
                if e.option("ruleset").is_some_and(|r| r != JAIL_RULESET) {
                    extra.push("ruleset");
                }
            }
            "procfs" => draft.kind = "proc",
            other => {
                not_carried(
                    self,
                    format!("file system {other:?} has no spec mount kind (bind = nullfs, tmpfs, proc = procfs, dev = devfs)"),
                );
                return;
            }
        }
        let known = [
            "rw", "ro", "rdonly", "late", "noauto", "size", "mode", "ruleset",
        ];
        for o in &e.options {
            let key = o.split('=').next().unwrap_or(o);
            if !known.contains(&key) {
                extra.push(key);
            }
        }
        if !extra.is_empty() {
            self.note_at(
                ReportKind::Approximate,
                Section::Mount,
                param,
                setting.clone(),
                Some(e.at.clone()),
                format!(
                    "mounted as [[mount]] kind = \"{}\" at {}, without the option(s) {}",
                    draft.kind,
                    draft.target,
                    extra.join(", ")
                ),
            );
        }
        self.mounts.push(draft);
    }

    fn rule(&mut self, r: &Rule, hook: Option<&str>) {
        let not_carried = |this: &mut Self, why: &str| {
            this.note_at(
                ReportKind::NotCarried,
                Section::Limits,
                hook.unwrap_or("rctl"),
                r.text.clone(),
                Some(r.at.clone()),
                why.to_string(),
            );
        };
        if r.action != "deny" {
            not_carried(self, "only deny rules become limits; log, devctl, signal and throttle actions have no spec form");
            return;
        }
        if r.per.as_deref().is_some_and(|p| p != "jail") {
            not_carried(self, "a per-process, per-user or per-class amount has no spec form; limits apply to the whole environment");
            return;
        }
        let Some(amount) = r.amount else {
            not_carried(self, "a deny rule without an amount");
            return;
        };
        let ok = match r.resource.as_str() {
            "memoryuse" if amount > 0 => {
                self.limits.memory = Some(amount);
                true
            }
            "maxproc" if amount > 0 => {
                self.limits.processes = Some(amount);
                true
            }
            "pcpu" if amount > 0 => {
                self.limits.cpus = Some(amount as f64 / 100.0);
                true
            }
            "openfiles" if amount > 0 && amount <= u64::from(u32::MAX) => {
                self.limits.open_files = Some(amount);
                true
            }
            "memoryuse" | "maxproc" | "pcpu" | "openfiles" => {
                not_carried(self, "the amount is outside what the spec accepts");
                return;
            }
            _ => false,
        };
        if !ok {
            not_carried(
                self,
                "no spec limit for this resource (limits: memoryuse, maxproc, pcpu, openfiles)",
            );
        } else if hook.is_some() {
            self.note_at(
                ReportKind::Approximate,
                Section::Limits,
                hook.unwrap_or("rctl"),
                r.text.clone(),
                Some(r.at.clone()),
                "read from an rctl command in an exec hook; stockade adds the rule itself",
            );
        }
    }

    /// `process.command` from the collected `exec.start` / `command` values.
    fn process(&mut self) {
        let commands = std::mem::take(&mut self.commands);
        if commands.is_empty() {
            self.note_at(
                ReportKind::Review,
                Section::Process,
                "exec.start",
                "(no exec.start or command)".into(),
                None,
                "stockade needs a command: /bin/sh is a placeholder, set process.command",
            );
            return;
        }
        let mut argvs = Vec::new();
        for (text, at) in &commands {
            let (argv, background) = jail8_argv(text);
            if background {
                self.note_at(
                    ReportKind::Approximate,
                    Section::Process,
                    "exec.start",
                    jailconf::quote(text),
                    Some(at.clone()),
                    "jail(8) ran it in the background ('&'); stockade runs it in the foreground",
                );
            }
            if argv.last().is_some_and(|a| a == "/etc/rc") {
                self.note_at(
                    ReportKind::Approximate,
                    Section::Process,
                    "exec.start",
                    jailconf::quote(text),
                    Some(at.clone()),
                    "/etc/rc starts the jail's services and returns; a stockade environment ends when its command exits, so run the service itself in the foreground (or keep a process waiting)",
                );
            }
            argvs.push((argv, text));
        }
        let argv = if argvs.len() == 1 {
            argvs.remove(0).0
        } else {
            let joined: Vec<String> = argvs
                .iter()
                .map(|(argv, text)| {
                    if argv.first().map(String::as_str) == Some("/bin/sh")
                        && argv.get(1).map(String::as_str) == Some("-c")
                    {
                        format!("{{ {}; }}", text.trim())
                    } else {
                        text.trim().trim_end_matches('&').trim().to_string()
                    }
                })
                .collect();
            let (_, at) = &commands[0];
            self.note_at(
                ReportKind::Approximate,
                Section::Process,
                "exec.start",
                commands
                    .iter()
                    .map(|(t, _)| jailconf::quote(t))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(at.clone()),
                "jail(8) ran the commands one after another; stockade runs them as one shell command, each only if the one before succeeded",
            );
            vec!["/bin/sh".into(), "-c".into(), joined.join(" && ")]
        };
        self.argv = Some(argv);
    }

    fn command_argv(&self) -> Vec<String> {
        self.argv
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".to_string()])
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Imported by `stockade import` from jail {:?} ({}).",
            self.jail.name, self.jail.at
        );
        out.push_str("# Lines marked \"approximate\" or \"review\" need a look; jail.conf settings with no\n");
        out.push_str(
            "# spec form are kept at the end. `stockade check` shows how each key maps per OS.\n\n",
        );
        let _ = writeln!(out, "name = {}", string(&self.name));
        if let Some(h) = &self.hostname {
            let _ = writeln!(out, "hostname = {}", string(h));
        }
        self.section_notes(&mut out, Section::Top);

        out.push_str("\n[root]\n");
        match &self.root {
            RootDraft::Path(p) => {
                let _ = writeln!(out, "path = {}", string(p));
            }
            RootDraft::Host => out.push_str("host = true\n"),
        }
        if self.root_readonly {
            out.push_str("readonly = true\n");
        }
        self.section_notes(&mut out, Section::Root);

        out.push_str("\n[process]\n");
        let _ = writeln!(out, "command = {}", strings(&self.command_argv()));
        if let Some(u) = &self.user {
            let _ = writeln!(out, "user = {}", string(u));
        }
        self.section_notes(&mut out, Section::Process);

        for m in &self.mounts {
            out.push_str("\n[[mount]]\n");
            let _ = writeln!(out, "kind = {}", string(m.kind));
            if let Some(s) = &m.source {
                let _ = writeln!(out, "source = {}", string(s));
            }
            let _ = writeln!(out, "target = {}", string(&m.target));
            if m.readonly {
                out.push_str("readonly = true\n");
            }
            if let Some(size) = m.size {
                let _ = writeln!(out, "size = {}", string(&format_size(size)));
            }
        }
        if self.has_notes(Section::Mount) {
            out.push_str(if self.mounts.is_empty() {
                "\n# mounts\n"
            } else {
                "\n"
            });
            self.section_notes(&mut out, Section::Mount);
        }

        if !self.limits.is_empty() {
            out.push_str("\n[limits]\n");
            let l = &self.limits;
            if let Some(m) = l.memory {
                let _ = writeln!(out, "memory = {}", string(&format_size(m)));
            }
            if let Some(n) = l.processes {
                let _ = writeln!(out, "processes = {n}");
            }
            if let Some(c) = l.cpus {
                let _ = writeln!(out, "cpus = {c:?}");
            }
            if let Some(n) = l.open_files {
                let _ = writeln!(out, "open_files = {n}");
            }
        } else if self.has_notes(Section::Limits) {
            out.push_str("\n# limits\n");
        }
        self.section_notes(&mut out, Section::Limits);

        out.push_str("\n[network]\n");
        let _ = writeln!(out, "mode = {}", string(self.network.mode));
        if let Some(a) = self.network.address {
            let _ = writeln!(out, "address = {}", string(&a.to_string()));
        }
        if let Some(g) = self.network.gateway {
            let _ = writeln!(out, "gateway = {}", string(&g.to_string()));
        }
        self.section_notes(&mut out, Section::Network);

        if !self.allow.is_empty() {
            out.push_str("\n[privileges]\n");
            let names: Vec<String> = self.allow.iter().map(|p| p.name().to_string()).collect();
            let _ = writeln!(out, "allow = {}", strings(&names));
        } else if self.has_notes(Section::Privileges) {
            out.push_str("\n# privileges\n");
        }
        self.section_notes(&mut out, Section::Privileges);

        for (kind, title) in [
            (
                ReportKind::NotCarried,
                "jail.conf settings with no stockade form, kept as they were",
            ),
            (
                ReportKind::Implied,
                "jail.conf settings stockade already applies: nothing to write",
            ),
        ] {
            let items: Vec<&ReportItem> = self
                .notes
                .iter()
                .map(|n| &n.item)
                .filter(|i| i.kind == kind)
                .collect();
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n# --- {title} ---");
            for i in items {
                match &i.at {
                    Some(at) => comment(&mut out, &format!("{}  ({at})", i.setting)),
                    None => comment(&mut out, &i.setting),
                }
                let _ = writeln!(out, "#     {}", comment_text(&i.note));
            }
        }
        out
    }

    fn has_notes(&self, section: Section) -> bool {
        self.notes.iter().any(|n| {
            n.section == section
                && matches!(n.item.kind, ReportKind::Approximate | ReportKind::Review)
        })
    }

    fn section_notes(&self, out: &mut String, section: Section) {
        for n in &self.notes {
            let i = &n.item;
            if n.section != section
                || !matches!(i.kind, ReportKind::Approximate | ReportKind::Review)
            {
                continue;
            }
            let at =
                i.at.as_ref()
                    .map(|a| format!("  ({a})"))
                    .unwrap_or_default();
            comment(out, &format!("{}: {}{at}", i.kind, i.setting));
            let _ = writeln!(out, "#     {}", comment_text(&i.note));
        }
    }
}

impl MountDraft {
    fn simple(stage: u8, kind: &'static str, target: &str) -> MountDraft {
        MountDraft {
            stage,
            kind,
            source: None,
            target: target.to_string(),
            readonly: false,
            size: None,
        }
    }
}

/// A path without `.` components, repeated or trailing slashes.
fn normalize(p: &Path) -> PathBuf {
    p.components().filter(|c| *c != Component::CurDir).collect()
}

fn basename(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// The argv jail(8) runs for a command string: `/bin/sh -c STRING` when it has a shell
/// metacharacter (other than one trailing `&`, which means "in the background"), else the
/// words. Returns the argv and whether it ran in the background.
fn jail8_argv(text: &str) -> (Vec<String>, bool) {
    let trimmed = text.trim_end();
    match text.find(SHELL_META) {
        Some(i) if !(text[i..].starts_with('&') && i + 1 == text.len()) => {
            (vec!["/bin/sh".into(), "-c".into(), text.to_string()], false)
        }
        found => {
            let background = found.is_some();
            let words = if background {
                &trimmed[..trimmed.len() - 1]
            } else {
                text
            };
            let argv: Vec<String> = words
                .split([' ', '\t', '\u{c}', '\u{b}', '\r', '\n'])
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            (argv, background)
        }
    }
}

/// The words of a command jail(8) would not hand to a shell.
fn simple_argv(text: &str) -> Option<Vec<String>> {
    if text.contains(SHELL_META) {
        return None;
    }
    Some(jail8_argv(text).0)
}

/// The address in `ifconfig IFACE [inet|inet6] ADDR[/LEN] [netmask MASK] ...`.
fn ifconfig_address(args: &[String]) -> Option<IpNet> {
    let mut args = args.iter().map(String::as_str).peekable();
    if matches!(args.peek(), Some(&("inet" | "inet6"))) {
        args.next();
    }
    let addr = args.next()?;
    if let Ok(net) = addr.parse::<IpNet>() {
        return Some(net);
    }
    let ip: IpAddr = addr.parse().ok()?;
    let rest: Vec<&str> = args.collect();
    let mask = rest
        .windows(2)
        .find(|w| w[0] == "netmask" || w[0] == "prefixlen")
        .map(|w| w[1])?;
    let prefix = if let Ok(n) = mask.parse::<u8>() {
        n
    } else if let Some(hex) = mask.strip_prefix("0x") {
        u32::from_str_radix(hex, 16).ok()?.count_ones() as u8
    } else {
        let m: std::net::Ipv4Addr = mask.parse().ok()?;
        u32::from(m).count_ones() as u8
    };
    IpNet::new(ip, prefix).ok()
}

/// The gateway in `route [-n] add [-inet|-inet6|-4|-6] default GW`.
fn default_route(args: &[String]) -> Option<IpAddr> {
    let words: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|w| !w.starts_with('-'))
        .collect();
    match words.as_slice() {
        ["add", "default", gw, ..] => gw.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_strings_split_like_jail8() {
        assert_eq!(
            jail8_argv("/bin/sh /etc/rc"),
            (vec!["/bin/sh".into(), "/etc/rc".into()], false)
        );
        assert_eq!(
            jail8_argv("exec httpd -f; echo"),
            (
                vec!["/bin/sh".into(), "-c".into(), "exec httpd -f; echo".into()],
                false
            )
        );
        assert_eq!(
            jail8_argv("daemon run &"),
            (vec!["daemon".into(), "run".into()], true)
        );
        assert_eq!(
            jail8_argv("a & b"),
            (vec!["/bin/sh".into(), "-c".into(), "a & b".into()], false)
        );
    }

    #[test]
    fn ifconfig_and_route_forms() {
        let v = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            ifconfig_address(&v("inet 10.0.0.2/24 up")),
            "10.0.0.2/24".parse().ok()
        );
        assert_eq!(
            ifconfig_address(&v("10.0.0.2 netmask 255.255.255.0")),
            "10.0.0.2/24".parse().ok()
        );
        assert_eq!(
            ifconfig_address(&v("inet 10.0.0.2 netmask 0xffffff00")),
            "10.0.0.2/24".parse().ok()
        );
        assert_eq!(
            ifconfig_address(&v("inet6 fd00::2/64")),
            "fd00::2/64".parse().ok()
        );
        assert_eq!(ifconfig_address(&v("up")), None);
        assert_eq!(
            default_route(&v("add default 10.0.0.1")),
            "10.0.0.1".parse().ok()
        );
        assert_eq!(
            default_route(&v("-n add -inet default 10.0.0.1")),
            "10.0.0.1".parse().ok()
        );
        assert_eq!(default_route(&v("add -net 10.1.0.0/16 10.0.0.1")), None);
    }
}
