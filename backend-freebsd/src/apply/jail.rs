//! The planned jail parameters in the form jail_set(2) reads them.
//!
//! The plan spells parameters as jail(8) does (`vnet=new`, `allow.set_hostname=false`);
//! the kernel reads binary values (kern_jail_set() in sys/kern/kern_jail.c):
//! - the jailsys parameters (`vnet`, `sysvmsg`, `sysvsem`, `sysvshm`, `ip4`, `ip6`,
//!   `host`) are a C `int`: `disable` 0, `new` 1, `inherit` 2;
//! - boolean parameters are flags: the kernel sets one when its name is present and clears
//!   it when the `no` name is (`allow.noset_hostname`), ignoring the value — so `false`
//!   must become the `no` name, never `name=0`, which would *set* the flag;
//! - numbers are a C `int`; strings are NUL-terminated.
//!
//! `name` and `path` are carried apart (the jail crate takes them so), and `persist` is
//! implied: every stockade jail persists until `delete`.

use crate::kernel::{JailArg, JailParams};
use crate::plan::jail::{JailParam, JailValue};
use crate::plan::FreebsdPlan;

/// The jailsys parameters: an `int` that takes `disable`, `new` or `inherit`.
pub const JAILSYS: &[&str] = &[
    "host", "ip4", "ip6", "vnet", "sysvmsg", "sysvsem", "sysvshm",
];

/// A planned parameter that has no jail_set(2) form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("jail parameter {name}={value}: {reason}")]
pub struct ParamError {
    /// The parameter.
    pub name: String,
    /// Its planned value.
    pub value: String,
    /// Why it cannot be passed.
    pub reason: &'static str,
}

/// The jail_set(2) form of a plan's jail parameters.
pub fn params(plan: &FreebsdPlan) -> Result<JailParams, ParamError> {
    let mut args = Vec::new();
    let mut name = None;
    let mut path = None;
    for p in &plan.jail {
        let err = |reason| ParamError {
            name: p.name.to_string(),
            value: p.value.to_string(),
            reason,
        };
        match (p.name, &p.value) {
            ("name", JailValue::Str(s)) => name = Some(s.clone()),
            ("path", JailValue::Str(s)) => path = Some(s.into()),
            ("persist", JailValue::Bool(true)) => {}
            ("persist", _) => return Err(err("stockade jails always persist until delete")),
            ("name" | "path", _) => return Err(err("must be a string")),
            _ => args.push(arg(p).map_err(err)?),
        }
    }
    Ok(JailParams {
        name: name.unwrap_or_else(|| plan.name.clone()),
        path: path.unwrap_or_else(|| plan.jail_path.clone()),
        args,
    })
}

fn arg(p: &JailParam) -> Result<(String, JailArg), &'static str> {
    let name = p.name.to_string();
    Ok(match &p.value {
        JailValue::Str(s) if JAILSYS.contains(&p.name) => {
            let n = match s.as_str() {
                "disable" => 0,
                "new" => 1,
                "inherit" => 2,
                _ => return Err("a jailsys parameter takes disable, new or inherit"),
            };
            (name, JailArg::Int(n))
        }
        JailValue::Str(s) if s.contains('\0') => return Err("a NUL byte cannot be passed"),
        JailValue::Str(s) => (name, JailArg::Str(s.clone())),
        JailValue::Int(n) => (
            name,
            JailArg::Int(i32::try_from(*n).map_err(|_| "out of the range of a C int")?),
        ),
        JailValue::Bool(true) => (name, JailArg::Flag),
        JailValue::Bool(false) => (no_name(p.name), JailArg::Flag),
    })
}

/// The negated name of a boolean parameter: `no` before its last component
/// (`allow.mount.tmpfs` → `allow.mount.notmpfs`), as kern_jail.c and jail(8) spell it.
pub fn no_name(name: &str) -> String {
    match name.rfind('.') {
        Some(dot) => format!("{}.no{}", &name[..dot], &name[dot + 1..]),
        None => format!("no{name}"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use stockade_core::backend::{CgroupVersion, PlanContext};
    use stockade_core::Spec;

    use super::*;

    fn plan(extra: &str) -> FreebsdPlan {
        let text = format!(
            "name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n{extra}"
        );
        let spec = Spec::from_toml(&text, Some(Path::new("/e/web.toml"))).expect("spec");
        crate::plan::plan(&spec, &PlanContext::new("/run/s", "web", CgroupVersion::V2))
            .expect("plan")
    }

    fn render(p: &JailParams) -> Vec<String> {
        p.args
            .iter()
            .map(|(n, v)| match v {
                JailArg::Flag => n.clone(),
                v => format!("{n}={v}"),
            })
            .collect()
    }

    #[test]
    fn defaults_become_ints_flags_and_no_names() {
        let p = params(&plan("")).expect("params");
        assert_eq!(p.name, "web");
        assert_eq!(p.path, Path::new("/run/s/web/root"));
        assert_eq!(
            render(&p),
            [
                "host.hostname=\"web\"",
                "enforce_statfs=2",
                "securelevel=2",
                "children.max=0",
                "sysvmsg=1",
                "sysvsem=1",
                "sysvshm=1",
                "devfs_ruleset=4",
                "vnet=1",
                "allow.noreserved_ports",
                "allow.noset_hostname",
            ]
        );
    }

    #[test]
    fn host_network_inherits_and_grants_are_flags() {
        let p = params(&plan(
            "[network]\nmode = \"host\"\n[privileges]\nallow = [\"raw_sockets\", \"mount\"]\n",
        ))
        .expect("params");
        let r = render(&p);
        assert!(r.contains(&"ip4=2".to_string()), "{r:?}");
        assert!(r.contains(&"ip6=2".to_string()), "{r:?}");
        assert!(r.contains(&"allow.raw_sockets".to_string()), "{r:?}");
        assert!(r.contains(&"allow.mount.tmpfs".to_string()), "{r:?}");
        assert!(!r.iter().any(|a| a.starts_with("vnet")), "{r:?}");
    }

    #[test]
    fn no_names_negate_the_last_component() {
        assert_eq!(no_name("persist"), "nopersist");
        assert_eq!(no_name("allow.chflags"), "allow.nochflags");
        assert_eq!(no_name("allow.mount.tmpfs"), "allow.mount.notmpfs");
    }

    #[test]
    fn values_without_a_kernel_form_are_refused() {
        let mut p = plan("");
        p.jail.push(JailParam {
            name: "vnet",
            value: JailValue::Str("sometimes".into()),
        });
        let err = params(&p).expect_err("bad jailsys");
        assert_eq!(err.name, "vnet");
        p.jail.pop();
        p.jail.push(JailParam {
            name: "securelevel",
            value: JailValue::Int(1 << 40),
        });
        assert!(params(&p).is_err());
        p.jail.pop();
        p.jail[3] = JailParam {
            name: "persist",
            value: JailValue::Bool(false),
        };
        assert!(params(&p)
            .expect_err("nopersist")
            .to_string()
            .contains("always persist"));
    }
}
