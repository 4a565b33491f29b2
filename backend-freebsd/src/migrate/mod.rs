//! Migration between jail.conf(5) and stockade specs (DESIGN.md §10).
//!
//! - [`import`]: each jail of a jail.conf (with its rctl.conf rules) becomes the text of
//!   one spec TOML file plus a [`ReportItem`] list. Kernel parameters map to spec keys
//!   (`host.hostname` → `hostname`, `path` → `root.path`, `vnet`/`ip4.*` → `[network]`,
//!   `allow.*` → `privileges.allow` through the core privilege table read in reverse);
//!   jail(8)'s own pseudo-parameters map where the spec has a form (`mount.devfs`,
//!   `mount.procfs`, `mount.fstab` and `mount` lines → `[[mount]]`, `exec.start` /
//!   `command` → `process.command`, `exec.jail_user` → `process.user`). Everything else is
//!   reported and kept, verbatim, as a comment in the TOML: nothing is dropped silently.
//!   The TOML always passes [`stockade_core::Spec::from_toml`].
//! - [`export_jail_conf`]: a spec becomes a jail.conf block and rctl.conf lines, built from
//!   the FreeBSD planner's own jail parameters, mounts and rctl rules, so that a jail made
//!   by jail(8) from them is the jail `stockade run` would make.
//!
//! Errors read `FILE:LINE:COL: what is wrong`; a malformed input produces no output.

mod export;
mod fstab;
mod import;
mod rctl;
mod toml_out;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::jailconf::{JailConfError, Position};

pub use export::{export_jail_conf, ExportError, ExportNote, Exported};

/// What a report item says about a jail.conf setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Mapped to a spec key that behaves differently in a way worth knowing.
    Approximate,
    /// No spec form: kept as a comment at the end of the TOML.
    NotCarried,
    /// Already stockade's behaviour: nothing to write.
    Implied,
    /// The import made a choice the admin should check (a placeholder, a rename).
    Review,
}

impl ReportKind {
    /// The word used in reports and TOML comments.
    pub fn label(self) -> &'static str {
        match self {
            ReportKind::Approximate => "approximate",
            ReportKind::NotCarried => "not carried over",
            ReportKind::Implied => "implied",
            ReportKind::Review => "review",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One jail.conf setting (or rctl rule, or fstab line) the spec does not carry exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportItem {
    /// What kind of difference.
    pub kind: ReportKind,
    /// The jail.conf parameter (`exec.prestart`), `rctl` or `fstab`.
    pub param: String,
    /// The setting as written (`exec.prestart = "..."`, an rctl rule, an fstab line).
    pub setting: String,
    /// Where it was written, when it was written somewhere.
    pub at: Option<Position>,
    /// What it means for the environment, and what to do.
    pub note: String,
}

impl fmt::Display for ReportItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = &self.at {
            write!(f, "{at}: ")?;
        }
        write!(f, "{}: {}: {}", self.kind, self.setting, self.note)
    }
}

/// One imported jail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    /// The environment's name (the jail's name, made valid for a spec when needed).
    pub name: String,
    /// The jail's name in the jail.conf.
    pub jail: String,
    /// The spec, as TOML text with the report's notes as comments.
    pub toml: String,
    /// What did not map exactly, in jail.conf order.
    pub report: Vec<ReportItem>,
}

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions<'a> {
    /// Import only this jail.
    pub only_jail: Option<&'a str>,
    /// rctl.conf text and its file name.
    pub rctl_conf: Option<(&'a str, &'a Path)>,
    /// Prefixed to absolute host paths that are read (`.include`, `mount.fstab`): `/` on a
    /// real host, a fixture folder in tests.
    pub host_root: PathBuf,
}

impl Default for ImportOptions<'_> {
    fn default() -> Self {
        ImportOptions {
            only_jail: None,
            rctl_conf: None,
            host_root: PathBuf::from("/"),
        }
    }
}

/// Why a jail.conf (or rctl.conf) cannot be imported. Displays as
/// `FILE:LINE:COL: what is wrong`.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The jail.conf is malformed.
    #[error(transparent)]
    JailConf(#[from] JailConfError),
    /// A value jail(8) itself would refuse (a boolean that is not one, a bad fstab line).
    #[error("{at}: {param}: {message}")]
    Invalid {
        /// Where.
        at: Position,
        /// The parameter.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// The rctl.conf is malformed.
    #[error("{at}: {message}")]
    Rctl {
        /// Where.
        at: Position,
        /// What is wrong.
        message: String,
    },
    /// The file defines no jail.
    #[error("{}: defines no jail: nothing to import", file.display())]
    NoJails {
        /// The file.
        file: PathBuf,
    },
    /// The generated TOML is not a valid spec: a bug in the importer, never the input's
    /// fault.
    #[error("jail {jail:?}: the imported spec does not validate (please report this bug):\n{diagnostics}\n--- generated TOML ---\n{toml}")]
    Generated {
        /// The jail.
        jail: String,
        /// The spec errors.
        diagnostics: String,
        /// The TOML that failed.
        toml: String,
    },
}

impl ImportError {
    /// Where the problem is, when it has a place.
    pub fn position(&self) -> Option<&Position> {
        match self {
            ImportError::JailConf(e) => e.position(),
            ImportError::Invalid { at, .. } | ImportError::Rctl { at, .. } => Some(at),
            ImportError::NoJails { .. } | ImportError::Generated { .. } => None,
        }
    }
}

/// Imports every jail of `text` (read from `origin`; includes and `mount.fstab` files are
/// read from this host), or only `only_jail`, with the rules of `rctl_conf` (its text and
/// file name) for each.
pub fn import(
    text: &str,
    origin: &Path,
    only_jail: Option<&str>,
    rctl_conf: Option<(&str, &Path)>,
) -> Result<Vec<Imported>, ImportError> {
    import_with(
        text,
        origin,
        &ImportOptions {
            only_jail,
            rctl_conf,
            ..ImportOptions::default()
        },
    )
}

/// [`import`] with every option.
pub fn import_with(
    text: &str,
    origin: &Path,
    options: &ImportOptions<'_>,
) -> Result<Vec<Imported>, ImportError> {
    import::run(text, origin, options)
}
