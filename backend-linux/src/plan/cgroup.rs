//! cgroups: the environment's control group, the limit files written into it and its
//! device policy (cgroups(7); kernel docs admin-guide/cgroup-v2.rst and cgroup-v1/).
//!
//! The cgroup is `stockade/<name>` (`<name>.<hash>` outside the default state root, see
//! [`cgroup_path`]) below a base folder that apply
//! chooses: the hierarchy root, or under systemd the caller's delegated cgroup (on v1, in
//! each controller's hierarchy). It is made before the first process exists, so the process
//! starts inside it (v2: `clone3` with `CLONE_INTO_CGROUP`); limits then hold from the
//! first instruction, and killing or freezing everything in the environment is a cgroup
//! operation.
//!
//! - **v2**: `memory.max`, plus `memory.swap.max = 0` so swap cannot stretch the limit;
//!   `pids.max`; `cpu.max = "<quota> <period>"` with a 100 ms period. The controllers must
//!   be enabled in `cgroup.subtree_control` of every ancestor (the root and `stockade/`):
//!   apply writes `+<controller>` for each of [`CgroupPlan::controllers`].
//! - **v1**: `memory.limit_in_bytes` then `memory.memsw.limit_in_bytes` (memory + swap;
//!   it must never be below the memory limit, so the memory limit is written first);
//!   `pids.max`; `cpu.cfs_period_us` then `cpu.cfs_quota_us` (the quota is checked against
//!   the period in force, so the period goes first).
//!
//! `limits.cpuset` writes `cpuset.cpus`. A cpuset cgroup runs nothing until it has
//! memory nodes too, and the nodes are the host's business, so `cpuset.mems` is copied
//! from the parent ([`CgroupCopy`]): on v2 from its `cpuset.mems.effective` (the root
//! has no `cpuset.mems`); on v1 `cpuset.cpus` and `cpuset.mems` into `stockade/` as well,
//! since a v1 cpuset starts empty and a child can only hold a subset of its parent.
//!
//! Swap files (`memory.swap.max`, `memory.memsw.*`) exist only when the kernel accounts
//! swap (`CONFIG_MEMCG_SWAP`, not booted with `swapaccount=0`): those writes are not
//! [`required`](CgroupWrite::required); apply skips a missing one and records why.
//!
//! The device policy denies every device but the standard ones the minimal `/dev` holds:
//! on v1 as `devices.deny` / `devices.allow` writes, on v2 as a rule list that apply
//! compiles into a `BPF_PROG_TYPE_CGROUP_DEVICE` program (v2 has no device files).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use stockade_core::backend::{CgroupVersion, PlanContext};
use stockade_core::spec::Spec;

/// The CPU bandwidth period: 100 ms, the kernel's default.
pub const CPU_PERIOD_US: u64 = 100_000;

/// The largest CPU quota the kernel accepts, in µs (`max_cfs_runtime`, 2^44 - 1).
pub const MAX_CPU_QUOTA_US: u64 = (1 << 44) - 1;

/// The folder below the hierarchy root that holds every environment's cgroup.
pub const CGROUP_PARENT: &str = "stockade";

/// The default state root on Linux; environments under it get `stockade/<name>`.
pub const DEFAULT_STATE_ROOT: &str = "/run/stockade";

/// The cgroup folder of an environment, relative to the hierarchy root:
/// `stockade/<name>` under the default state root, `stockade/<name>.<hash>` under any
/// other (`--root`), so that two environments of one name in two state roots never share
/// a cgroup (names cannot hold '.', so the suffix cannot collide with a real name).
pub fn cgroup_path(name: &str, state_dir: &std::path::Path) -> PathBuf {
    let parent = PathBuf::from(CGROUP_PARENT);
    if state_dir == std::path::Path::new(DEFAULT_STATE_ROOT).join(name) {
        parent.join(name)
    } else {
        parent.join(format!(
            "{name}.{:07x}",
            super::net::instance_hash(state_dir)
        ))
    }
}

/// What can make a limit impossible to express as cgroup values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CgroupPlanError {
    /// `limits.cpus` asks for more CPU time per period than the kernel can account.
    #[error(
        "limits.cpus = {cpus} is more CPU time than the kernel's CPU quota can express \
         (at most {max} cores); lower limits.cpus, or remove it for no limit",
        max = MAX_CPU_QUOTA_US / CPU_PERIOD_US
    )]
    CpuQuotaTooLarge {
        /// The spec's value.
        cpus: f64,
    },
}

/// One value written to one cgroup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupWrite {
    /// v1: the controller whose hierarchy holds the file (`memory`); `None` on v2.
    pub controller: Option<String>,
    /// The file, relative to the environment's cgroup folder.
    pub file: String,
    /// The text written.
    pub value: String,
    /// False when the file may legitimately be absent (swap accounting off): apply skips it
    /// and records the reason instead of failing.
    pub required: bool,
}

impl CgroupWrite {
    fn v2(file: &str, value: impl ToString) -> Self {
        CgroupWrite {
            controller: None,
            file: file.into(),
            value: value.to_string(),
            required: true,
        }
    }

    fn v1(controller: &str, file: &str, value: impl ToString) -> Self {
        CgroupWrite {
            controller: Some(controller.into()),
            file: file.into(),
            value: value.to_string(),
            required: true,
        }
    }

    fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// The controller this write needs: the v1 hierarchy, or the file's prefix on v2.
    pub fn needs_controller(&self) -> &str {
        match &self.controller {
            Some(c) => c,
            None => self.file.split('.').next().unwrap_or(&self.file),
        }
    }
}

impl fmt::Display for CgroupWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.controller {
            Some(c) => write!(f, "write {c}:{} = {}", self.file, self.value)?,
            None => write!(f, "write {} = {}", self.file, self.value)?,
        }
        if !self.required {
            f.write_str(" [skipped if the kernel does not account swap]")?;
        }
        Ok(())
    }
}

/// A file filled from the parent cgroup's copy when empty, in every folder made below the
/// base (`stockade/`, then the environment's), before the limit writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupCopy {
    /// v1: the controller whose hierarchy holds the file; `None` on v2.
    pub controller: Option<String>,
    /// The file written.
    pub file: String,
    /// The parent's file read.
    pub from: String,
}

impl fmt::Display for CgroupCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self
            .controller
            .as_deref()
            .map_or_else(String::new, |c| format!("{c}:"));
        write!(
            f,
            "copy {c}{} from the parent's {} (stockade/ and the environment's folder, when empty)",
            self.file, self.from
        )
    }
}

/// A device type in a device rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceType {
    /// Every type (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

impl DeviceType {
    /// The letter the v1 files use.
    pub fn letter(self) -> char {
        match self {
            DeviceType::All => 'a',
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
        }
    }
}

/// One device rule: a type, a major:minor (`None` = any) and an access set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceRule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// The device type.
    #[serde(rename = "type")]
    pub kind: DeviceType,
    /// Major number; `None` matches any.
    pub major: Option<u32>,
    /// Minor number; `None` matches any.
    pub minor: Option<u32>,
    /// Any of `r` (read), `w` (write), `m` (mknod).
    pub access: String,
}

impl DeviceRule {
    /// The rule in the v1 `devices.allow` / `devices.deny` syntax, e.g. `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        if self.kind == DeviceType::All && self.major.is_none() && self.minor.is_none() {
            return "a".into();
        }
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind.letter(),
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.allow { "allow" } else { "deny" };
        write!(f, "{verb} {}", self.v1_line())
    }
}

/// The standard devices of the minimal `/dev`, all character devices allowed `rwm`:
/// (name, major, minor), `None` matching every minor (the pts terminals).
pub const STANDARD_DEVICES: &[(&str, u32, Option<u32>)] = &[
    ("null", 1, Some(3)),
    ("zero", 1, Some(5)),
    ("full", 1, Some(7)),
    ("random", 1, Some(8)),
    ("urandom", 1, Some(9)),
    ("tty", 5, Some(0)),
    ("ptmx", 5, Some(2)),
    ("pts/*", 136, None),
];

/// Which devices the environment may open or create: deny all, then allow a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DevicePolicy {
    /// The rules in order; the first denies everything.
    pub rules: Vec<DeviceRule>,
}

impl DevicePolicy {
    /// Deny everything, allow the standard devices.
    pub fn standard() -> Self {
        let mut rules = vec![DeviceRule {
            allow: false,
            kind: DeviceType::All,
            major: None,
            minor: None,
            access: "rwm".into(),
        }];
        rules.extend(
            STANDARD_DEVICES
                .iter()
                .map(|&(_, major, minor)| DeviceRule {
                    allow: true,
                    kind: DeviceType::Char,
                    major: Some(major),
                    minor,
                    access: "rwm".into(),
                }),
        );
        DevicePolicy { rules }
    }

    /// The v1 writes that install it: `devices.deny` for deny rules, `devices.allow` for
    /// allow rules, in order.
    pub fn v1_writes(&self) -> Vec<CgroupWrite> {
        self.rules
            .iter()
            .map(|r| {
                let file = if r.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                CgroupWrite::v1("devices", file, r.v1_line())
            })
            .collect()
    }
}

/// The environment's cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupPlan {
    /// The hierarchy it lives in.
    pub version: CgroupVersion,
    /// Its folder relative to the hierarchy root: `stockade/<name>` ([`cgroup_path`]).
    pub path: PathBuf,
    /// The controllers it needs (sorted): what the probe must find, and on v2 what apply
    /// enables in the ancestors' `cgroup.subtree_control`.
    pub controllers: Vec<String>,
    /// Files copied from the parent before the writes (`cpuset.mems`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<CgroupCopy>,
    /// The limit files, in the order they are written. On v1 the device policy's writes
    /// come last.
    pub writes: Vec<CgroupWrite>,
    /// The device policy (v1: also in `writes`; v2: a BPF device program to attach).
    pub devices: DevicePolicy,
}

impl CgroupPlan {
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "create {} ({}), before the first process",
            self.path.display(),
            if self.controllers.is_empty() {
                "no controllers needed".to_string()
            } else {
                format!("controllers: {}", self.controllers.join(", "))
            }
        )];
        lines.extend(self.copies.iter().map(ToString::to_string));
        lines.extend(self.writes.iter().map(ToString::to_string));
        if self.version == CgroupVersion::V2 {
            let rules: Vec<String> = self.devices.rules.iter().map(ToString::to_string).collect();
            lines.push(format!("attach a BPF device program: {}", rules.join(", ")));
        }
        lines
    }
}

/// The CPU quota per [`CPU_PERIOD_US`] for a number of cores.
pub fn cpu_quota_us(cpus: f64) -> Result<u64, CgroupPlanError> {
    let quota = (cpus * CPU_PERIOD_US as f64).round();
    if !(quota.is_finite() && quota >= 1.0 && quota <= MAX_CPU_QUOTA_US as f64) {
        return Err(CgroupPlanError::CpuQuotaTooLarge { cpus });
    }
    // In range by the check above, so the conversion is exact.
    Ok(quota as u64)
}

/// The cgroup of a spec on the context's hierarchy.
pub fn plan(spec: &Spec, ctx: &PlanContext) -> Result<CgroupPlan, CgroupPlanError> {
    let limits = &spec.limits;
    let quota = limits.cpus.map(cpu_quota_us).transpose()?;
    let devices = DevicePolicy::standard();
    let mut writes = Vec::new();
    let mut copies = Vec::new();
    let cpuset = limits.cpuset.as_ref().map(ToString::to_string);
    match ctx.cgroup {
        CgroupVersion::V2 => {
            if let Some(list) = &cpuset {
                copies.push(CgroupCopy {
                    controller: None,
                    file: "cpuset.mems".into(),
                    from: "cpuset.mems.effective".into(),
                });
                writes.push(CgroupWrite::v2("cpuset.cpus", list));
            }
            if let Some(bytes) = limits.memory {
                writes.push(CgroupWrite::v2("memory.max", bytes));
                writes.push(CgroupWrite::v2("memory.swap.max", 0).optional());
            }
            if let Some(n) = limits.processes {
                writes.push(CgroupWrite::v2("pids.max", n));
            }
            if let Some(q) = quota {
                writes.push(CgroupWrite::v2("cpu.max", format!("{q} {CPU_PERIOD_US}")));
            }
        }
        CgroupVersion::V1 => {
            if let Some(list) = &cpuset {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    copies.push(CgroupCopy {
                        controller: Some("cpuset".into()),
                        file: file.into(),
                        from: file.into(),
                    });
                }
                writes.push(CgroupWrite::v1("cpuset", "cpuset.cpus", list));
            }
            if let Some(bytes) = limits.memory {
                writes.push(CgroupWrite::v1("memory", "memory.limit_in_bytes", bytes));
                writes.push(
                    CgroupWrite::v1("memory", "memory.memsw.limit_in_bytes", bytes).optional(),
                );
            }
            if let Some(n) = limits.processes {
                writes.push(CgroupWrite::v1("pids", "pids.max", n));
            }
            if let Some(q) = quota {
                writes.push(CgroupWrite::v1("cpu", "cpu.cfs_period_us", CPU_PERIOD_US));
                writes.push(CgroupWrite::v1("cpu", "cpu.cfs_quota_us", q));
            }
            writes.extend(devices.v1_writes());
        }
    }
    let mut controllers: Vec<String> = writes
        .iter()
        .map(|w| w.needs_controller().to_string())
        .collect();
    controllers.sort();
    controllers.dedup();
    Ok(CgroupPlan {
        version: ctx.cgroup,
        path: cgroup_path(&spec.name, &ctx.state_dir),
        controllers,
        copies,
        writes,
        devices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{ctx, spec};

    fn writes(plan: &CgroupPlan) -> Vec<(Option<&str>, &str, &str, bool)> {
        plan.writes
            .iter()
            .map(|w| {
                (
                    w.controller.as_deref(),
                    w.file.as_str(),
                    w.value.as_str(),
                    w.required,
                )
            })
            .collect()
    }

    const LIMITS: &str = "[limits]\nmemory = \"256M\"\ncpus = 1.5\nprocesses = 64\n";

    #[test]
    fn v2_limits() {
        let plan = plan(&spec(LIMITS), &ctx(CgroupVersion::V2)).unwrap();
        assert_eq!(plan.path, PathBuf::from("stockade/web"));
        assert_eq!(
            writes(&plan),
            [
                (None, "memory.max", "268435456", true),
                (None, "memory.swap.max", "0", false),
                (None, "pids.max", "64", true),
                (None, "cpu.max", "150000 100000", true),
            ]
        );
        assert_eq!(plan.controllers, ["cpu", "memory", "pids"]);
    }

    #[test]
    fn v1_limits_in_order_then_devices() {
        let plan = plan(&spec(LIMITS), &ctx(CgroupVersion::V1)).unwrap();
        let w = writes(&plan);
        assert_eq!(
            w[..6],
            [
                (Some("memory"), "memory.limit_in_bytes", "268435456", true),
                (
                    Some("memory"),
                    "memory.memsw.limit_in_bytes",
                    "268435456",
                    false
                ),
                (Some("pids"), "pids.max", "64", true),
                (Some("cpu"), "cpu.cfs_period_us", "100000", true),
                (Some("cpu"), "cpu.cfs_quota_us", "150000", true),
                (Some("devices"), "devices.deny", "a", true),
            ]
        );
        let allowed: Vec<&str> = w[6..]
            .iter()
            .map(|(c, f, v, _)| {
                assert_eq!((*c, *f), (Some("devices"), "devices.allow"));
                *v
            })
            .collect();
        assert_eq!(
            allowed,
            [
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:2 rwm",
                "c 136:* rwm"
            ]
        );
        assert_eq!(plan.controllers, ["cpu", "devices", "memory", "pids"]);
    }

    #[test]
    fn half_a_cpu() {
        let p2 = plan(&spec("[limits]\ncpus = 0.5\n"), &ctx(CgroupVersion::V2)).unwrap();
        assert_eq!(writes(&p2), [(None, "cpu.max", "50000 100000", true)]);
        assert_eq!(p2.controllers, ["cpu"]);
        let p1 = plan(&spec("[limits]\ncpus = 0.5\n"), &ctx(CgroupVersion::V1)).unwrap();
        assert_eq!(p1.writes[1].file, "cpu.cfs_quota_us");
        assert_eq!(p1.writes[1].value, "50000");
    }

    #[test]
    fn quota_rounds_to_the_microsecond_and_has_bounds() {
        assert_eq!(cpu_quota_us(0.01), Ok(1000));
        assert_eq!(cpu_quota_us(0.333333), Ok(33333));
        assert_eq!(cpu_quota_us(2.0), Ok(200_000));
        assert_eq!(
            cpu_quota_us(1e9),
            Err(CgroupPlanError::CpuQuotaTooLarge { cpus: 1e9 })
        );
        let err = plan(&spec("[limits]\ncpus = 1e12\n"), &ctx(CgroupVersion::V2)).unwrap_err();
        assert!(err.to_string().contains("at most 175921860 cores"), "{err}");
    }

    #[test]
    fn no_limits_still_make_a_cgroup() {
        let p2 = plan(&spec(""), &ctx(CgroupVersion::V2)).unwrap();
        assert!(p2.writes.is_empty());
        assert!(p2.controllers.is_empty());
        assert_eq!(p2.devices.rules.len(), 9);
        assert_eq!(
            p2.describe().last().unwrap(),
            "attach a BPF device program: deny a, allow c 1:3 rwm, allow c 1:5 rwm, \
             allow c 1:7 rwm, allow c 1:8 rwm, allow c 1:9 rwm, allow c 5:0 rwm, \
             allow c 5:2 rwm, allow c 136:* rwm"
        );
        let p1 = plan(&spec(""), &ctx(CgroupVersion::V1)).unwrap();
        assert_eq!(p1.writes.len(), 9);
        assert_eq!(p1.controllers, ["devices"]);
    }

    #[test]
    fn cpuset_with_mems_from_the_parent() {
        let s = spec("[limits]\ncpuset = \"1,0,4-5\"\n");
        let p2 = plan(&s, &ctx(CgroupVersion::V2)).unwrap();
        assert_eq!(writes(&p2), [(None, "cpuset.cpus", "0-1,4-5", true)]);
        assert_eq!(p2.controllers, ["cpuset"]);
        assert_eq!(
            p2.describe()[1],
            "copy cpuset.mems from the parent's cpuset.mems.effective (stockade/ and the \
             environment's folder, when empty)"
        );
        let p1 = plan(&s, &ctx(CgroupVersion::V1)).unwrap();
        assert_eq!(
            writes(&p1)[0],
            (Some("cpuset"), "cpuset.cpus", "0-1,4-5", true)
        );
        let copied: Vec<(&str, &str)> = p1
            .copies
            .iter()
            .map(|c| (c.file.as_str(), c.from.as_str()))
            .collect();
        assert_eq!(
            copied,
            [
                ("cpuset.cpus", "cpuset.cpus"),
                ("cpuset.mems", "cpuset.mems")
            ]
        );
        assert_eq!(p1.controllers, ["cpuset", "devices"]);
    }

    #[test]
    fn memory_only_on_v2() {
        let p = plan(
            &spec("[limits]\nmemory = 1048576\n"),
            &ctx(CgroupVersion::V2),
        )
        .unwrap();
        assert_eq!(
            p.describe()[1..3],
            [
                "write memory.max = 1048576",
                "write memory.swap.max = 0 [skipped if the kernel does not account swap]"
            ]
        );
        assert_eq!(p.controllers, ["memory"]);
    }
}
