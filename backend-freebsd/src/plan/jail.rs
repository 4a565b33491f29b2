//! The jail's kernel parameters, as jail_set(2) takes them and jail(8) spells them.
//!
//! jail_set(2) creates the jail from a list of name/value pairs; the names here are the
//! kernel's (`security.jail.param`), which jail(8) and jail.conf(5) use unchanged. The list
//! is built in one fixed order so that two plans of one spec print identically.
//!
//! Choices:
//! - `securelevel = 2` ("highly secure", see security(7)) rather than the host's
//!   inherited level: jail root cannot clear `schg`/`sappnd` flags, load kernel modules or
//!   write to mounted disks, while a vnet jail can still manage its own firewall rules
//!   (level 3 would forbid that).
//! - `enforce_statfs = 2` (the jail sees only mounts below its root), dropped to 1 when the
//!   `mount` privilege is granted, because jail(8) ignores `allow.mount` above 1.
//! - `children.max = 0`: no nested jails.
//! - `sysvmsg/sysvsem/sysvshm = new`: own System V IPC objects (Linux: IPC namespace).
//! - `devfs_ruleset = 4`: the ruleset enforced on any devfs the jail itself mounts.
//! - network `none` and `private` set `vnet = new` (needs a VIMAGE kernel); `host` sets
//!   `ip4 = inherit` and `ip6 = inherit`.
//! - `allow.*`: every parameter that [`privilege_mapping`] lists for a granted privilege is
//!   set true. The kernel gives a new jail `allow.set_hostname` and `allow.reserved_ports`
//!   unless told otherwise (`JAIL_DEFAULT_ALLOW` in sys/kern/kern_jail.c), so those two are
//!   set false when not granted, to keep stockade's "no extra privileges" default. Other
//!   `allow.*` parameters default to false and are left out: `allow.mount.<fs>` exists only
//!   while that file system's module is loaded, so naming it needlessly could fail.
//!
//! Spec names become jail names, which may not contain `.` (it separates parent and child
//! jails) or be all digits (jail(8) reads those as a jail id); such names are refused here.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use stockade_core::portability::{privilege_mapping, Support, PRIVILEGES};
use stockade_core::spec::{NetworkMode, Privilege, Spec};

use super::mount::JAIL_DEVFS_RULESET;

/// The securelevel every jail gets (see the module documentation).
pub const SECURELEVEL: i64 = 2;

/// `allow.*` parameters that a new jail has unless they are set false
/// (`JAIL_DEFAULT_ALLOW` in sys/kern/kern_jail.c, less the ones no privilege maps to).
pub const KERNEL_DEFAULT_ALLOW: &[&str] = &["allow.set_hostname", "allow.reserved_ports"];

/// A jail parameter's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum JailValue {
    /// A string, or a jailsys keyword (`new`, `inherit`) as jail(8) spells it.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean; false is written `name=false`, never as a `noname` negation.
    Bool(bool),
}

impl fmt::Display for JailValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JailValue::Str(s) if s.is_empty() || s.contains(char::is_whitespace) => {
                write!(f, "{s:?}")
            }
            JailValue::Str(s) => f.write_str(s),
            JailValue::Int(n) => write!(f, "{n}"),
            JailValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One jail parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JailParam {
    /// The name, as jail(8) spells it (`host.hostname`, `allow.raw_sockets`).
    pub name: &'static str,
    /// The value.
    pub value: JailValue,
}

impl JailParam {
    pub(crate) fn new(name: &'static str, value: JailValue) -> JailParam {
        JailParam { name, value }
    }
}

impl fmt::Display for JailParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// Why a spec has no jail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JailPlanError {
    /// A granted privilege that jails cannot provide.
    #[error(
        "privileges.allow \"{}\" is unsupported on FreeBSD: {reason} \
         (remove it from privileges.allow to run this environment in a jail)",
        .privilege.name()
    )]
    UnsupportedPrivilege {
        /// The privilege.
        privilege: Privilege,
        /// The portability table's reason.
        reason: &'static str,
    },
    /// The environment's name cannot name a jail.
    #[error("name {name:?} cannot name a FreeBSD jail: {reason}")]
    Name {
        /// The name.
        name: String,
        /// Why, and what to use instead.
        reason: &'static str,
    },
}

/// Checks that `name` can name a jail (and so an rctl subject).
pub fn check_name(name: &str) -> Result<(), JailPlanError> {
    let reason = if name.contains('.') {
        "'.' separates parent and child jails in jail names; use '-' or '_' instead"
    } else if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        "an all-digit name reads as a jail id; add a letter"
    } else {
        return Ok(());
    };
    Err(JailPlanError::Name {
        name: name.to_string(),
        reason,
    })
}

/// Fails on the first granted privilege (in file order) that FreeBSD cannot provide.
pub fn check_privileges(spec: &Spec) -> Result<(), JailPlanError> {
    for &privilege in &spec.privileges.allow {
        if let Support::Unsupported(reason) = privilege_mapping(privilege).freebsd {
            return Err(JailPlanError::UnsupportedPrivilege { privilege, reason });
        }
    }
    Ok(())
}

/// The jail's parameters, in jail_set(2) order.
pub fn params(spec: &Spec, jail_path: &Path) -> Result<Vec<JailParam>, JailPlanError> {
    check_name(&spec.name)?;
    check_privileges(spec)?;
    let granted = &spec.privileges.allow;
    let enforce_statfs = if granted.contains(&Privilege::Mount) {
        1
    } else {
        2
    };
    let new = || JailValue::Str("new".to_string());
    let inherit = || JailValue::Str("inherit".to_string());

    let mut params = vec![
        JailParam::new("name", JailValue::Str(spec.name.clone())),
        JailParam::new("path", JailValue::Str(jail_path.display().to_string())),
        JailParam::new("host.hostname", JailValue::Str(spec.hostname.clone())),
        JailParam::new("persist", JailValue::Bool(true)),
        JailParam::new("enforce_statfs", JailValue::Int(enforce_statfs)),
        JailParam::new("securelevel", JailValue::Int(SECURELEVEL)),
        JailParam::new("children.max", JailValue::Int(0)),
        JailParam::new("sysvmsg", new()),
        JailParam::new("sysvsem", new()),
        JailParam::new("sysvshm", new()),
        JailParam::new(
            "devfs_ruleset",
            JailValue::Int(i64::from(JAIL_DEVFS_RULESET)),
        ),
    ];
    match spec.network.mode {
        NetworkMode::None | NetworkMode::Private => params.push(JailParam::new("vnet", new())),
        NetworkMode::Host => {
            params.push(JailParam::new("ip4", inherit()));
            params.push(JailParam::new("ip6", inherit()));
        }
    }
    // The core table's order, whatever the spec's order: one spec, one printout.
    for mapping in PRIVILEGES {
        let on = granted.contains(&mapping.privilege);
        for &name in mapping.jail_params {
            if params.iter().any(|p| p.name == name) {
                continue;
            }
            if on {
                params.push(JailParam::new(name, JailValue::Bool(true)));
            } else if KERNEL_DEFAULT_ALLOW.contains(&name) {
                params.push(JailParam::new(name, JailValue::Bool(false)));
            }
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: &str) -> Spec {
        let text = format!(
            "name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n{extra}"
        );
        Spec::from_toml(&text, Some(Path::new("/etc/stockade/web.toml"))).expect("valid spec")
    }

    fn render(params: &[JailParam]) -> Vec<String> {
        params.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn defaults_are_locked_down() {
        let p = params(&spec(""), Path::new("/j")).expect("plan");
        assert_eq!(
            render(&p),
            [
                "name=web",
                "path=/j",
                "host.hostname=web",
                "persist=true",
                "enforce_statfs=2",
                "securelevel=2",
                "children.max=0",
                "sysvmsg=new",
                "sysvsem=new",
                "sysvshm=new",
                "devfs_ruleset=4",
                "vnet=new",
                "allow.reserved_ports=false",
                "allow.set_hostname=false",
            ]
        );
    }

    #[test]
    fn host_network_inherits_addresses() {
        let p = params(&spec("[network]\nmode = \"host\"\n"), Path::new("/j")).expect("plan");
        let r = render(&p);
        assert!(r.contains(&"ip4=inherit".to_string()));
        assert!(r.contains(&"ip6=inherit".to_string()));
        assert!(!r.iter().any(|l| l.starts_with("vnet")));
    }

    #[test]
    fn granted_privileges_come_from_the_core_table() {
        let p = params(
            &spec("[privileges]\nallow = [\"set_hostname\", \"net_bind_service\", \"chflags\"]\n"),
            Path::new("/j"),
        )
        .expect("plan");
        let allow: Vec<String> = render(&p)
            .into_iter()
            .filter(|l| l.starts_with("allow."))
            .collect();
        assert_eq!(
            allow,
            [
                "allow.reserved_ports=true",
                "allow.set_hostname=true",
                "allow.chflags=true"
            ]
        );
    }

    #[test]
    fn mount_lowers_enforce_statfs_once() {
        let p = params(
            &spec("[privileges]\nallow = [\"mount\"]\n"),
            Path::new("/j"),
        )
        .expect("plan");
        let r = render(&p);
        assert_eq!(
            r.iter().filter(|l| l.starts_with("enforce_statfs")).count(),
            1
        );
        assert!(r.contains(&"enforce_statfs=1".to_string()));
        for name in privilege_mapping(Privilege::Mount).jail_params {
            assert!(r.contains(&format!("{name}=true")), "{name} in {r:?}");
        }
    }

    #[test]
    fn unsupported_privileges_fail_with_the_table_reason() {
        for (name, p) in [
            ("mknod", Privilege::Mknod),
            ("sys_nice", Privilege::SysNice),
        ] {
            let s = spec(&format!("[privileges]\nallow = [\"chown\", \"{name}\"]\n"));
            let err = params(&s, Path::new("/j")).expect_err("unsupported");
            let Support::Unsupported(reason) = privilege_mapping(p).freebsd else {
                panic!("{name} is unsupported on FreeBSD in the core table");
            };
            assert_eq!(
                err,
                JailPlanError::UnsupportedPrivilege {
                    privilege: p,
                    reason
                }
            );
            let text = err.to_string();
            assert!(text.contains(&format!("\"{name}\"")), "{text}");
            assert!(text.contains(reason), "{text}");
        }
    }

    #[test]
    fn names_that_are_not_jail_names_are_refused() {
        assert!(check_name("web").is_ok());
        assert!(check_name("web-1_a").is_ok());
        assert!(check_name("1web").is_ok());
        for bad in ["a.b", "123"] {
            let err = check_name(bad).expect_err(bad);
            assert!(matches!(err, JailPlanError::Name { .. }), "{err}");
        }
    }

    #[test]
    fn values_print_as_jail_conf_would_read_them() {
        assert_eq!(JailValue::Str("a b".into()).to_string(), "\"a b\"");
        assert_eq!(JailValue::Int(-1).to_string(), "-1");
        assert_eq!(JailValue::Bool(false).to_string(), "false");
    }
}
