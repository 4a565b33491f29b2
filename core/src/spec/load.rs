//! Schema v1: from TOML text to a validated [`Spec`].
//!
//! Every table is checked against its known keys, every value against its type and
//! meaning; all problems are collected and returned together, in file order.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use ipnet::IpNet;
use toml::de::{DeTable, DeValue};

use super::error::{Diagnostic, SpecError};
use super::reader::{closest, join, Reader, Value};
use super::size::parse_size;
use super::{
    check_image_name, Abi, CpuSet, ImageRoot, Limits, LinuxAbi, Mount, MountKind, Network,
    NetworkMode, Overlay, Privilege, Privileges, Process, ProcessKeys, Root, RootSource, Seccomp,
    Spec, User,
};

const TOP_KEYS: &[&str] = &[
    "name",
    "hostname",
    "root",
    "process",
    "mount",
    "limits",
    "network",
    "privileges",
];
const ROOT_KEYS: &[&str] = &[
    "path",
    "host",
    "image",
    "readonly",
    "overlay",
    "layers",
    "changes",
    "abi",
    "linux_osname",
    "linux_osrelease",
];
const ABIS: &[&str] = &["linux", "freebsd"];
const PROCESS_KEYS: &[&str] = &["command", "cwd", "env", "user", "init", "terminal"];
const MOUNT_KEYS: &[&str] = &["kind", "source", "target", "readonly", "size"];
const MOUNT_KINDS: &[&str] = &["bind", "tmpfs", "proc", "dev"];
const LIMIT_KEYS: &[&str] = &[
    "memory",
    "processes",
    "cpus",
    "open_files",
    "cpuset",
    "visible",
];
const NETWORK_KEYS: &[&str] = &[
    "mode", "address", "gateway", "nat", "publish", "dns", "search",
];
const NETWORK_MODES: &[&str] = &["none", "host", "private"];
const PRIVILEGE_KEYS: &[&str] = &["allow", "seccomp"];
const SECCOMP_MODES: &[&str] = &["default", "unconfined"];

/// Every table's keys as the loader accepts them (`""` is the top level), for the JSON
/// Schema's drift test.
#[cfg(test)]
pub(super) fn known_keys() -> Vec<(&'static str, &'static [&'static str])> {
    vec![
        ("", TOP_KEYS),
        ("root", ROOT_KEYS),
        ("process", PROCESS_KEYS),
        ("mount", MOUNT_KEYS),
        ("limits", LIMIT_KEYS),
        ("network", NETWORK_KEYS),
        ("privileges", PRIVILEGE_KEYS),
    ]
}

/// Keys people put at the top level that belong in a table.
const MISPLACED: &[(&str, &str)] = &[
    ("path", "root.path"),
    ("host", "root.host"),
    ("image", "root.image"),
    ("readonly", "root.readonly"),
    ("overlay", "root.overlay"),
    ("layers", "root.layers"),
    ("changes", "root.changes"),
    ("command", "process.command"),
    ("cwd", "process.cwd"),
    ("env", "process.env"),
    ("user", "process.user"),
    ("init", "process.init"),
    ("memory", "limits.memory"),
    ("processes", "limits.processes"),
    ("cpus", "limits.cpus"),
    ("open_files", "limits.open_files"),
    ("cpuset", "limits.cpuset"),
    ("visible", "limits.visible"),
    ("abi", "root.abi"),
    ("mode", "network.mode"),
    ("address", "network.address"),
    ("gateway", "network.gateway"),
    ("publish", "network.publish"),
    ("allow", "privileges.allow"),
    ("seccomp", "privileges.seccomp"),
    ("mounts", "[[mount]]"),
];

/// The longest name a jail or cgroup can safely carry (FreeBSD MAXHOSTNAMELEN is 256, but
/// names also become interface and file names).
const MAX_NAME: usize = 64;
/// The smallest CPU quota cgroup v2 accepts is 1 ms per 100 ms period.
const MIN_CPUS: f64 = 0.01;

pub(super) fn load_file(path: &Path, name: Option<&str>) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, Some(path), name)
}

/// `name`, when given, replaces the file's `name` (which is still checked if present).
pub(super) fn parse(
    text: &str,
    origin: Option<&Path>,
    name: Option<&str>,
) -> Result<Spec, SpecError> {
    let file = origin.map_or_else(|| "<input>".to_string(), |p| p.display().to_string());
    let base = origin
        .and_then(Path::parent)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(absolute)
        .unwrap_or_else(|| absolute(Path::new(".")));
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let (line, column) = super::reader::line_column(text, e.span().map_or(0, |s| s.start));
            return Err(SpecError::Invalid(vec![Diagnostic {
                file,
                line,
                column,
                key: "syntax".into(),
                message: e.message().trim().to_string(),
                hint: None,
            }]));
        }
    };
    let mut r = Reader::new(text, file);
    let spec = Loader {
        r: &mut r,
        base,
        default_name: origin.and_then(file_stem_name),
    }
    .spec(doc.get_ref(), doc.span(), name);
    match spec {
        Some(mut spec) if !r.has_errors() => {
            spec.source = origin.map(absolute);
            Ok(spec)
        }
        _ => Err(SpecError::Invalid(r.into_diagnostics())),
    }
}

/// Checks an environment name (from the file or `--name`); the reason when invalid.
///
/// Names become folder, cgroup, jail and interface names on both OSes, so they keep to
/// what all of them accept: no `.` (FreeBSD's jail hierarchy separator) and not all digits
/// (FreeBSD would read it as a jail id).
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if !c.is_ascii_alphanumeric() => {
            return Err(format!("{name:?} must start with a letter or digit"))
        }
        _ => {}
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))) {
        return Err(format!(
            "{name:?} contains {bad:?}; use letters, digits, '_' and '-'"
        ));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{name:?} is all digits; FreeBSD would take it for a jail id"
        ));
    }
    if name.len() > MAX_NAME {
        return Err(format!("{name:?} is longer than {MAX_NAME} bytes"));
    }
    Ok(())
}

/// A valid name from the file's stem, used when the file has no `name`.
fn file_stem_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?.to_string();
    check_name(&stem).ok().map(|_| stem)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

struct Loader<'r, 's> {
    r: &'r mut Reader<'s>,
    base: PathBuf,
    default_name: Option<String>,
}

impl Loader<'_, '_> {
    fn spec(
        &mut self,
        doc: &DeTable<'_>,
        span: Range<usize>,
        name_override: Option<&str>,
    ) -> Option<Spec> {
        self.r.reject_unknown(doc, "", TOP_KEYS, MISPLACED);
        let top = span.start..span.start;
        if name_override.is_some() {
            self.default_name = name_override.map(str::to_string);
        }

        let name = match doc.get("name") {
            Some(v) => self.r.string(v, "name").and_then(|n| match check_name(n) {
                Ok(()) => Some(n.to_string()),
                Err(why) => {
                    self.r.error(v.span(), "name", why, None);
                    None
                }
            }),
            None => self.default_name.clone().or_else(|| {
                self.r.missing(
                    top.clone(),
                    "name",
                    "missing",
                    Some("add name = \"...\" at the top, or pass --name".into()),
                );
                None
            }),
        };
        let hostname = doc.get("hostname").and_then(|v| {
            let h = self.r.string(v, "hostname")?;
            match check_hostname(h) {
                Ok(()) => Some(h.to_string()),
                Err(why) => {
                    self.r.error(
                        v.span(),
                        "hostname",
                        why,
                        Some("use letters, digits and '-' in dot-separated labels".into()),
                    );
                    None
                }
            }
        });

        let root = match doc.get("root") {
            Some(v) => self
                .table(v, "root", None)
                .and_then(|(t, s)| self.root(t, s)),
            None => {
                self.r.missing(top.clone(), "root", "missing", Some("add [root] with path = \"/srv/roots/NAME\", or host = true for a read-only view of the host".into()));
                None
            }
        };
        // Also when `image` is set but invalid: its error is the one worth reading.
        let from_image = doc
            .get("root")
            .is_some_and(|v| matches!(v.get_ref(), DeValue::Table(t) if t.contains_key("image")));
        let process = match doc.get("process") {
            Some(v) => self
                .table(v, "process", None)
                .and_then(|(t, s)| self.process(t, s, from_image)),
            // The image's config gives the process.
            None if from_image => Some(Process {
                command: Vec::new(),
                cwd: PathBuf::from("/"),
                env: BTreeMap::new(),
                user: User::ROOT,
                init: false,
                terminal: false,
                given: ProcessKeys::default(),
            }),
            None => {
                self.r.missing(
                    top.clone(),
                    "process",
                    "missing",
                    Some("add [process] with command = [\"/bin/sh\"]".into()),
                );
                None
            }
        };
        let mounts = match doc.get("mount") {
            Some(v) => self.mounts(v),
            None => Vec::new(),
        };
        let limits = doc
            .get("limits")
            .and_then(|v| self.table(v, "limits", None))
            .map(|(t, _)| self.limits(t))
            .unwrap_or_default();
        let network = doc
            .get("network")
            .and_then(|v| self.table(v, "network", None))
            .map(|(t, s)| self.network(t, s))
            .unwrap_or_default();
        let privileges = doc
            .get("privileges")
            .and_then(|v| self.table(v, "privileges", None))
            .map(|(t, _)| self.privileges(t))
            .unwrap_or_default();

        let name = name?;
        Some(Spec {
            hostname: hostname.unwrap_or_else(|| hostname_from_name(&name)),
            name: name_override.map_or(name, str::to_string),
            root: root?,
            process: process?,
            mounts,
            limits,
            network,
            privileges,
            source: None,
        })
    }

    fn table<'v, 'i>(
        &mut self,
        v: &'v Value<'i>,
        key: &str,
        hint: Option<String>,
    ) -> Option<(&'v DeTable<'i>, Range<usize>)> {
        self.r.table(v, key, hint).map(|t| (t, v.span()))
    }

    fn path(&mut self, v: &Value<'_>, key: &str) -> Option<PathBuf> {
        let s = self.r.string(v, key)?;
        if s.is_empty() {
            self.r.error(v.span(), key, "is empty", None);
            return None;
        }
        // Lexically drop `.` so paths print as people expect; `..` stays (it may cross a
        // symlink, and the host path is the user's to name).
        let joined = self.base.join(s);
        Some(
            joined
                .components()
                .filter(|c| *c != Component::CurDir)
                .collect(),
        )
    }

    fn root(&mut self, t: &DeTable<'_>, span: Range<usize>) -> Option<Root> {
        self.r.reject_unknown(t, "root", ROOT_KEYS, &[]);
        let path = t.get("path").and_then(|v| self.path(v, "root.path"));
        let host = t.get("host").and_then(|v| self.r.boolean(v, "root.host"));
        let readonly = t
            .get("readonly")
            .and_then(|v| self.r.boolean(v, "root.readonly"))
            .unwrap_or(false);
        let image = t.get("image").and_then(|v| {
            let name = self.r.string(v, "root.image")?;
            match check_image_name(name) {
                Ok(name) => Some((name, v.span())),
                Err(why) => {
                    self.r.error(
                        v.span(),
                        "root.image",
                        why,
                        Some("`stockade image list` shows the images in the store".into()),
                    );
                    None
                }
            }
        });
        if t.contains_key("image") {
            let (name, at) = image?;
            if path.is_some() || host == Some(true) {
                self.r.error(
                    at,
                    "root.image",
                    "`image` and `path` or `host` are both set",
                    Some("choose one: an image, a prepared folder (path) or a view of the host (host = true)".into()),
                );
                return None;
            }
            let source = RootSource::Image(ImageRoot {
                name,
                ..ImageRoot::default()
            });
            let overlay = self.overlay(t, &source, readonly)?;
            let abi = self.abi(t)?;
            return Some(Root {
                source,
                readonly,
                overlay,
                abi,
            });
        }
        let source = match (path, host) {
            (Some(_), Some(true)) => {
                let at = t.get("host").map_or(span, |v| v.span());
                self.r.error(
                    at,
                    "root.host",
                    "`path` and `host` are both set",
                    Some(
                        "choose one: a prepared folder (path) or a view of the host (host = true)"
                            .into(),
                    ),
                );
                return None;
            }
            (Some(p), _) => RootSource::Path(p),
            (None, Some(true)) => RootSource::Host,
            // A present but invalid key was already reported.
            (None, _) if t.contains_key("path") || t.contains_key("host") && host.is_none() => {
                return None
            }
            (None, _) => {
                self.r.missing(span, "root.path", "root needs `path` or `host = true`", Some("path = \"/srv/roots/NAME\" for a prepared folder, host = true for a read-only view of the host".into()));
                return None;
            }
        };
        let overlay = self.overlay(t, &source, readonly)?;
        let abi = self.abi(t)?;
        Some(Root {
            source,
            readonly,
            overlay,
            abi,
        })
    }

    /// `overlay`, `layers` and `changes`: `Some(None)` when the root is not copy-on-write,
    /// `None` after an error.
    fn overlay(
        &mut self,
        t: &DeTable<'_>,
        source: &RootSource,
        readonly: bool,
    ) -> Option<Option<Overlay>> {
        let image = matches!(source, RootSource::Image(_));
        let on = match t.get("overlay") {
            Some(v) => {
                let on = self.r.boolean(v, "root.overlay")?;
                if image && !on {
                    self.r.error(
                        v.span(),
                        "root.overlay",
                        "an image root is always copy-on-write",
                        Some("remove overlay = false: the image's layers are shared and never written".into()),
                    );
                    return None;
                }
                on
            }
            None => image,
        };
        let mut ok = true;
        let mut layers = Vec::new();
        if let Some(v) = t.get("layers") {
            let hint = Some("a list of folders, top first: layers = [\"/srv/layers/web\"]".into());
            match self.r.array(v, "root.layers", hint) {
                Some([]) => {
                    self.r.error(
                        v.span(),
                        "root.layers",
                        "is empty",
                        Some("list at least one folder, or remove it".into()),
                    );
                    ok = false;
                }
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let key = format!("root.layers[{}]", i + 1);
                        let Some(p) = self.path(item, &key) else {
                            ok = false;
                            continue;
                        };
                        let twice = layers.iter().any(|(l, _)| *l == p);
                        let is_base = matches!(source, RootSource::Path(b) if *b == p);
                        if twice || is_base {
                            let what = if twice {
                                "is listed twice"
                            } else {
                                "is root.path itself"
                            };
                            self.r.error(
                                item.span(),
                                &key,
                                format!("{:?} {what}", p.display().to_string()),
                                Some("each read-only folder appears once in the stack".into()),
                            );
                            ok = false;
                            continue;
                        }
                        layers.push((p, item.span()));
                    }
                }
                None => ok = false,
            }
        }
        let changes = match t.get("changes") {
            Some(v) => match self.path(v, "root.changes") {
                Some(p) => Some((p, v.span())),
                None => return None,
            },
            None => None,
        };

        if !on {
            for (key, hint) in [
                (
                    "layers",
                    "layers are read-only folders under a writable layer: add overlay = true",
                ),
                (
                    "changes",
                    "changes keeps the writable layer of a copy-on-write root: add overlay = true",
                ),
            ] {
                if let Some(v) = t.get(key) {
                    self.r.error(
                        v.span(),
                        &join("root", key),
                        "needs overlay = true",
                        Some(hint.into()),
                    );
                    ok = false;
                }
            }
            return ok.then_some(None);
        }
        if readonly {
            let at = t.get("readonly").map_or(0..0, |v| v.span());
            self.r.error(
                at,
                "root.readonly",
                "`readonly` and `overlay` are both set",
                Some("overlay already keeps the base untouched: remove readonly for a writable copy-on-write root, or overlay for a read-only root".into()),
            );
            ok = false;
        }
        if let (RootSource::Host, Some(v)) = (source, t.get("layers")) {
            self.r.error(
                v.span(),
                "root.layers",
                "only stacks above `path`, not `host = true`",
                Some("use path = \"/srv/base\" with layers above it; with host = true each host folder is its own copy-on-write layer".into()),
            );
            ok = false;
        }
        if let Some((changes, span)) = &changes {
            let base = match source {
                RootSource::Path(b) => Some(("root.path", b)),
                RootSource::Host | RootSource::Image(_) => None,
            };
            let lowers = layers.iter().map(|(l, _)| ("root.layers", l)).chain(base);
            for (key, lower) in lowers {
                let relation = if changes.starts_with(lower) {
                    "is inside"
                } else if lower.starts_with(changes) {
                    "contains"
                } else {
                    continue;
                };
                self.r.error(
                    span.clone(),
                    "root.changes",
                    format!(
                        "{:?} {relation} {key} {:?}",
                        changes.display().to_string(),
                        lower.display().to_string()
                    ),
                    Some("keep the writable layer apart from every read-only one: overlayfs and unionfs refuse overlapping layers".into()),
                );
                ok = false;
                break;
            }
        }
        ok.then(|| {
            Some(Overlay {
                layers: layers.into_iter().map(|(p, _)| p).collect(),
                changes: changes.map(|(p, _)| p),
            })
        })
    }

    fn process(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        from_image: bool,
    ) -> Option<Process> {
        self.r.reject_unknown(t, "process", PROCESS_KEYS, &[]);
        let command = match t.get("command") {
            Some(v) => self.command(v),
            // The image's Entrypoint and Cmd.
            None if from_image => Some(Vec::new()),
            None => {
                self.r.missing(
                    span,
                    "process.command",
                    "missing",
                    Some("command = [\"/bin/sh\", \"-c\", \"...\"]".into()),
                );
                None
            }
        };
        let cwd = match t.get("cwd") {
            Some(v) => self.inside_path(v, "process.cwd", true),
            None => Some(PathBuf::from("/")),
        };
        let env = t
            .get("env")
            .map_or_else(|| Some(BTreeMap::new()), |v| self.env(v));
        let user = t.get("user").map_or(Some(User::ROOT), |v| self.user(v));
        let init = t
            .get("init")
            .and_then(|v| self.r.boolean(v, "process.init"))
            .unwrap_or(false);
        let terminal = t
            .get("terminal")
            .and_then(|v| self.r.boolean(v, "process.terminal"))
            .unwrap_or(false);
        let given = ProcessKeys {
            command: t.contains_key("command"),
            cwd: t.contains_key("cwd"),
            env: t.contains_key("env"),
            user: t.contains_key("user"),
        };
        Some(Process {
            command: command?,
            cwd: cwd?,
            env: env?,
            user: user?,
            init,
            terminal,
            given,
        })
    }

    fn command(&mut self, v: &Value<'_>) -> Option<Vec<String>> {
        let key = "process.command";
        let hint =
            Some("an array of strings: command = [\"/bin/sh\", \"-c\", \"echo hi\"]".to_string());
        let items = self.r.array(v, key, hint)?;
        if items.is_empty() {
            self.r.error(
                v.span(),
                key,
                "is empty",
                Some("name the program to run: command = [\"/bin/sh\"]".into()),
            );
            return None;
        }
        let mut argv = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let k = format!("{key}[{}]", i + 1);
            let s = self.r.string(item, &k)?;
            if s.contains('\0') {
                self.r.error(item.span(), &k, "contains a NUL byte", None);
                return None;
            }
            if i == 0 && s.is_empty() {
                self.r
                    .error(item.span(), &k, "the program name is empty", None);
                return None;
            }
            argv.push(s.to_string());
        }
        Some(argv)
    }

    fn env(&mut self, v: &Value<'_>) -> Option<BTreeMap<String, String>> {
        let (t, _) = self.table(
            v,
            "process.env",
            Some("a table: env = { PATH = \"/usr/bin:/bin\" }".into()),
        )?;
        let mut env = BTreeMap::new();
        let mut ok = true;
        for (k, val) in t.iter() {
            let name = k.get_ref().as_ref();
            let key = join("process.env", name);
            if name.is_empty() || name.contains(['=', '\0']) {
                self.r.error(
                    k.span(),
                    &key,
                    "is not a valid variable name",
                    Some("no '=' or NUL, not empty".into()),
                );
                ok = false;
                continue;
            }
            match self.r.string(val, &key) {
                Some(s) if !s.contains('\0') => {
                    env.insert(name.to_string(), s.to_string());
                }
                Some(_) => {
                    self.r.error(val.span(), &key, "contains a NUL byte", None);
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(env)
    }

    fn user(&mut self, v: &Value<'_>) -> Option<User> {
        let key = "process.user";
        let hint = Some(
            "\"uid:gid\" such as \"1000:1000\", or a user name from the root's /etc/passwd"
                .to_string(),
        );
        if let DeValue::Integer(_) = v.get_ref() {
            let uid = self.id(v, key)?;
            return Some(User::Id { uid, gid: uid });
        }
        let s = self.r.string(v, key)?;
        let (u, g) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        let valid_name = |n: &str| {
            !n.is_empty()
                && !n.contains([':', '/', '\0'])
                && !n.starts_with(|c: char| c.is_ascii_digit())
        };
        let uid = u.parse::<u32>().ok();
        let gid = g.map(|g| g.parse::<u32>().ok());
        match (uid, gid) {
            (Some(uid), None) => Some(User::Id { uid, gid: uid }),
            (Some(uid), Some(Some(gid))) => Some(User::Id { uid, gid }),
            (None, _) if valid_name(u) && g.is_none_or(valid_name) => Some(User::Name {
                user: u.to_string(),
                group: g.map(str::to_string),
            }),
            _ => {
                self.r
                    .error(v.span(), key, format!("{s:?} is not a user"), hint);
                None
            }
        }
    }

    fn id(&mut self, v: &Value<'_>, key: &str) -> Option<u32> {
        let n = self.r.unsigned(v, key)?;
        u32::try_from(n).ok().or_else(|| {
            self.r
                .error(v.span(), key, format!("{n} is not a valid id"), None);
            None
        })
    }

    /// An absolute path inside the root, normalised; `..` is refused so that a target can
    /// never name a place outside the root however the root is laid out.
    fn inside_path(&mut self, v: &Value<'_>, key: &str, allow_root: bool) -> Option<PathBuf> {
        let s = self.r.string(v, key)?;
        let p = Path::new(s);
        if !p.is_absolute() {
            self.r.error(
                v.span(),
                key,
                format!("{s:?} is relative"),
                Some(format!(
                    "paths inside the environment start with '/': \"/{}\"",
                    s.trim_start_matches("./")
                )),
            );
            return None;
        }
        let mut out = PathBuf::from("/");
        for c in p.components() {
            match c {
                Component::Normal(part) => out.push(part),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir => {
                    self.r.error(
                        v.span(),
                        key,
                        format!("{s:?} contains '..'"),
                        Some("write the path without '..'".into()),
                    );
                    return None;
                }
                Component::Prefix(_) => unreachable!("no path prefixes on unix"),
            }
        }
        if !allow_root && out == Path::new("/") {
            self.r.error(
                v.span(),
                key,
                "is the root itself",
                Some("the root comes from [root]; mount below it".into()),
            );
            return None;
        }
        Some(out)
    }

    fn mounts(&mut self, v: &Value<'_>) -> Vec<Mount> {
        let hint = Some("write each mount as [[mount]] (double brackets)".to_string());
        let Some(items) = self.r.array(v, "mount", hint.clone()) else {
            return Vec::new();
        };
        let mut mounts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let key = format!("mount[{}]", i + 1);
            if let Some((t, span)) = self.table(item, &key, hint.clone()) {
                if let Some(m) = self.mount(t, span, &key) {
                    mounts.push(m);
                }
            }
        }
        mounts
    }

    fn mount(&mut self, t: &DeTable<'_>, span: Range<usize>, key: &str) -> Option<Mount> {
        self.r.reject_unknown(t, key, MOUNT_KEYS, &[]);
        let k = |name: &str| join(key, name);
        let kind_name = match t.get("kind") {
            Some(v) => {
                let s = self.r.string(v, &k("kind"))?;
                if !MOUNT_KINDS.contains(&s) {
                    let hint = closest(s, MOUNT_KINDS)
                        .map(|c| format!("did you mean \"{c}\"?"))
                        .unwrap_or_else(|| format!("one of {}", MOUNT_KINDS.join(", ")));
                    self.r.error(
                        v.span(),
                        &k("kind"),
                        format!("unknown kind {s:?}"),
                        Some(hint),
                    );
                    return None;
                }
                s
            }
            None => {
                self.r.missing(
                    span,
                    &k("kind"),
                    "missing",
                    Some(format!("one of {}", MOUNT_KINDS.join(", "))),
                );
                return None;
            }
        };
        let target = match t.get("target") {
            Some(v) => self.inside_path(v, &k("target"), false),
            None => {
                self.r.missing(
                    span.clone(),
                    &k("target"),
                    "missing",
                    Some("the absolute path inside the environment, e.g. \"/data\"".into()),
                );
                None
            }
        };
        let readonly = t
            .get("readonly")
            .and_then(|v| self.r.boolean(v, &k("readonly")))
            .unwrap_or(false);
        let only_for = |this: &mut Self, field: &str, kind: &str| {
            if let Some(v) = t.get(field) {
                this.r.error(
                    v.span(),
                    &k(field),
                    format!("only applies to kind = \"{kind}\""),
                    Some("remove it".into()),
                );
            }
        };
        let kind = match kind_name {
            "bind" => {
                only_for(self, "size", "tmpfs");
                match t.get("source") {
                    Some(v) => MountKind::Bind {
                        source: self.path(v, &k("source"))?,
                    },
                    None => {
                        self.r.missing(span, &k("source"), "missing", Some("the host path to mount; relative paths start at the spec file's folder".into()));
                        return None;
                    }
                }
            }
            "tmpfs" => {
                only_for(self, "source", "bind");
                let size = match t.get("size") {
                    Some(v) => Some(self.size(v, &k("size"))?),
                    None => None,
                };
                MountKind::Tmpfs { size }
            }
            "proc" => {
                only_for(self, "source", "bind");
                only_for(self, "size", "tmpfs");
                MountKind::Proc
            }
            _ => {
                only_for(self, "source", "bind");
                only_for(self, "size", "tmpfs");
                MountKind::Dev
            }
        };
        Some(Mount {
            kind,
            target: target?,
            readonly,
        })
    }

    fn size(&mut self, v: &Value<'_>, key: &str) -> Option<u64> {
        let hint =
            Some("a number of bytes, or a number with K, M, G or T, e.g. \"256M\"".to_string());
        let n = match v.get_ref() {
            DeValue::Integer(_) => self.r.unsigned(v, key)?,
            DeValue::String(s) => match parse_size(s) {
                Some(n) => n,
                None => {
                    self.r.error(
                        v.span(),
                        key,
                        format!("invalid size {:?}", s.as_ref()),
                        hint,
                    );
                    return None;
                }
            },
            _ => {
                self.r.wrong_type(v, key, "a size", hint);
                return None;
            }
        };
        if n == 0 {
            self.r.error(v.span(), key, "must be more than 0", None);
            return None;
        }
        Some(n)
    }

    fn count(&mut self, v: &Value<'_>, key: &str) -> Option<u64> {
        let n = self.r.unsigned(v, key)?;
        if n == 0 {
            self.r.error(
                v.span(),
                key,
                "must be at least 1",
                Some("remove the key for no limit".into()),
            );
            return None;
        }
        Some(n)
    }

    fn limits(&mut self, t: &DeTable<'_>) -> Limits {
        self.r.reject_unknown(t, "limits", LIMIT_KEYS, &[]);
        let memory = t.get("memory").and_then(|v| self.size(v, "limits.memory"));
        let processes = t
            .get("processes")
            .and_then(|v| self.count(v, "limits.processes"));
        let open_files = t.get("open_files").and_then(|v| {
            let n = self.count(v, "limits.open_files")?;
            if n > u64::from(u32::MAX) {
                self.r.error(
                    v.span(),
                    "limits.open_files",
                    format!("{n} is more than any kernel allows"),
                    None,
                );
                return None;
            }
            Some(n)
        });
        let cpus = t.get("cpus").and_then(|v| {
            let n = self.r.number(v, "limits.cpus")?;
            if !(n.is_finite() && n >= MIN_CPUS) {
                self.r.error(
                    v.span(),
                    "limits.cpus",
                    format!("{n} is not a CPU share"),
                    Some(format!("a number of cores from {MIN_CPUS}, e.g. 0.5 or 2")),
                );
                return None;
            }
            Some(n)
        });
        let cpuset = t.get("cpuset").and_then(|v| {
            let text = self.r.string(v, "limits.cpuset")?;
            CpuSet::parse(text)
                .map_err(|why| {
                    let hint = Some("a list of CPU numbers and ranges, e.g. \"0-1,4\"".into());
                    self.r.error(v.span(), "limits.cpuset", why, hint);
                })
                .ok()
        });
        let visible = t
            .get("visible")
            .and_then(|v| self.r.boolean(v, "limits.visible"))
            .unwrap_or(false);
        Limits {
            memory,
            processes,
            cpus,
            open_files,
            cpuset,
            visible,
        }
    }

    /// `abi`, `linux_osname` and `linux_osrelease`: `Some(None)` when `abi` is absent,
    /// `None` after an error.
    fn abi(&mut self, t: &DeTable<'_>) -> Option<Option<Abi>> {
        let mut linux = LinuxAbi::default();
        let mut ok = true;
        for (key, field) in [
            ("linux_osname", &mut linux.osname),
            ("linux_osrelease", &mut linux.osrelease),
        ] {
            let Some(v) = t.get(key) else { continue };
            let full = format!("root.{key}");
            match self.r.string(v, &full) {
                Some(s) if !s.is_empty() && s.len() < 48 && !s.contains('\0') => {
                    *field = Some(s.to_string())
                }
                Some(_) => {
                    let hint = Some("1 to 47 bytes, e.g. \"5.15.0\"".into());
                    self.r
                        .error(v.span(), &full, "not a valid uname string", hint);
                    ok = false;
                }
                None => ok = false,
            }
        }
        let abi = match t.get("abi") {
            None => None,
            Some(v) => match self
                .r
                .string(v, "root.abi")
                .and_then(|s| self.choice(v, "root.abi", s, ABIS))?
            {
                "linux" => Some(Abi::Linux(linux.clone())),
                _ => Some(Abi::Freebsd),
            },
        };
        if linux != LinuxAbi::default() && !matches!(abi, Some(Abi::Linux(_))) {
            let at = t
                .get("linux_osname")
                .or_else(|| t.get("linux_osrelease"))
                .map(|v| v.span())
                .unwrap_or_default();
            let key = if linux.osname.is_some() {
                "root.linux_osname"
            } else {
                "root.linux_osrelease"
            };
            self.r.error(
                at,
                key,
                "only meaningful for a Linux root",
                Some("add abi = \"linux\" to [root]".into()),
            );
            return None;
        }
        ok.then_some(abi)
    }

    fn network(&mut self, t: &DeTable<'_>, span: Range<usize>) -> Network {
        self.r.reject_unknown(t, "network", NETWORK_KEYS, &[]);
        let mode = t.get("mode").and_then(|v| {
            let s = self.r.string(v, "network.mode")?;
            self.choice(v, "network.mode", s, NETWORK_MODES)
        });
        let mode = match mode {
            Some("host") => NetworkMode::Host,
            Some("private") => NetworkMode::Private,
            _ => NetworkMode::None,
        };
        let address = t.get("address").and_then(|v| {
            let s = self.r.string(v, "network.address")?;
            match s.parse::<IpNet>() {
                Ok(net) => Some((net, v.span())),
                Err(_) => {
                    self.r.error(
                        v.span(),
                        "network.address",
                        format!("{s:?} is not an address with a prefix length"),
                        Some("CIDR form, e.g. \"10.77.0.2/24\"".into()),
                    );
                    None
                }
            }
        });
        let gateway = t.get("gateway").and_then(|v| {
            let s = self.r.string(v, "network.gateway")?;
            match s.parse::<IpAddr>() {
                Ok(ip) => Some((ip, v.span())),
                Err(_) => {
                    self.r.error(
                        v.span(),
                        "network.gateway",
                        format!("{s:?} is not an IP address"),
                        Some("e.g. \"10.77.0.1\"".into()),
                    );
                    None
                }
            }
        });
        let reach = super::netload::read(self.r, t, mode, address.as_ref().map(|a| a.0));
        if mode != NetworkMode::Private {
            for (key, v) in [("address", t.get("address")), ("gateway", t.get("gateway"))] {
                if let Some(v) = v {
                    self.r.error(
                        v.span(),
                        &join("network", key),
                        format!(
                            "is only used with mode = \"private\" (mode is \"{}\")",
                            mode.name()
                        ),
                        Some("set mode = \"private\" or remove it".into()),
                    );
                }
            }
            return Network {
                mode,
                ..Network::default()
            };
        }
        let Some((address, address_span)) = address else {
            if !t.contains_key("address") {
                self.r.error(
                    span,
                    "network.address",
                    "missing: mode = \"private\" needs an address",
                    Some("e.g. address = \"10.77.0.2/24\"".into()),
                );
            }
            return Network {
                mode,
                ..Network::default()
            };
        };
        if address.prefix_len() < address.max_prefix_len() - 1
            && (address.addr() == address.network() || address.addr() == address.broadcast())
        {
            self.r.error(
                address_span.clone(),
                "network.address",
                format!(
                    "{} is the network's {} address",
                    address.addr(),
                    if address.addr() == address.network() {
                        "network"
                    } else {
                        "broadcast"
                    }
                ),
                Some("use a host address inside the prefix".into()),
            );
        }
        let gateway = match gateway {
            Some((gw, gw_span)) => {
                if !address.contains(&gw) {
                    self.r.error(
                        gw_span,
                        "network.gateway",
                        format!("{gw} is outside {}", address.trunc()),
                        Some("the gateway must be on the environment's subnet".into()),
                    );
                } else if gw == address.addr() {
                    self.r.error(
                        gw_span,
                        "network.gateway",
                        "is the environment's own address",
                        Some("use another host address on the subnet".into()),
                    );
                }
                Some(gw)
            }
            None if t.contains_key("gateway") => None,
            None => default_gateway(&address).or_else(|| {
                self.r.error(
                    address_span,
                    "network.address",
                    format!("{address} has no room for a gateway"),
                    Some("use a prefix of /30 or shorter, or set gateway".into()),
                );
                None
            }),
        };
        Network {
            mode,
            address: Some(address),
            gateway,
            nat: reach.nat,
            publish: reach.publish,
            dns: reach.dns,
            search: reach.search,
        }
    }

    fn privileges(&mut self, t: &DeTable<'_>) -> Privileges {
        self.r.reject_unknown(t, "privileges", PRIVILEGE_KEYS, &[]);
        let mut allow = Vec::new();
        if let Some(v) = t.get("allow") {
            let hint = Some("a list of names: allow = [\"raw_sockets\"]".to_string());
            for (i, item) in self
                .r
                .array(v, "privileges.allow", hint)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let key = format!("privileges.allow[{}]", i + 1);
                let Some(name) = self.r.string(item, &key) else {
                    continue;
                };
                let names: Vec<&str> = Privilege::ALL.iter().map(|p| p.name()).collect();
                match Privilege::from_name(name) {
                    Some(p) if !allow.contains(&p) => allow.push(p),
                    Some(_) => {}
                    None => {
                        let hint = closest(name, &names)
                            .map(|c| format!("did you mean \"{c}\"?"))
                            .unwrap_or_else(|| format!("one of {}", names.join(", ")));
                        self.r.error(
                            item.span(),
                            &key,
                            format!("unknown privilege {name:?}"),
                            Some(hint),
                        );
                    }
                }
            }
        }
        let seccomp = t.get("seccomp").and_then(|v| {
            let s = self.r.string(v, "privileges.seccomp")?;
            self.choice(v, "privileges.seccomp", s, SECCOMP_MODES)
        });
        let seccomp = match seccomp {
            Some("unconfined") => Seccomp::Unconfined,
            _ => Seccomp::Default,
        };
        Privileges { allow, seccomp }
    }

    fn choice<'c>(
        &mut self,
        v: &Value<'_>,
        key: &str,
        s: &str,
        choices: &[&'c str],
    ) -> Option<&'c str> {
        if let Some(c) = choices.iter().find(|c| **c == s) {
            return Some(c);
        }
        let hint = closest(s, choices)
            .map(|c| format!("did you mean \"{c}\"?"))
            .unwrap_or_else(|| format!("one of {}", choices.join(", ")));
        self.r
            .error(v.span(), key, format!("unknown value {s:?}"), Some(hint));
        None
    }
}

/// The first host address of the subnet that is not the environment's own.
fn default_gateway(address: &IpNet) -> Option<IpAddr> {
    // ipnet counts every IPv6 address as a host; the subnet-router anycast address (the
    // network address) is not one to give an interface.
    address
        .hosts()
        .find(|h| *h != address.addr() && *h != address.network())
}

/// The default host name: the environment's name, made a valid host name ('_' is not).
fn hostname_from_name(name: &str) -> String {
    let mut h: String = name.replace('_', "-").chars().take(63).collect();
    while h.ends_with(['-', '.']) {
        h.pop();
    }
    h
}

/// Checks a host name (RFC 1123 labels, at most 63 bytes); the reason when invalid.
pub fn check_hostname(h: &str) -> Result<(), String> {
    if h.is_empty() || h.len() > 63 {
        return Err(format!("{h:?} must be 1 to 63 characters"));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if h.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!("{h:?} is not a valid host name"))
    }
}
