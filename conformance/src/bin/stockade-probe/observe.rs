//! What the probe sees without trying anything: identity, processes, mounts, paths,
//! interfaces, resource limits, privileges and open descriptors.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read as _;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::sys;
use crate::Config;

/// Linux capability names by bit number (capabilities(7)).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_names(mask: Option<u64>) -> Value {
    let Some(mask) = mask else { return Value::Null };
    let names: Vec<String> = (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| {
            CAPABILITIES
                .get(bit)
                .map_or_else(|| format!("CAP_{bit}"), |n| (*n).to_string())
        })
        .collect();
    json!(names)
}

fn limit_json(r: std::io::Result<(sys::Limit, sys::Limit)>) -> Value {
    match r {
        Ok((soft, hard)) => json!({ "soft": soft, "hard": hard }),
        Err(e) => json!({ "error": errno(&e) }),
    }
}

/// The errno name of an I/O error (`EPERM`), or its text when it has no errno.
pub fn errno(e: &std::io::Error) -> String {
    e.raw_os_error()
        .map_or_else(|| e.to_string(), sys::errno_name)
}

fn path_info(path: &Path) -> Value {
    match fs::metadata(path) {
        Ok(meta) => {
            let kind = if meta.is_dir() {
                "dir"
            } else if meta.is_file() {
                "file"
            } else {
                "other"
            };
            json!({
                "exists": true,
                "kind": kind,
                "writable": sys::writable(path),
                "fstype": sys::fstype(path).ok(),
                "readonly": sys::readonly_fs(path).ok(),
            })
        }
        Err(e) => json!({ "exists": false, "error": errno(&e) }),
    }
}

fn read_head(path: &Path) -> Value {
    let mut buf = Vec::new();
    match fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut buf)) {
        Ok(_) => json!({ "ok": true, "content": String::from_utf8_lossy(&buf) }),
        Err(e) => json!({ "ok": false, "error": errno(&e) }),
    }
}

fn network() -> Value {
    let entries = match sys::interfaces() {
        Ok(e) => e,
        Err(e) => return json!({ "error": errno(&e) }),
    };
    let mut by_name: BTreeMap<String, (bool, bool, Vec<String>)> = BTreeMap::new();
    for e in &entries {
        let slot = by_name
            .entry(e.name.clone())
            .or_insert((false, false, Vec::new()));
        slot.0 |= e.up;
        slot.1 |= e.loopback;
        if let Some((addr, prefix)) = e.addr {
            slot.2.push(format!("{addr}/{prefix}"));
        }
    }
    let interfaces: Vec<Value> = by_name
        .iter()
        .map(|(name, (up, lo, addrs))| {
            json!({ "name": name, "up": up, "loopback": lo, "addresses": addrs })
        })
        .collect();
    let names: Vec<&String> = by_name.keys().collect();
    let non_loopback: Vec<&String> = by_name
        .iter()
        .filter(|(_, (_, lo, _))| !lo)
        .map(|(n, _)| n)
        .collect();
    let addresses: Vec<&String> = by_name.values().flat_map(|(_, _, a)| a).collect();
    json!({
        "interfaces": interfaces,
        "names": names,
        "non_loopback": non_loopback,
        "addresses": addresses,
    })
}

/// Open descriptors, without the one used to list them.
fn open_fds() -> Value {
    let Ok(entries) = fs::read_dir(sys::FD_DIR) else {
        return Value::Null;
    };
    let listed: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // The directory's own descriptor was listed too, and is closed now: keep the ones
    // that still exist.
    let mut fds: Vec<i32> = listed
        .into_iter()
        .filter(|fd| Path::new(sys::FD_DIR).join(fd.to_string()).exists())
        .collect();
    fds.sort_unstable();
    json!(fds)
}

/// Everything observed, as the top-level fields of the report.
pub fn observe(config: &Config) -> Map<String, Value> {
    let ids = sys::ids();
    let groups = sys::groups().unwrap_or_default();
    let supplementary: Vec<u32> = groups.iter().copied().filter(|g| *g != ids.egid).collect();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let processes = sys::processes();
    let mounts = sys::mounts().map(|m| {
        m.iter()
            .map(|e| json!({ "target": e.target, "fstype": e.fstype, "readonly": e.readonly }))
            .collect::<Vec<_>>()
    });
    let status = sys::proc_status().unwrap_or_default();
    let mut paths = Map::new();
    for p in &config.paths {
        paths.insert(p.display().to_string(), path_info(p));
    }
    let mut files = Map::new();
    for p in &config.reads {
        files.insert(p.display().to_string(), read_head(p));
    }
    let fields = json!({
        "probe": 1,
        "os": std::env::consts::OS,
        "hostname": sys::hostname().ok(),
        "pid": ids.pid,
        "ppid": ids.ppid,
        "uid": ids.uid,
        "gid": ids.gid,
        "euid": ids.euid,
        "egid": ids.egid,
        "groups": groups,
        "supplementary_groups": supplementary,
        "cwd": std::env::current_dir().ok().map(|p| p.display().to_string()),
        "env": env,
        "processes": processes.as_ref().map(Vec::len),
        "pids": processes.map(|p| p.into_iter().take(64).collect::<Vec<_>>()),
        "mounts": mounts,
        "paths": paths,
        "files": files,
        "net": network(),
        "rlimits": {
            "nofile": limit_json(sys::rlimit_nofile()),
            "nproc": limit_json(sys::rlimit_nproc()),
            "memlock": limit_json(sys::rlimit_memlock()),
        },
        "capabilities": {
            "effective": cap_names(status.cap_eff),
            "permitted": cap_names(status.cap_prm),
            "bounding": cap_names(status.cap_bnd),
        },
        "no_new_privs": status.no_new_privs,
        "seccomp": status.seccomp,
        "fds": open_fds(),
    });
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
