//! What both backends' OCI runtimes share: the refusal of a config.json key, and the
//! runtime-spec state a container is reported in (`stockade oci state`, `list`).

use std::path::PathBuf;

use serde::Serialize;

use crate::state::{Exit, State};

/// The runtime-spec version stockade's OCI runtimes implement.
pub const OCI_VERSION: &str = "1.2.0";

/// The runtime-spec state of a container (`state` prints it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OciState {
    /// The runtime-spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// `created`, `running`, `paused` or `stopped`.
    pub status: &'static str,
    /// The first process's host PID (0 once stopped, as runc prints it).
    pub pid: i32,
    /// The bundle folder.
    pub bundle: PathBuf,
    /// The config's annotations.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub annotations: serde_json::Map<String, serde_json::Value>,
    /// Creation time, RFC 3339 (runc prints it; engines show it).
    pub created: String,
    /// How the process ended, when stockade itself waited for it (`oci run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<Exit>,
}

impl OciState {
    /// The state of the container `state` records, its `status` read from the kernel by
    /// the caller. Both runtimes record the bundle and the annotations under
    /// `spec["oci"]` (see [`record`]).
    pub fn of(state: &State, status: &'static str) -> OciState {
        let oci = &state.spec["oci"];
        OciState {
            oci_version: OCI_VERSION.into(),
            id: state.name.clone(),
            status,
            pid: if status == "stopped" {
                0
            } else {
                state.pid.unwrap_or(0)
            },
            bundle: oci["bundle"]
                .as_str()
                .map(PathBuf::from)
                .unwrap_or_default(),
            annotations: oci["annotations"].as_object().cloned().unwrap_or_default(),
            created: crate::time::rfc3339_seconds(state.created),
            exit: state.exit.clone(),
        }
    }
}

/// What a runtime records of a container in its state's `spec` (beside what it needs
/// itself): `{"oci": {"bundle": ..., "annotations": ...}}`.
pub fn record(
    bundle: &std::path::Path,
    annotations: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({ "oci": { "bundle": bundle, "annotations": annotations } })
}

/// A key of config.json the backend cannot honour, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config.json: {key}: {message}")]
pub struct TranslateError {
    /// The key, as a JSON path (`linux.namespaces[2].type`, `mounts[1].options[0]`).
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

/// Refuses `key` with `message`.
pub fn refuse(key: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError {
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_json_is_the_runtime_specs() {
        let mut ann = serde_json::Map::new();
        ann.insert("a".into(), "b".into());
        let mut state = State::new("c1".into(), None, record(std::path::Path::new("/b"), ann));
        state.pid = Some(42);
        let v = serde_json::to_value(OciState::of(&state, "running")).unwrap();
        assert_eq!(v["ociVersion"], OCI_VERSION);
        assert_eq!(v["id"], "c1");
        assert_eq!(v["pid"], 42);
        assert_eq!(v["bundle"], "/b");
        assert_eq!(v["annotations"]["a"], "b");
        assert!(v.get("exit").is_none());
        assert_eq!(
            OciState::of(&state, "stopped").pid,
            0,
            "runc prints 0 once stopped"
        );
    }
}
