//! The case model: an environment, the lifecycle to drive, and what must be observed.
//!
//! A case is data. Its environment is a spec template ([`Env`]) with placeholders the
//! runner fills in (`{root}`, `{probe_dir}`, `{share}`, `{name}`, `{port}`...). Its
//! [`Script`] is the sequence of `stockade` commands to run; each [`Step`] records its
//! exit status, its output (parsed as JSON when it is) and its duration under the step's
//! label, so a [`Check`] names what it looks at with a JSON pointer into that record, e.g.
//! `/run/json/hostname` or `/state/json/status`.
//!
//! Expected values are the same on every target unless a check says otherwise for one
//! target ([`Check::on`]); that is allowed only where a declared feature is approximate
//! somewhere (a unit test keeps it so), because "exact" in the portability table means the
//! same observable behaviour.

use std::fmt;

use serde_json::Value;
use stockade_core::portability::{Feature, Target};
use stockade_core::spec::Privilege;

/// Where the environment's root comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `root.host = true`; the probe comes in through a read-only bind of its folder.
    Host,
    /// `root.path` = a folder the runner prepares: the probe (and the libraries it
    /// needs), `/etc/passwd`, `/etc/group`, a `/marker` file.
    Path,
    /// `root.image` = that same prepared folder, imported by `stockade image import
    /// --rootfs` as `{image}` into the suite's image store.
    Image,
}

/// The environment: rendered into a spec file by the runner.
#[derive(Debug, Clone)]
pub struct Env {
    /// The root.
    pub root: Root,
    /// `root.readonly`.
    pub readonly: bool,
    /// More `[root]` keys (`overlay = true`, `layers = [...]`, `changes = "..."`).
    pub root_keys: String,
    /// `hostname`, when set.
    pub hostname: Option<&'static str>,
    /// The probe's arguments for `process.command` (used by `create` and `run -d`).
    pub command: Vec<String>,
    /// Extra lines for the `[process]` table (`user = ...`, `init = true`).
    pub process: String,
    /// Extra TOML after the process table (`[limits]`, `[network]`, `[[mount]]`, ...).
    pub extra: String,
}

impl Env {
    /// A `root.host` environment whose command is the probe with `args`.
    pub fn host(args: &[&str]) -> Env {
        Env {
            root: Root::Host,
            readonly: false,
            root_keys: String::new(),
            hostname: None,
            command: args.iter().map(|s| (*s).to_string()).collect(),
            process: String::new(),
            extra: String::new(),
        }
    }

    /// A `root.path` environment whose command is the probe with `args`.
    pub fn path(args: &[&str]) -> Env {
        Env {
            root: Root::Path,
            ..Env::host(args)
        }
    }

    /// A `root.image` environment whose command is the probe with `args`.
    pub fn image(args: &[&str]) -> Env {
        Env {
            root: Root::Image,
            ..Env::host(args)
        }
    }

    /// Sets `root.readonly`.
    pub fn readonly(mut self) -> Env {
        self.readonly = true;
        self
    }

    /// Adds keys to `[root]`.
    pub fn root_keys(mut self, keys: impl Into<String>) -> Env {
        self.root_keys = keys.into();
        self
    }

    /// Sets `hostname`.
    pub fn hostname(mut self, h: &'static str) -> Env {
        self.hostname = Some(h);
        self
    }

    /// Adds lines to `[process]`.
    pub fn process(mut self, lines: impl Into<String>) -> Env {
        self.process = lines.into();
        self
    }

    /// Adds tables after `[process]`.
    pub fn extra(mut self, toml: impl Into<String>) -> Env {
        self.extra = toml.into();
        self
    }
}

/// Where the probe is inside every environment.
pub const PROBE: &str = "/probe/stockade-probe";

/// One `stockade` command (or a host-side action) of a script.
#[derive(Debug, Clone)]
pub enum Action {
    /// `stockade run --name N SPEC -- PROBE ARGS...` (no args: the spec's command).
    Run(Vec<String>),
    /// `stockade run --name N SPEC -- CMD...`, the command as given.
    RunCommand(Vec<String>),
    /// `stockade run -d --name N SPEC`.
    RunDetached,
    /// `stockade create --name N SPEC`.
    Create,
    /// `stockade start N`.
    Start,
    /// `stockade exec N -- PROBE ARGS...`.
    Exec(Vec<String>),
    /// `stockade exec N -- CMD...`, the command as given.
    ExecCommand(Vec<String>),
    /// `stockade state N`.
    State,
    /// `stockade state N` until `status` is this (20 s at most); records the last state.
    WaitStatus(&'static str),
    /// `stockade kill N SIG`.
    Kill(&'static str),
    /// `stockade stop N --time S`.
    Stop(f64),
    /// `stockade delete N [--force]`.
    Delete {
        /// `--force`.
        force: bool,
    },
    /// `stockade list --json`.
    List,
    /// The probe run directly on the host (no environment), e.g. to make a SysV segment.
    HostProbe(Vec<String>),
    /// Any other `stockade` command, its arguments as given (placeholders filled), e.g.
    /// `checkpoint {name} --out {workdir}/ckpt`.
    Stockade(Vec<String>),
}

impl Action {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        match self {
            Action::Run(a) if a.is_empty() => "run".into(),
            Action::Run(a) => format!("run -- probe {}", a.join(" ")),
            Action::RunCommand(c) => format!("run -- {}", c.join(" ")),
            Action::RunDetached => "run -d".into(),
            Action::Create => "create".into(),
            Action::Start => "start".into(),
            Action::Exec(a) => format!("exec -- probe {}", a.join(" ")),
            Action::ExecCommand(c) => format!("exec -- {}", c.join(" ")),
            Action::State => "state".into(),
            Action::WaitStatus(s) => format!("state (waiting for {s})"),
            Action::Kill(s) => format!("kill {s}"),
            Action::Stop(t) => format!("stop --time {t}"),
            Action::Delete { force: true } => "delete --force".into(),
            Action::Delete { force: false } => "delete".into(),
            Action::List => "list --json".into(),
            Action::HostProbe(a) => format!("probe on the host {}", a.join(" ")),
            Action::Stockade(a) => a.join(" "),
        }
    }
}

/// What a step's exit status must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitExpect {
    /// Exactly this status.
    Code(i32),
    /// Anything but 0.
    Failure,
    /// Not checked.
    Any,
}

/// One step of a script.
#[derive(Debug, Clone)]
pub struct Step {
    /// The key its record is stored under (pointers start with `/<label>`).
    pub label: &'static str,
    /// What to run.
    pub action: Action,
    /// Its expected exit status; a mismatch ends the script.
    pub exit: ExitExpect,
}

impl Step {
    /// A step expected to exit 0.
    pub fn new(label: &'static str, action: Action) -> Step {
        Step {
            label,
            action,
            exit: ExitExpect::Code(0),
        }
    }

    /// Expects this exit status instead.
    pub fn exit(mut self, code: i32) -> Step {
        self.exit = ExitExpect::Code(code);
        self
    }

    /// Expects failure (any non-zero status).
    pub fn fails(mut self) -> Step {
        self.exit = ExitExpect::Failure;
        self
    }

    /// Does not check the exit status.
    pub fn any_exit(mut self) -> Step {
        self.exit = ExitExpect::Any;
        self
    }
}

/// How the runner drives a case.
#[derive(Debug, Clone)]
pub enum Script {
    /// These steps, in order, on one environment.
    Steps(Vec<Step>),
    /// `count` environments at once: `run -d` each (with `--name <name>-<i>`), `list
    /// --json`, `exec` the probe in each, `delete --force` each. Records `/started`,
    /// `/running` (how many `list` shows running), `/own_hostname` (how many saw their
    /// own name as host name) and `/deleted`.
    Many(usize),
}

/// A comparison of one observed value.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal (strings may hold placeholders such as `{name}`).
    Eq(Value),
    /// Not equal.
    Ne(Value),
    /// Equal to one of these.
    OneOf(Vec<Value>),
    /// An array holding this element, or a string holding this substring.
    Contains(Value),
    /// An array without this element, or a string without this substring.
    Lacks(Value),
    /// A number at least this.
    AtLeast(f64),
    /// A number at most this.
    AtMost(f64),
    /// A number in this closed range.
    Between(f64, f64),
    /// An array of this length.
    Len(usize),
    /// Equal to the same pointer in the probe's report run on the host.
    SameAsHost(&'static str),
    /// Not equal to the same pointer in the probe's report run on the host.
    DiffersFromHost(&'static str),
    /// Linux: an array of capability names holding every capability
    /// `portability::privilege_mapping` gives this privilege (from the table in core).
    HasCapabilitiesOf(Privilege),
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Eq(v) => write!(f, "= {v}"),
            Matcher::Ne(v) => write!(f, "!= {v}"),
            Matcher::OneOf(v) => write!(f, "one of {}", Value::Array(v.clone())),
            Matcher::Contains(v) => write!(f, "containing {v}"),
            Matcher::Lacks(v) => write!(f, "without {v}"),
            Matcher::AtLeast(n) => write!(f, ">= {n}"),
            Matcher::AtMost(n) => write!(f, "<= {n}"),
            Matcher::Between(a, b) => write!(f, "between {a} and {b}"),
            Matcher::Len(n) => write!(f, "of {n} element(s)"),
            Matcher::SameAsHost(p) => write!(f, "the host's {p}"),
            Matcher::DiffersFromHost(p) => write!(f, "not the host's {p}"),
            Matcher::HasCapabilitiesOf(p) => write!(f, "holding the capabilities of {}", p.name()),
        }
    }
}

/// One expectation: a pointer into the case's record and a matcher, per target.
#[derive(Debug, Clone)]
pub struct Check {
    /// JSON pointer into the record (`/run/json/hostname`).
    pub ptr: String,
    /// The matcher on targets without an override; `None`: not checked there.
    pub all: Option<Matcher>,
    /// Per-target overrides; `None`: not checked on that target.
    pub per_target: Vec<(Target, Option<Matcher>)>,
}

impl Check {
    /// The matcher that applies on `target`, if any.
    pub fn matcher(&self, target: Target) -> Option<&Matcher> {
        match self.per_target.iter().find(|(t, _)| *t == target) {
            Some((_, m)) => m.as_ref(),
            None => self.all.as_ref(),
        }
    }

    /// A different expectation on one target.
    pub fn on(mut self, target: Target, m: Matcher) -> Check {
        self.per_target.push((target, Some(m)));
        self
    }

    /// A different expectation on both Linux targets.
    pub fn on_linux(self, m: Matcher) -> Check {
        self.on(Target::LinuxCgroupV2, m.clone())
            .on(Target::LinuxCgroupV1, m)
    }

    /// Not checked on one target (the value is a mechanism that target lacks).
    pub fn not_on(mut self, target: Target) -> Check {
        self.per_target.push((target, None));
        self
    }

    /// True when some target has its own expected value (not merely "not checked").
    #[cfg(test)]
    pub fn is_per_target(&self) -> bool {
        self.per_target.iter().any(|(_, m)| m.is_some())
    }
}

/// A pointer into a step's record: `at("run", "/json/hostname")`.
pub fn at(label: &str, rest: &str) -> String {
    format!("/{label}{rest}")
}

/// Escapes one key for a JSON pointer (`/` and `~`), e.g. a path used as a key.
pub fn key(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// A check on every target.
pub fn check(ptr: impl Into<String>, m: Matcher) -> Check {
    Check {
        ptr: ptr.into(),
        all: Some(m),
        per_target: Vec::new(),
    }
}

/// A check on the probe's report of a step: `probe("run", "/hostname", ...)`.
pub fn probe(label: &str, rest: &str, m: Matcher) -> Check {
    check(format!("/{label}/json{rest}"), m)
}

/// `probe(label, "/attempts/<name>/ok", Eq(ok))`.
pub fn attempt(label: &str, name: &str, ok: bool) -> Check {
    probe(
        label,
        &format!("/attempts/{name}/ok"),
        Matcher::Eq(Value::Bool(ok)),
    )
}

/// `probe(label, "/attempts/<name>/error", one of errors)`.
pub fn attempt_error(label: &str, name: &str, errors: &[&str]) -> Check {
    probe(
        label,
        &format!("/attempts/{name}/error"),
        Matcher::OneOf(errors.iter().map(|e| Value::from(*e)).collect()),
    )
}

/// A conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Dotted name, `area.what` (what `--filter` matches).
    pub name: &'static str,
    /// What it shows, in one line.
    pub summary: &'static str,
    /// The features it exercises, beyond those its spec uses (which the runner adds from
    /// `portability::features_used`).
    pub features: Vec<Feature>,
    /// Whether it needs root (every case that makes environments does).
    pub privileged: bool,
    /// The environment.
    pub env: Env,
    /// What to drive.
    pub script: Script,
    /// Steps run after the script whatever happened (undoing host-side set-up).
    pub teardown: Vec<Step>,
    /// What must be observed.
    pub checks: Vec<Check>,
    /// Needs a non-loopback IPv4 address on the host (to test a default route).
    pub needs_host_ip: bool,
    /// The spec is deliberately invalid (stockade must refuse it before touching the
    /// kernel).
    pub invalid_spec: bool,
    /// Through the OCI path (`--via oci`) the case observes a difference the export
    /// notes as an approximation: skipped there with this reason.
    pub differs_via_oci: Option<&'static str>,
}

impl Case {
    /// A case with no checks yet.
    pub fn new(name: &'static str, summary: &'static str, env: Env, script: Script) -> Case {
        Case {
            name,
            summary,
            features: Vec::new(),
            privileged: true,
            env,
            script,
            teardown: Vec::new(),
            checks: Vec::new(),
            needs_host_ip: false,
            invalid_spec: false,
            differs_via_oci: None,
        }
    }

    /// Skipped through the OCI path, for this reason (an approximation of the export
    /// that this case observes).
    pub fn differs_via_oci(mut self, why: &'static str) -> Case {
        self.differs_via_oci = Some(why);
        self
    }

    /// Declares exercised features.
    pub fn features(mut self, f: &[Feature]) -> Case {
        self.features.extend_from_slice(f);
        self
    }

    /// Adds checks.
    pub fn checks(mut self, c: Vec<Check>) -> Case {
        self.checks.extend(c);
        self
    }

    /// Adds teardown steps.
    pub fn teardown(mut self, s: Vec<Step>) -> Case {
        self.teardown.extend(s);
        self
    }
}

/// A foreground `run` of the probe with these arguments, labelled `run`.
pub fn run(args: &[&str]) -> Script {
    Script::Steps(vec![Step::new("run", Action::Run(strings(args)))])
}

/// Owned strings.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}
