//! Runs cases: renders the spec, decides skips from the portability table and the host,
//! drives `stockade`, judges the record against the checks, and looks for leftovers.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};
use stockade_core::portability::{self, privilege_mapping, Feature, Support, Target};
use stockade_core::Spec;

use crate::case::{Action, Case, Env, ExitExpect, Matcher, Root, Script, Step, PROBE};
use crate::exec::{self, Outcome};
use crate::host::Host;
use crate::leaks::{self, Baseline};
use crate::oci::{self, OciPath};
use crate::rootfs::{self, At as _, RootfsError};

/// Per-case folders: (placeholder, folder below the work folder).
const CASE_FOLDERS: [(&str, &str); 4] = [
    ("root", "roots"),
    ("share", "share"),
    ("layer", "layers"),
    ("changes", "changes"),
];

/// How long `WaitStatus` polls.
const WAIT_STATUS: Duration = Duration::from_secs(20);

/// A case's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "reason")]
pub enum Verdict {
    /// Everything observed as expected.
    #[serde(rename = "ok")]
    Pass,
    /// What differed, one message per failed expectation.
    #[serde(rename = "not ok")]
    Fail(Vec<String>),
    /// Why it could not run here.
    #[serde(rename = "skip")]
    Skip(String),
}

/// The outcome of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// What it shows.
    pub summary: String,
    /// Every feature it exercises (declared and used by its spec).
    pub features: Vec<String>,
    /// The verdict.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Wall time.
    pub seconds: f64,
    /// What was observed: one record per step, leftovers, the spec.
    pub record: Value,
}

/// The suite's fixed context: the host, the binaries, the folders.
pub struct Suite {
    /// This host.
    pub host: Host,
    /// The `stockade` binary under test.
    pub stockade: PathBuf,
    /// The probe binary on the host.
    pub probe: PathBuf,
    /// Where everything the suite makes lives.
    pub workdir: PathBuf,
    /// `stockade --root`.
    pub state_root: PathBuf,
    /// The probe folder bound at /probe into root.host environments.
    pub probe_dir: PathBuf,
    /// Files the probe needs at run time (interpreter, libraries), for root.path roots.
    pub probe_libs: Vec<PathBuf>,
    /// The probe's report, run on the host itself.
    pub host_probe: Value,
    /// A TCP port the suite listens on, on every host address.
    pub port: u16,
    /// The host's first non-loopback IPv4 address, if any.
    pub host_ip: Option<Ipv4Addr>,
    /// Time limit of one stockade command.
    pub timeout: Duration,
    /// `--via oci`: environments go through `stockade export --format oci` and
    /// `stockade oci` instead of `stockade run`, `create`, ...
    pub oci: Option<OciPath>,
}

/// The environment name of a case: `cf-` and the case name with dots as dashes.
pub fn env_name(case: &str) -> String {
    let mut n = format!("cf-{}", case.replace(['.', '_'], "-"));
    n.truncate(56);
    n
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Replaces `{key}` placeholders.
pub fn fill(text: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Replaces placeholders in a JSON pointer, escaping the values as pointer keys (a
/// path placeholder inside a key must not add levels).
pub fn fill_ptr(ptr: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = ptr.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), &crate::case::key(v));
    }
    out
}

fn fill_value(v: &Value, vars: &BTreeMap<&str, String>) -> Value {
    match v {
        Value::String(s) => Value::String(fill(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_value(x, vars)).collect()),
        other => other.clone(),
    }
}

/// The spec file of an environment (without `name`: the runner passes `--name`).
pub fn render_spec(env: &Env, vars: &BTreeMap<&str, String>) -> String {
    let mut t = String::new();
    if let Some(h) = env.hostname {
        t.push_str(&format!("hostname = {}\n", toml_str(h)));
    }
    t.push_str("\n[root]\n");
    match env.root {
        Root::Host => t.push_str("host = true\n"),
        Root::Path => t.push_str("path = \"{root}\"\n"),
        Root::Image => t.push_str("image = \"{image}\"\n"),
    }
    if env.readonly {
        t.push_str("readonly = true\n");
    }
    if !env.root_keys.is_empty() {
        t.push_str(env.root_keys.trim());
        t.push('\n');
    }
    let command: Vec<String> = std::iter::once(PROBE.to_string())
        .chain(env.command.iter().cloned())
        .map(|a| toml_str(&a))
        .collect();
    t.push_str(&format!(
        "\n[process]\ncommand = [{}]\n",
        command.join(", ")
    ));
    if !env.process.is_empty() {
        t.push_str(env.process.trim());
        t.push('\n');
    }
    if env.root == Root::Host {
        t.push_str(
            "\n# The probe, from the host.\n[[mount]]\nkind = \"bind\"\nsource = \"{probe_dir}\"\ntarget = \"/probe\"\nreadonly = true\n",
        );
    }
    if !env.extra.is_empty() {
        t.push('\n');
        t.push_str(env.extra.trim());
        t.push('\n');
    }
    fill(&t, vars)
}

/// Every feature a case exercises: declared, plus those its spec uses.
pub fn case_features(case: &Case, spec: &Spec) -> Vec<Feature> {
    let mut all: Vec<Feature> = case.features.clone();
    all.extend(
        portability::features_used(spec)
            .into_iter()
            .map(|u| u.feature),
    );
    all.sort();
    all.dedup();
    all
}

/// Why the case cannot run on this target or host, if it cannot. Unsupported features
/// come from the portability table; host gaps from [`Host::lacks`].
pub fn skip_reason(
    case: &Case,
    features: &[Feature],
    host: &Host,
    host_ip: bool,
) -> Option<String> {
    for f in features {
        if let Support::Unsupported(why) = portability::support(*f, host.target) {
            return Some(format!(
                "unsupported on {}: {why} ({})",
                host.target,
                f.label()
            ));
        }
    }
    if case.privileged && !host.root {
        return Some("host lacks root privileges (stockade makes namespaces, mounts and cgroups: run the suite as root)".into());
    }
    for f in features {
        if let Some(what) = host.lacks(*f) {
            return Some(format!("host lacks {what}"));
        }
    }
    if case.needs_host_ip && !host_ip {
        return Some("host lacks a non-loopback IPv4 address to route to".into());
    }
    None
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn same(a: &Value, b: &Value) -> bool {
    match (as_f64(a), as_f64(b)) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

fn short(v: Option<&Value>) -> String {
    match v {
        None => "nothing (missing)".into(),
        Some(v) => {
            let mut s = v.to_string();
            if s.len() > 300 {
                let cut = (0..=300)
                    .rev()
                    .find(|i| s.is_char_boundary(*i))
                    .unwrap_or(0);
                s.truncate(cut);
                s.push('…');
            }
            s
        }
    }
}

/// Judges one observed value.
pub fn judge(
    m: &Matcher,
    observed: Option<&Value>,
    host_probe: &Value,
    vars: &BTreeMap<&str, String>,
) -> bool {
    let null = Value::Null;
    let o = observed.unwrap_or(&null);
    let num = as_f64(o);
    match m {
        Matcher::Eq(v) => same(o, &fill_value(v, vars)),
        Matcher::Ne(v) => observed.is_some() && !same(o, &fill_value(v, vars)),
        Matcher::OneOf(vs) => vs.iter().any(|v| same(o, &fill_value(v, vars))),
        Matcher::Contains(v) | Matcher::Lacks(v) => {
            let v = fill_value(v, vars);
            let has = match (o, &v) {
                (Value::Array(a), _) => a.iter().any(|x| same(x, &v)),
                (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                _ => false,
            };
            let known = o.is_array() || o.is_string();
            match m {
                Matcher::Contains(_) => has,
                _ => known && !has,
            }
        }
        Matcher::AtLeast(n) => num.is_some_and(|x| x >= *n),
        Matcher::AtMost(n) => num.is_some_and(|x| x <= *n),
        Matcher::Between(a, b) => num.is_some_and(|x| x >= *a && x <= *b),
        Matcher::Len(n) => o.as_array().is_some_and(|a| a.len() == *n),
        Matcher::SameAsHost(p) => host_probe.pointer(p).is_some_and(|h| same(o, h)),
        Matcher::DiffersFromHost(p) => {
            observed.is_some() && host_probe.pointer(p).is_some_and(|h| !same(o, h))
        }
        Matcher::HasCapabilitiesOf(p) => match o {
            Value::Array(a) => privilege_mapping(*p)
                .capabilities
                .iter()
                .all(|c| a.iter().any(|x| x == c)),
            _ => false,
        },
    }
}

impl Suite {
    /// Starts the TCP listener environments connect to; returns its port.
    pub fn listen() -> std::io::Result<u16> {
        let listener = TcpListener::bind("0.0.0.0:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        Ok(port)
    }

    /// The first non-loopback, non-link-local IPv4 address in a probe report.
    pub fn first_ipv4(report: &Value) -> Option<Ipv4Addr> {
        report
            .pointer("/net/interfaces")?
            .as_array()?
            .iter()
            .filter(|i| i["loopback"] == false)
            .flat_map(|i| i["addresses"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str()?.split('/').next()?.parse::<Ipv4Addr>().ok())
            .find(|a| !a.is_loopback() && !a.is_link_local() && a.octets()[..2] != [10, 213])
    }

    fn vars(&self, case: &Case, name: &str) -> BTreeMap<&'static str, String> {
        let mut v = BTreeMap::new();
        v.insert("name", name.to_string());
        for kind in CASE_FOLDERS {
            v.insert(kind.0, self.case_folder(kind.1, case).display().to_string());
        }
        v.insert("probe_dir", self.probe_dir.display().to_string());
        v.insert("port", self.port.to_string());
        let host_ip = self
            .host_ip
            .map_or_else(|| "192.0.2.1".to_string(), |a| a.to_string());
        v.insert("host_ip", host_ip);
        v.insert(
            "state_dir",
            self.state_root.join(name).display().to_string(),
        );
        v.insert("workdir", self.workdir.display().to_string());
        v.insert("probe", PROBE.to_string());
        v.insert("image", format!("conformance/{}:1", case.name));
        v
    }

    /// The suite's image store, below the work folder.
    fn image_store(&self) -> PathBuf {
        self.workdir.join("images")
    }

    /// `<workdir>/<kind>/<case>`: the case's prepared root, shared folder, layer, or
    /// changes folder.
    fn case_folder(&self, kind: &str, case: &Case) -> PathBuf {
        self.workdir.join(kind).join(case.name)
    }

    pub(crate) fn stockade(&self, args: Vec<String>, log: &Path) -> Outcome {
        let mut full = vec![
            "--root".to_string(),
            self.state_root.display().to_string(),
            "--store".to_string(),
            self.image_store().display().to_string(),
        ];
        full.extend(args);
        exec::run(&self.stockade, &full, log, self.timeout).unwrap_or_else(|e| Outcome {
            command: format!("{} {}", self.stockade.display(), full.join(" ")),
            exit: None,
            signal: None,
            timed_out: false,
            stdout: String::new(),
            stderr: e.to_string(),
            secs: 0.0,
        })
    }

    fn probe_args(args: &[String]) -> Vec<String> {
        std::iter::once(PROBE.to_string())
            .chain(args.iter().cloned())
            .collect()
    }

    /// Runs one action.
    fn act(
        &self,
        action: &Action,
        name: &str,
        spec: &Path,
        log: &Path,
        vars: &BTreeMap<&str, String>,
    ) -> Outcome {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
        let fill_all = |v: &[String]| v.iter().map(|a| fill(a, vars)).collect::<Vec<_>>();
        if let (Some(oci), false) = (&self.oci, matches!(action, Action::HostProbe(_))) {
            return self.oci_act(oci, action, name, spec, log, &fill_all);
        }
        let spec = spec.display().to_string();
        let args = match action {
            Action::Run(a) => {
                let mut v = s(&["run", "--name", name, &spec]);
                if !a.is_empty() {
                    v.push("--".into());
                    v.extend(Self::probe_args(&fill_all(a)));
                }
                v
            }
            Action::RunCommand(c) => {
                let mut v = s(&["run", "--name", name, &spec, "--"]);
                v.extend(fill_all(c));
                v
            }
            Action::RunDetached => s(&["run", "-d", "--name", name, &spec]),
            Action::Create => s(&["create", "--name", name, &spec]),
            Action::Start => s(&["start", name]),
            Action::Exec(a) => {
                let mut v = s(&["exec", name, "--"]);
                v.extend(Self::probe_args(&fill_all(a)));
                v
            }
            Action::ExecCommand(c) => {
                let mut v = s(&["exec", name, "--"]);
                v.extend(fill_all(c));
                v
            }
            Action::State | Action::WaitStatus(_) => s(&["state", name]),
            Action::Kill(sig) => s(&["kill", name, sig]),
            Action::Stop(t) => s(&["stop", name, "--time", &t.to_string()]),
            Action::Delete { force } => {
                let mut v = s(&["delete", name]);
                if *force {
                    v.push("--force".into());
                }
                v
            }
            Action::List => s(&["list", "--json"]),
            Action::Stockade(a) => fill_all(a),
            Action::HostProbe(a) => {
                let out = exec::run(&self.probe, &fill_all(a), log, self.timeout);
                return out.unwrap_or_else(|e| Outcome {
                    command: format!("{} {}", self.probe.display(), a.join(" ")),
                    exit: None,
                    signal: None,
                    timed_out: false,
                    stdout: String::new(),
                    stderr: e.to_string(),
                    secs: 0.0,
                });
            }
        };
        if let Action::WaitStatus(want) = action {
            return self.poll_status(want, || self.stockade(args.clone(), log));
        }
        self.stockade(args, log)
    }

    /// Runs `state` until its `status` is `want`, it fails, or [`WAIT_STATUS`] passed.
    pub(crate) fn poll_status(&self, want: &str, state: impl Fn() -> Outcome) -> Outcome {
        let start = Instant::now();
        loop {
            let out = state();
            let status = exec::parse_json(&out.stdout)["status"].clone();
            if status == *want || start.elapsed() > WAIT_STATUS || out.exit != Some(0) {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the steps; returns the first step failure, if any (the script stops there):
    /// the step's label and the message.
    fn steps(
        &self,
        steps: &[Step],
        name: &str,
        spec: &Path,
        logs: &Path,
        vars: &BTreeMap<&str, String>,
        record: &mut Map<String, Value>,
    ) -> Option<(&'static str, String)> {
        for (i, step) in steps.iter().enumerate() {
            let log = logs.join(format!("{i:02}-{}", step.label));
            let out = self.act(&step.action, name, spec, &log, vars);
            let mut rec = out.record();
            if let Action::WaitStatus(want) = &step.action {
                let reached = rec["json"]["status"] == *want;
                rec["reached"] = Value::Bool(reached);
                if !reached && out.exit == Some(0) {
                    record.insert(step.label.into(), rec.clone());
                    return Some((
                        step.label,
                        format!(
                        "expected `stockade state` to show status {want:?} within {}s, observed {}",
                        WAIT_STATUS.as_secs(),
                        short(rec.pointer("/json/status"))
                    ),
                    ));
                }
            }
            record.insert(step.label.into(), rec);
            let ok = match step.exit {
                ExitExpect::Code(c) => out.exit == Some(c),
                ExitExpect::Failure => out.exit.is_some_and(|c| c != 0),
                ExitExpect::Any => !out.timed_out,
            };
            if !ok {
                let want = match step.exit {
                    ExitExpect::Code(c) => format!("exit {c}"),
                    ExitExpect::Failure => "fail (non-zero exit)".into(),
                    ExitExpect::Any => "finish".into(),
                };
                let got = if out.timed_out {
                    format!("still running after {}s (killed)", self.timeout.as_secs())
                } else if let Some(sig) = out.signal {
                    format!("killed by signal {sig}")
                } else {
                    format!("exit {}", out.exit.unwrap_or(-1))
                };
                let err = out.stderr_line();
                let err = if err.is_empty() {
                    String::new()
                } else {
                    format!(" ({err})")
                };
                return Some((
                    step.label,
                    format!(
                        "expected `stockade {}` ({}) to {want}, observed {got}{err}",
                        fill(&step.action.describe(), vars),
                        step.label
                    ),
                ));
            }
        }
        None
    }

    /// `count` environments at once (see [`Script::Many`]).
    fn many(
        &self,
        count: usize,
        base: &str,
        spec: &Path,
        logs: &Path,
        record: &mut Map<String, Value>,
    ) -> Vec<String> {
        let names: Vec<String> = (0..count).map(|i| format!("{base}-{i:02}")).collect();
        let vars = BTreeMap::new();
        let mut notes = Vec::new();
        let mut started = 0;
        for n in &names {
            let out = self.act(
                &Action::RunDetached,
                n,
                spec,
                &logs.join(format!("run-{n}")),
                &vars,
            );
            if out.exit == Some(0) {
                started += 1;
            } else if notes.len() < 3 {
                notes.push(format!(
                    "run -d {n}: exit {:?} ({})",
                    out.exit,
                    out.stderr_line()
                ));
            }
        }
        let list = self.act(&Action::List, base, spec, &logs.join("list"), &vars);
        let listed = exec::parse_json(&list.stdout);
        let running = listed
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| {
                        names.iter().any(|n| e["name"] == n.as_str()) && e["status"] == "running"
                    })
                    .count()
            })
            .unwrap_or(0);
        let mut own = 0;
        for n in &names {
            let out = self.act(
                &Action::Exec(Vec::new()),
                n,
                spec,
                &logs.join(format!("exec-{n}")),
                &vars,
            );
            let seen = exec::parse_json(&out.stdout)["hostname"].clone();
            if seen == n.as_str() {
                own += 1;
            } else if notes.len() < 6 {
                notes.push(format!(
                    "exec in {n}: exit {:?}, hostname {seen} ({})",
                    out.exit,
                    out.stderr_line()
                ));
            }
        }
        let mut deleted = 0;
        for n in &names {
            let out = self.act(
                &Action::Delete { force: true },
                n,
                spec,
                &logs.join(format!("delete-{n}")),
                &vars,
            );
            if out.exit == Some(0) {
                deleted += 1;
            } else if notes.len() < 9 {
                notes.push(format!(
                    "delete --force {n}: exit {:?} ({})",
                    out.exit,
                    out.stderr_line()
                ));
            }
        }
        record.insert("started".into(), json!(started));
        record.insert("running".into(), json!(running));
        record.insert("own_hostname".into(), json!(own));
        record.insert("deleted".into(), json!(deleted));
        record.insert("notes".into(), json!(notes));
        names
    }

    /// Runs one case.
    pub fn run_case(&self, case: &Case) -> CaseResult {
        let start = Instant::now();
        let name = env_name(case.name);
        let vars = self.vars(case, &name);
        let spec_text = render_spec(&case.env, &vars);
        let case_dir = self.workdir.join("cases").join(case.name);
        let spec_path = case_dir.join("spec.toml");
        let mut record = Map::new();
        record.insert("env".into(), json!(name));
        record.insert("spec".into(), json!(spec_text));
        let finish =
            |verdict: Verdict, features: Vec<Feature>, record: Map<String, Value>| CaseResult {
                name: case.name.to_string(),
                summary: case.summary.to_string(),
                features: features.iter().map(|f| f.label()).collect(),
                verdict,
                seconds: start.elapsed().as_secs_f64(),
                record: Value::Object(record),
            };
        let features = match (
            Spec::from_toml(&spec_text, Some(&spec_path)),
            case.invalid_spec,
        ) {
            (Ok(spec), false) => case_features(case, &spec),
            (Err(_), true) => case.features.clone(),
            (Ok(_), true) => {
                return finish(
                    Verdict::Fail(vec![
                        "the case's spec should be invalid but loads (a suite bug)".into(),
                    ]),
                    case.features.clone(),
                    record,
                )
            }
            (Err(e), false) => {
                return finish(
                    Verdict::Fail(vec![format!(
                        "the case's spec is invalid (a suite bug): {e}"
                    )]),
                    case.features.clone(),
                    record,
                )
            }
        };
        if let Some(why) = skip_reason(case, &features, &self.host, self.host_ip.is_some()) {
            return finish(Verdict::Skip(why), features, record);
        }
        if let Err(e) = self.prepare(case, &case_dir, &spec_path, &spec_text) {
            return finish(
                Verdict::Fail(vec![format!("cannot prepare the case's files: {e}")]),
                features,
                record,
            );
        }
        let logs = case_dir.join("logs");
        if let Some(oci) = &self.oci {
            oci.reset();
            // Through config.json, or skipped with the reason it cannot be.
            let differs = case.differs_via_oci.map(|why| format!("through OCI {why}"));
            let why = differs.or_else(|| oci::script_skip(case)).or_else(|| {
                let id = match case.script {
                    Script::Steps(_) => name.clone(),
                    Script::Many(_) => format!("{name}-00"),
                };
                self.oci_export(oci, &id, &spec_path, &logs).err()
            });
            if let Some(why) = why {
                return finish(Verdict::Skip(why), features, record);
            }
        }
        let before = Baseline::take(PROBE);
        let mut failures = Vec::new();
        let mut failed_step = None;
        let names = match &case.script {
            Script::Steps(steps) => {
                if let Some((label, f)) =
                    self.steps(steps, &name, &spec_path, &logs, &vars, &mut record)
                {
                    failures.push(f);
                    failed_step = Some(label);
                }
                vec![name.clone()]
            }
            Script::Many(n) => self.many(*n, &name, &spec_path, &logs, &mut record),
        };
        if !case.teardown.is_empty() {
            let mut rec = Map::new();
            let _ = self.steps(&case.teardown, &name, &spec_path, &logs, &vars, &mut rec);
            record.insert("teardown".into(), Value::Object(rec));
        }
        let record_value = Value::Object(record.clone());
        for c in &case.checks {
            let Some(m) = c.matcher(self.host.target) else {
                continue;
            };
            // A check on the step that failed, or on one the script never reached, adds
            // nothing to that failure.
            let step = c.ptr.split('/').nth(1).unwrap_or("");
            if failed_step == Some(step) || (failed_step.is_some() && !record.contains_key(step)) {
                continue;
            }
            let ptr = fill_ptr(&c.ptr, &vars);
            let observed = record_value.pointer(&ptr);
            if !judge(m, observed, &self.host_probe, &vars) {
                // The pointer as the case wrote it, keys unescaped: `{root}` reads better
                // than a long temporary path with every `/` written `~1`.
                let readable = c.ptr.replace("~1", "/").replace("~0", "~");
                let mut msg = format!("expected {readable} {m}, observed {}", short(observed));
                // A failed attempt: say why.
                if let Some(base) = ptr.strip_suffix("/ok") {
                    if let Some(Value::String(e)) = record_value.pointer(&format!("{base}/error")) {
                        msg.push_str(&format!(" ({e})"));
                    }
                }
                if let Some(rec) = record.get(step) {
                    if ptr.contains("/json/") && rec["json"].is_null() {
                        msg.push_str(&format!(
                            " (no report from `{}`, exit {}: {})",
                            step,
                            short(rec.get("exit")),
                            rec["stderr"]
                                .as_str()
                                .unwrap_or("")
                                .lines()
                                .last()
                                .unwrap_or("")
                        ));
                    }
                }
                failures.push(msg);
            }
        }
        // Nothing may be left of any environment, whatever the script did.
        let root = matches!(case.env.root, Root::Path | Root::Image)
            .then(|| self.workdir.join("roots").join(case.name));
        let mut left = Vec::new();
        for n in &names {
            // Through OCI a root.host environment's root is its bundle's rootfs/.
            let bundle_root = (self.oci.is_some() && case.env.root == Root::Host)
                .then(|| case_dir.join("bundles").join(n).join("rootfs"));
            let root = bundle_root.as_deref().or(root.as_deref());
            let state_dir = match &self.oci {
                Some(oci) => oci.state_dir(n),
                None => self.state_root.join(n),
            };
            left.extend(leaks::leftovers(
                &self.host, &before, PROBE, n, &state_dir, root,
            ));
        }
        left.sort();
        left.dedup();
        record.insert("leftovers".into(), json!(left));
        if !left.is_empty() {
            failures.push(format!(
                "expected nothing left after the environment is gone, observed {}",
                left.join("; ")
            ));
            self.clean_up(&names, &before, &logs);
        }
        let verdict = if failures.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail(failures)
        };
        finish(verdict, features, record)
    }

    /// After a leak: `delete --force`, and end leftover probes (processes this suite
    /// started, by their id), so the next case starts clean.
    fn clean_up(&self, names: &[String], before: &Baseline, logs: &Path) {
        for n in names {
            let log = logs.join(format!("cleanup-{n}"));
            match &self.oci {
                Some(oci) if oci.state_dir(n).exists() => {
                    let _ = self.oci_act(
                        oci,
                        &Action::Delete { force: true },
                        n,
                        Path::new(""),
                        &log,
                        &|a| a.to_vec(),
                    );
                }
                None if self.state_root.join(n).exists() => {
                    let _ = self.stockade(vec!["delete".into(), "--force".into(), n.clone()], &log);
                }
                _ => {}
            }
        }
        for pid in leaks::new_probes(before, PROBE) {
            let _ = crate::sys::kill(pid);
        }
    }

    fn prepare(
        &self,
        case: &Case,
        case_dir: &Path,
        spec_path: &Path,
        spec_text: &str,
    ) -> Result<(), RootfsError> {
        let logs = case_dir.join("logs");
        fs::create_dir_all(&logs).at(&logs)?;
        fs::write(spec_path, spec_text).at(spec_path)?;
        if matches!(case.env.root, Root::Path | Root::Image) {
            let root = self.case_folder("roots", case);
            if root.exists() {
                fs::remove_dir_all(&root).at(&root)?;
            }
            rootfs::prepare_root(&root, &self.probe, &self.probe_libs, case.name)?;
            if case.env.root == Root::Image {
                let image = format!("conformance/{}:1", case.name);
                let out = self.stockade(
                    vec![
                        "image".into(),
                        "import".into(),
                        "--rootfs".into(),
                        root.display().to_string(),
                        "--name".into(),
                        image,
                    ],
                    &logs.join("image-import"),
                );
                if out.exit != Some(0) {
                    return Err(RootfsError::Import(out.stderr));
                }
            }
        }
        let share = self.case_folder("share", case);
        fs::create_dir_all(&share).at(&share)?;
        let hello = share.join("hello.txt");
        fs::write(&hello, "shared by the host\n").at(&hello)?;
        // Writable by any user the environment runs as.
        fs::set_permissions(&share, fs::Permissions::from_mode(0o777)).at(&share)?;
        // A layer for root.layers: its own /marker (above the base's) and a file of its own.
        let layer = self.case_folder("layers", case);
        fs::create_dir_all(&layer).at(&layer)?;
        fs::set_permissions(&layer, fs::Permissions::from_mode(0o755)).at(&layer)?;
        for (file, text) in [
            ("marker", "from the layer\n"),
            ("layer.txt", "only in the layer\n"),
        ] {
            let p = layer.join(file);
            fs::write(&p, text).at(&p)?;
        }
        // An empty folder for root.changes.
        let changes = self.case_folder("changes", case);
        if changes.exists() {
            fs::remove_dir_all(&changes).at(&changes)?;
        }
        fs::create_dir_all(&changes).at(&changes)
    }

    /// The target this suite judges.
    pub fn target(&self) -> Target {
        self.host.target
    }
}
