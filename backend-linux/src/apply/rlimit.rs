//! Resource limits (setrlimit(2), getrlimit(2)): checking, before anything is made, that
//! the environment's process will be able to set the planned ones, and setting them in
//! the child.
//!
//! A process may lower its limits freely and raise a soft limit up to its hard limit;
//! raising a *hard* limit needs `CAP_SYS_RESOURCE`, and `RLIMIT_NOFILE` can never exceed
//! `fs.nr_open` (proc(5) `/proc/sys/fs/nr_open`). The environment's process inherits
//! stockade's limits and capabilities, so both are checked here, in the creator, where the
//! error can name the spec key and say what to do — instead of a bare `EPERM` from the
//! child after the environment was half made.

use std::fs;
use std::io;

use nix::sys::resource::Resource;

use crate::plan::rlimit::Rlimit;

/// Why a planned rlimit cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    /// The plan names a resource this module does not know.
    #[error("unknown resource limit {0}")]
    Unknown(String),
    /// Raising the hard limit needs CAP_SYS_RESOURCE, which stockade lacks.
    #[error(
        "{key} = {asked} is above the hard limit stockade runs with ({hard}), and stockade \
         lacks CAP_SYS_RESOURCE, which raising a hard limit needs: lower {key} to at most \
         {hard}, or raise the hard limit of the shell or service that starts stockade \
         (`ulimit -Hn {asked}` as root, `LimitNOFILE=` for a systemd unit)"
    )]
    AboveHard {
        /// The spec key (`limits.open_files`).
        key: &'static str,
        /// The value asked for.
        asked: u64,
        /// The current hard limit.
        hard: u64,
    },
    /// Above the kernel's ceiling for open files.
    #[error(
        "{key} = {asked} is above the kernel's ceiling on open files per process \
         (fs.nr_open = {ceiling}): lower {key}, or raise the ceiling with \
         `sysctl fs.nr_open={asked}`"
    )]
    AboveCeiling {
        /// The spec key.
        key: &'static str,
        /// The value asked for.
        asked: u64,
        /// `fs.nr_open`.
        ceiling: u64,
    },
    /// getrlimit or /proc failed.
    #[error("{what}: {source}")]
    Io {
        /// What was read.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

/// The kernel resource and spec key of a planned rlimit.
pub fn resource(name: &str) -> Result<(Resource, &'static str), RlimitError> {
    Ok(match name {
        "RLIMIT_NOFILE" => (Resource::RLIMIT_NOFILE, "limits.open_files"),
        "RLIMIT_NPROC" => (Resource::RLIMIT_NPROC, "RLIMIT_NPROC"),
        "RLIMIT_CORE" => (Resource::RLIMIT_CORE, "RLIMIT_CORE"),
        other => return Err(RlimitError::Unknown(other.to_string())),
    })
}

/// What [`check`] needs to know about this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// The hard limit of the resource.
    pub hard: u64,
    /// Whether CAP_SYS_RESOURCE is effective.
    pub can_raise: bool,
    /// `fs.nr_open` (for `RLIMIT_NOFILE`).
    pub nr_open: Option<u64>,
}

/// Whether `limit` can be set by a process in the state `now`.
pub fn check(limit: &Rlimit, now: Current) -> Result<(), RlimitError> {
    let (resource, key) = resource(&limit.resource)?;
    if resource == Resource::RLIMIT_NOFILE {
        if let Some(ceiling) = now.nr_open.filter(|c| limit.hard > *c) {
            return Err(RlimitError::AboveCeiling {
                key,
                asked: limit.hard,
                ceiling,
            });
        }
    }
    if limit.hard > now.hard && !now.can_raise {
        return Err(RlimitError::AboveHard {
            key,
            asked: limit.hard,
            hard: now.hard,
        });
    }
    Ok(())
}

/// Checks every planned rlimit against this process's limits and capabilities.
pub fn preflight(limits: &[Rlimit]) -> Result<(), RlimitError> {
    for limit in limits {
        let (resource, _) = resource(&limit.resource)?;
        let (_, hard) = nix::sys::resource::getrlimit(resource).map_err(|e| RlimitError::Io {
            what: format!("getrlimit {}", limit.resource),
            source: e.into(),
        })?;
        let can_raise = caps::has_cap(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_RESOURCE,
        )
        .map_err(|e| RlimitError::Io {
            what: "capget".into(),
            source: io::Error::other(e.to_string()),
        })?;
        let nr_open = fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|t| t.trim().parse().ok());
        check(
            limit,
            Current {
                hard,
                can_raise,
                nr_open,
            },
        )?;
    }
    Ok(())
}

/// Sets one planned rlimit (in the child). A refusal is reported like [`preflight`] would
/// have, with the limit in force then.
pub fn set(limit: &Rlimit) -> Result<(), RlimitError> {
    let (resource, key) = resource(&limit.resource)?;
    nix::sys::resource::setrlimit(resource, limit.soft, limit.hard).map_err(|e| {
        match nix::sys::resource::getrlimit(resource) {
            Ok((_, hard)) if e == nix::errno::Errno::EPERM => RlimitError::AboveHard {
                key,
                asked: limit.hard,
                hard,
            },
            _ => RlimitError::Io {
                what: format!(
                    "setrlimit {} soft={} hard={} ({key})",
                    limit.resource, limit.soft, limit.hard
                ),
                source: e.into(),
            },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nofile(n: u64) -> Rlimit {
        Rlimit {
            resource: "RLIMIT_NOFILE".into(),
            soft: n,
            hard: n,
        }
    }

    const HERE: Current = Current {
        hard: 20000,
        can_raise: false,
        nr_open: Some(1 << 20),
    };

    #[test]
    fn lowering_or_equal_is_fine() {
        check(&nofile(64), HERE).unwrap();
        check(&nofile(20000), HERE).unwrap();
    }

    #[test]
    fn raising_the_hard_limit_without_cap_names_key_and_limit() {
        let err = check(&nofile(20001), HERE).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("limits.open_files = 20001"), "{text}");
        assert!(
            text.contains("hard limit stockade runs with (20000)"),
            "{text}"
        );
        assert!(text.contains("CAP_SYS_RESOURCE"), "{text}");
        let root = Current {
            can_raise: true,
            ..HERE
        };
        check(&nofile(20001), root).unwrap();
    }

    #[test]
    fn above_nr_open_fails_even_with_the_capability() {
        let root = Current {
            can_raise: true,
            ..HERE
        };
        let err = check(&nofile((1 << 20) + 1), root).unwrap_err();
        assert!(matches!(err, RlimitError::AboveCeiling { .. }), "{err:?}");
        assert!(err.to_string().contains("fs.nr_open = 1048576"), "{err}");
    }

    #[test]
    fn unknown_resource() {
        let r = Rlimit {
            resource: "RLIMIT_BOGUS".into(),
            soft: 1,
            hard: 1,
        };
        assert!(matches!(check(&r, HERE), Err(RlimitError::Unknown(_))));
    }
}
