//! Rootless mode: the user namespace (user_namespaces(7)) that lets a caller without root
//! run an environment, and what rootless cannot do.
//!
//! stockade picks rootless by itself when it runs without root (effective uid not 0). The
//! first process is then cloned into a new user namespace as well, owned by the caller, in
//! which the caller's uid and gid are 0: root inside, the caller outside. The other
//! namespaces are owned by it, so mounts, the host name and `lo` work as under root.
//!
//! # The mapping
//! - Always: inside 0 → the caller's uid (gid), one id.
//! - When `/etc/subuid` (`/etc/subgid`) gives the caller a subordinate range and
//!   `newuidmap` (`newgidmap`) is installed (the setuid helpers of the `uidmap` package):
//!   inside 1.. → that range, so `process.user = "1000:1000"` is a real, distinct id. The
//!   helpers check the ranges against the files; stockade never writes more than them.
//! - Otherwise the single mapping is written directly to `/proc/PID/uid_map`, which an
//!   unprivileged process may do for its own ids only, after writing `deny` to
//!   `/proc/PID/setgroups` (so the environment can never drop a supplementary group the
//!   caller was denied by: CVE-2014-8989).
//!
//! A `process.user` whose ids are not mapped is refused here, before anything is made.
//!
//! # What rootless refuses
//! - `network.mode = "private"`: the host end of the veth pair lives in the host's network
//!   namespace, where the caller has no CAP_NET_ADMIN. `none` and `host` work.
//! - cgroup limits without a delegated cgroup: refused at create, never dropped (see
//!   `apply::userns`). The device policy is not planned: a user namespace cannot make
//!   device nodes, and the /dev nodes it binds keep the host's permissions.
//! - `privileges.allow = ["mknod"]`: device nodes cannot be made in a user namespace.

use std::fmt;

use serde::Serialize;
use stockade_core::spec::{NetworkMode, Privilege, Spec, User};

use super::cgroup::CgroupPlan;

/// A subordinate id range from `/etc/subuid` or `/etc/subgid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubRange {
    /// The first host id.
    pub start: u32,
    /// How many.
    pub count: u32,
}

/// The host facts rootless planning needs (read by `LinuxPlanOptions::detect`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootlessHost {
    /// The caller's uid.
    pub uid: u32,
    /// The caller's gid.
    pub gid: u32,
    /// The caller's `/etc/subuid` range, when it has one and `newuidmap` is installed.
    pub subuid: Option<SubRange>,
    /// The caller's `/etc/subgid` range, when it has one and `newgidmap` is installed.
    pub subgid: Option<SubRange>,
}

/// One line of a uid_map or gid_map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdMap {
    /// The first id inside.
    pub inside: u32,
    /// The first id outside (in the caller's namespace).
    pub outside: u32,
    /// How many.
    pub count: u32,
}

impl fmt::Display for IdMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.inside, self.outside, self.count)
    }
}

/// How one map is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapWriter {
    /// Directly to `/proc/PID/{uid,gid}_map` (the caller's own id only).
    Direct,
    /// Through the setuid helper `newuidmap` / `newgidmap`.
    Helper,
    /// Directly, by a creator that is root on the host (an OCI config.json's
    /// `linux.uidMappings`): any host ids, and `setgroups` stays allowed.
    Root,
}

/// The user namespace of a rootless environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserNsPlan {
    /// uid_map lines.
    pub uid_map: Vec<IdMap>,
    /// Who writes the uid map.
    pub uid_writer: MapWriter,
    /// gid_map lines.
    pub gid_map: Vec<IdMap>,
    /// Who writes the gid map; `Direct` implies `setgroups` = `deny` first.
    pub gid_writer: MapWriter,
}

impl UserNsPlan {
    /// True when `/proc/PID/setgroups` gets `deny` (a gid map written directly).
    pub fn denies_setgroups(&self) -> bool {
        self.gid_writer == MapWriter::Direct
    }

    /// True for rootless mode's namespace (the caller is not root on the host): its
    /// cgroups are the caller's delegated ones and it has no device policy. False for the
    /// maps root writes for an OCI container, which get both as without a user namespace.
    pub fn rootless(&self) -> bool {
        self.uid_writer != MapWriter::Root || self.gid_writer != MapWriter::Root
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        let lines = |maps: &[IdMap]| -> String {
            maps.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let how = |w: MapWriter, helper: &str, file: &str| match w {
            MapWriter::Direct | MapWriter::Root => format!("write /proc/PID/{file}"),
            MapWriter::Helper => format!("run {helper} PID"),
        };
        let mut out = Vec::new();
        if self.denies_setgroups() {
            out.push("write deny to /proc/PID/setgroups".to_string());
        }
        out.push(format!(
            "{}: {}",
            how(self.uid_writer, "newuidmap", "uid_map"),
            lines(&self.uid_map)
        ));
        out.push(format!(
            "{}: {}",
            how(self.gid_writer, "newgidmap", "gid_map"),
            lines(&self.gid_map)
        ));
        out
    }

    /// How many ids inside the uid map covers (they start at 0).
    fn uids(&self) -> u64 {
        self.uid_map.iter().map(|m| u64::from(m.count)).sum()
    }

    fn gids(&self) -> u64 {
        self.gid_map.iter().map(|m| u64::from(m.count)).sum()
    }
}

/// What rootless mode cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootlessPlanError {
    /// `network.mode = "private"`.
    #[error(
        "network.mode = \"private\" needs root: the host end of the veth pair is made in the \
         host's network namespace, where an unprivileged user has no CAP_NET_ADMIN. Use \
         network.mode = \"none\" or \"host\", or run stockade as root"
    )]
    PrivateNetwork,
    /// `process.user` outside the mapped ids.
    #[error(
        "process.user = \"{uid}:{gid}\" is not mapped in the rootless user namespace, which \
         maps ids 0..{uids} (uids) and 0..{gids} (gids): only your own uid and gid (as 0) \
         unless /etc/subuid and /etc/subgid give you a range (as root: usermod \
         --add-subuids 100000-165535 --add-subgids 100000-165535 USER) and newuidmap and \
         newgidmap are installed (package uidmap)"
    )]
    UserNotMapped {
        /// The spec's uid.
        uid: u32,
        /// The spec's gid.
        gid: u32,
        /// Mapped uids.
        uids: u64,
        /// Mapped gids.
        gids: u64,
    },
    /// A privilege no user namespace grants.
    #[error(
        "privileges.allow = [\"{0}\"] is impossible without root: a user namespace cannot \
         make device nodes"
    )]
    Privilege(&'static str),
}

/// Plans the user namespace of a rootless environment and refuses what rootless cannot do.
pub fn plan(spec: &Spec, host: &RootlessHost) -> Result<UserNsPlan, RootlessPlanError> {
    if spec.network.mode == NetworkMode::Private {
        return Err(RootlessPlanError::PrivateNetwork);
    }
    if spec.privileges.allow.contains(&Privilege::Mknod) {
        return Err(RootlessPlanError::Privilege(Privilege::Mknod.name()));
    }
    let maps = |own: u32, sub: Option<SubRange>| {
        let mut maps = vec![IdMap {
            inside: 0,
            outside: own,
            count: 1,
        }];
        if let Some(r) = sub.filter(|r| r.count > 0) {
            maps.push(IdMap {
                inside: 1,
                outside: r.start,
                count: r.count,
            });
        }
        let writer = if maps.len() > 1 {
            MapWriter::Helper
        } else {
            MapWriter::Direct
        };
        (maps, writer)
    };
    let (uid_map, uid_writer) = maps(host.uid, host.subuid);
    let (gid_map, gid_writer) = maps(host.gid, host.subgid);
    let plan = UserNsPlan {
        uid_map,
        uid_writer,
        gid_map,
        gid_writer,
    };
    if let User::Id { uid, gid } = spec.process.user {
        if u64::from(uid) >= plan.uids() || u64::from(gid) >= plan.gids() {
            return Err(RootlessPlanError::UserNotMapped {
                uid,
                gid,
                uids: plan.uids(),
                gids: plan.gids(),
            });
        }
    }
    Ok(plan)
}

/// Drops the device policy from a rootless cgroup plan (see the module).
pub fn adjust_cgroup(cgroup: &mut CgroupPlan) {
    cgroup
        .writes
        .retain(|w| w.controller.as_deref() != Some("devices"));
    cgroup.controllers.retain(|c| c != "devices");
    cgroup.devices.rules.clear();
}

/// The range of `user` (a name) or `uid` in `/etc/subuid`-format `text`: the first line
/// `NAME:START:COUNT` or `UID:START:COUNT` that names them. Malformed lines are skipped,
/// as shadow's own tools do.
pub fn parse_subid(text: &str, user: Option<&str>, uid: u32) -> Option<SubRange> {
    text.lines().find_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let mut parts = line.split(':');
        let who = parts.next()?;
        let start = parts.next()?.trim().parse().ok()?;
        let count = parts.next()?.trim().parse().ok()?;
        let named = Some(who) == user || who.parse::<u32>().ok() == Some(uid);
        (named && parts.next().is_none()).then_some(SubRange { start, count })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    fn host(sub: bool) -> RootlessHost {
        RootlessHost {
            uid: 1000,
            gid: 1000,
            subuid: sub.then_some(SubRange {
                start: 100000,
                count: 65536,
            }),
            subgid: sub.then_some(SubRange {
                start: 200000,
                count: 65536,
            }),
        }
    }

    #[test]
    fn single_mapping_maps_the_caller_to_root() {
        let p = plan(&spec(""), &host(false)).unwrap();
        assert_eq!(
            p.uid_map,
            [IdMap {
                inside: 0,
                outside: 1000,
                count: 1
            }]
        );
        assert_eq!(p.uid_writer, MapWriter::Direct);
        assert!(p.denies_setgroups());
        assert_eq!(
            p.describe(),
            [
                "write deny to /proc/PID/setgroups",
                "write /proc/PID/uid_map: 0 1000 1",
                "write /proc/PID/gid_map: 0 1000 1",
            ]
        );
    }

    #[test]
    fn subordinate_ranges_go_through_the_helpers() {
        let p = plan(&spec(""), &host(true)).unwrap();
        assert_eq!(p.uid_map.len(), 2);
        assert_eq!(p.uid_map[1].to_string(), "1 100000 65536");
        assert_eq!(p.gid_map[1].to_string(), "1 200000 65536");
        assert!(!p.denies_setgroups());
        assert_eq!(
            p.describe()[0],
            "run newuidmap PID: 0 1000 1, 1 100000 65536"
        );
    }

    #[test]
    fn a_user_outside_the_map_is_refused() {
        let s = crate::plan::tests::spec_toml(
            "name = \"web\"\n[root]\npath = \"/r\"\n[process]\ncommand = [\"/bin/sh\"]\nuser = \"1000:1000\"\n",
        );
        let err = plan(&s, &host(false)).unwrap_err();
        assert!(err.to_string().contains("/etc/subuid"), "{err}");
        assert!(plan(&s, &host(true)).is_ok());
    }

    #[test]
    fn private_network_and_mknod_are_refused() {
        let s = spec("[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n");
        assert_eq!(
            plan(&s, &host(true)),
            Err(RootlessPlanError::PrivateNetwork)
        );
        assert!(plan(&s, &host(true))
            .unwrap_err()
            .to_string()
            .contains("needs root"));
        let s = spec("[privileges]\nallow = [\"mknod\"]\n");
        assert!(matches!(
            plan(&s, &host(true)),
            Err(RootlessPlanError::Privilege("mknod"))
        ));
        assert!(plan(&spec("[network]\nmode = \"host\"\n"), &host(false)).is_ok());
    }

    #[test]
    fn subid_lines_by_name_or_uid() {
        let text = "# comment\nalice:100000:65536\nbad line\n1001:300000:10\nbob:x:1\n";
        assert_eq!(
            parse_subid(text, Some("alice"), 1000),
            Some(SubRange {
                start: 100000,
                count: 65536
            })
        );
        assert_eq!(
            parse_subid(text, Some("carol"), 1001),
            Some(SubRange {
                start: 300000,
                count: 10
            })
        );
        assert_eq!(parse_subid(text, Some("bob"), 5), None);
        assert_eq!(parse_subid("", None, 0), None);
    }
}
