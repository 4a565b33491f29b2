//! The JSON Schema of a spec file (`stockade schema`), for editors: taplo and VS Code's
//! Even Better TOML validate and complete spec files with it (docs/spec.md says how).
//!
//! The types below mirror the file as written (sizes as strings or numbers, `user` as
//! text or a number), not the validated [`Spec`](super::Spec): the loader stays the one
//! judge of a file, the schema catches what an editor can (unknown keys, wrong types,
//! unknown kinds and privileges, malformed names and sizes) while typing.
//! `schema_keys_match_the_loader` keeps the two from drifting apart.

use std::collections::BTreeMap;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use super::Privilege;

/// A stockade environment (spec schema v1): one isolated environment, run the same way
/// on Linux and FreeBSD.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "stockade environment", extend("$id" = "https://example.invalid/stockade/spec-v1.json"))]
pub struct SpecFile {
    /// Unique name on the host: letters, digits, '_' and '-', starting with a letter or
    /// digit, not all digits, at most 64 bytes. Defaults to the file's stem.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"))]
    pub name: Option<String>,
    /// Host name seen inside; defaults to `name`.
    pub hostname: Option<String>,
    /// The root file system.
    pub root: RootFile,
    /// The process to run (optional with `root.image`, whose config gives it).
    pub process: Option<ProcessFile>,
    /// Extra mounts, in order.
    pub mount: Option<Vec<MountFile>>,
    /// Resource limits.
    pub limits: Option<LimitsFile>,
    /// Networking.
    pub network: Option<NetworkFile>,
    /// Extra privileges and the syscall filter.
    pub privileges: Option<PrivilegesFile>,
}

/// `[root]`: a prepared folder (`path`), a read-only view of the host (`host = true`) or
/// an imported image (`image`).
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RootFile {
    /// A prepared root folder on the host (relative to the spec file's folder).
    pub path: Option<String>,
    /// A fresh tmpfs holding read-only views of the host's system folders.
    pub host: Option<bool>,
    /// An image from the local store (`stockade image import`), by name[:tag] or digest.
    pub image: Option<String>,
    /// Mount the root read-only (default false).
    pub readonly: Option<bool>,
    /// Copy-on-write: the base is never written (default false).
    pub overlay: Option<bool>,
    /// Read-only layers above `path`, top first (with `overlay`).
    pub layers: Option<Vec<String>>,
    /// Where the writable layer is kept across `delete` (with `overlay`).
    pub changes: Option<String>,
    /// The ABI of the root's binaries (default: the host's; FreeBSD also detects it).
    pub abi: Option<AbiFile>,
    /// With `abi = "linux"` on FreeBSD: what `uname -s` says inside.
    pub linux_osname: Option<String>,
    /// With `abi = "linux"` on FreeBSD: what `uname -r` says inside.
    pub linux_osrelease: Option<String>,
}

/// The ABI of a root's binaries.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbiFile {
    /// Linux binaries (native on Linux, the Linuxulator on FreeBSD).
    Linux,
    /// FreeBSD binaries.
    Freebsd,
}

/// `[process]`: what runs inside.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    /// argv; the first word is looked up in the root's PATH when not absolute (optional
    /// with `root.image`: its Entrypoint and Cmd).
    #[schemars(length(min = 1))]
    pub command: Option<Vec<String>>,
    /// Working directory inside the root (absolute, default `/`).
    #[schemars(regex(pattern = r"^/"))]
    pub cwd: Option<String>,
    /// Exactly these environment variables (plus PATH and HOME when not given).
    pub env: Option<BTreeMap<String, String>>,
    /// Who to run as: "uid:gid", a uid, or a user[:group] name from the root's files.
    #[schemars(schema_with = "user_schema")]
    #[serde(default)]
    pub user: Option<String>,
    /// Run a minimal reaper as PID 1 (Linux; default false).
    pub init: Option<bool>,
    /// Give the process a pseudo-terminal, as `run -t` does (default false).
    pub terminal: Option<bool>,
}

/// `[[mount]]`: one extra mount.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MountFile {
    /// bind (FreeBSD nullfs), tmpfs, proc or dev.
    pub kind: MountKindFile,
    /// The host path of a bind mount (relative to the spec file's folder).
    pub source: Option<String>,
    /// Where it appears inside (absolute).
    #[schemars(regex(pattern = r"^/"))]
    pub target: String,
    /// Mount it read-only.
    pub readonly: Option<bool>,
    /// Size limit of a tmpfs.
    #[schemars(schema_with = "size_schema")]
    #[serde(default)]
    pub size: Option<String>,
}

/// A mount's kind.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MountKindFile {
    /// A host folder or file (Linux bind mount, FreeBSD nullfs).
    Bind,
    /// A fresh memory file system.
    Tmpfs,
    /// The process file system.
    Proc,
    /// A minimal device tree.
    Dev,
}

/// `[limits]`.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Memory limit: bytes, or a number with K, M, G or T ("256M").
    #[schemars(schema_with = "size_schema")]
    #[serde(default)]
    pub memory: Option<String>,
    /// Most processes at once.
    #[schemars(range(min = 1))]
    pub processes: Option<u64>,
    /// CPU time, in cores (1.5 = one and a half).
    #[schemars(range(min = 0.01))]
    pub cpus: Option<f64>,
    /// Most open files per process.
    #[schemars(range(min = 1))]
    pub open_files: Option<u64>,
    /// Pin to these CPUs: numbers and ranges, "0-1,4".
    #[schemars(regex(
        pattern = r"^\s*[0-9]+(\s*-\s*[0-9]+)?(\s*,\s*[0-9]+(\s*-\s*[0-9]+)?)*\s*$"
    ))]
    pub cpuset: Option<String>,
    /// Make the limits what the environment sees (CPU count, /proc files).
    pub visible: Option<bool>,
}

/// `[network]`.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkFile {
    /// none (loopback only, the default), host, or private (a link to the host).
    pub mode: Option<NetworkModeFile>,
    /// The environment's address with its prefix ("10.77.0.2/24"), for `private`.
    pub address: Option<String>,
    /// The host side's address (default: the first other address of the subnet).
    pub gateway: Option<String>,
    /// Reach beyond the host through masquerading (`private`; default true).
    pub nat: Option<bool>,
    /// Host ports forwarded to the environment: "8080:80", "127.0.0.1:5353:53/udp".
    pub publish: Option<Vec<String>>,
    /// Name servers written to the environment's resolv.conf (`private`).
    pub dns: Option<Vec<String>>,
    /// Search domains for resolv.conf (`private`).
    pub search: Option<Vec<String>>,
}

/// A network mode.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NetworkModeFile {
    /// Loopback only.
    None,
    /// The host's network.
    Host,
    /// Its own network with a link to the host.
    Private,
}

/// `[privileges]`.
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrivilegesFile {
    /// Portable privileges, mapped per OS (Linux capabilities, FreeBSD allow.*).
    #[schemars(schema_with = "privileges_schema")]
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// The syscall filter: default, or unconfined.
    pub seccomp: Option<SeccompFile>,
}

/// The syscall filter.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeccompFile {
    /// The default deny list.
    Default,
    /// No filter.
    Unconfined,
}

fn size_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Bytes, or a number with K, M, G or T (binary; B or iB may follow), e.g. \"256M\" or \"1.5G\"",
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": r"^\s*[0-9][0-9_]*(\.[0-9]+)?\s*([KkMmGgTt]([Ii]?[Bb])?|[Bb])?\s*$" }
        ]
    })
}

fn user_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "\"uid:gid\" such as \"1000:1000\", a uid, or a user[:group] name from the root's /etc/passwd",
        "anyOf": [
            { "type": "integer", "minimum": 0, "maximum": 4294967295u64 },
            { "type": "string", "pattern": "^[^:/\\x00]+(:[^:/\\x00]+)?$" }
        ]
    })
}

fn privileges_schema(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = Privilege::ALL.iter().map(|p| p.name()).collect();
    let descriptions: Vec<String> = Privilege::ALL
        .iter()
        .map(|p| format!("{}: {}", p.name(), p.description()))
        .collect();
    json_schema!({
        "type": "array",
        "uniqueItems": true,
        "items": { "type": "string", "enum": names },
        "description": descriptions.join("; ")
    })
}

/// The JSON Schema of a spec file, pretty-printed.
pub fn json() -> String {
    let schema = schemars::schema_for!(SpecFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn properties<'a>(schema: &'a serde_json::Value, path: &[&str]) -> Vec<&'a str> {
        let mut node = schema;
        for p in path {
            node = &node["properties"][p];
            // Optional tables are `anyOf [{$ref}, null]` or a direct `$ref`.
            let reference = node["$ref"]
                .as_str()
                .or_else(|| node["anyOf"][0]["$ref"].as_str())
                .or_else(|| node["items"]["$ref"].as_str())
                .or_else(|| node["anyOf"][0]["items"]["$ref"].as_str());
            if let Some(r) = reference {
                node = &schema["$defs"][r.rsplit('/').next().unwrap_or("")];
            }
        }
        let mut keys: Vec<&str> = node["properties"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn schema_keys_match_the_loader() {
        let schema: serde_json::Value = serde_json::from_str(&json()).unwrap();
        for (table, keys) in super::super::load::known_keys() {
            let path: Vec<&str> = if table.is_empty() {
                vec![]
            } else {
                vec![table]
            };
            let mut want: Vec<&str> = keys.to_vec();
            want.sort_unstable();
            assert_eq!(
                properties(&schema, &path),
                want,
                "the schema's [{table}] differs from the loader's keys: update core/src/spec/schema.rs"
            );
        }
    }
}
