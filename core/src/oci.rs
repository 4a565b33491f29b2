//! What both backends' OCI translations share: the refusal of a config.json key.

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
