//! Reads the host's jail-related facts with sysctl(3), through the `sysctl` crate.
//!
//! - `kern.racct.enable`: rctl works (rctl(4); a loader tunable, fixed at boot). The OID
//!   is missing when the kernel was built without `options RACCT`: that reads as false.
//! - `kern.features.vimage`: the kernel has VIMAGE, so vnet jails work. Feature OIDs
//!   exist only for compiled-in features (FEATURE(9)): missing reads as false.

use sysctl::{Ctl, CtlValue, Sysctl, SysctlError};

use stockade_core::backend::HostInfo;

/// Why the host could not be probed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A sysctl could not be read.
    #[error("cannot read sysctl {name}: {source}")]
    Sysctl {
        /// The OID name.
        name: &'static str,
        /// The cause (with the errno when there is one).
        source: SysctlError,
    },
    /// A sysctl that should hold a number holds something else.
    #[error("sysctl {name} is {value:?}, not a number")]
    NotANumber {
        /// The OID name.
        name: &'static str,
        /// What it holds.
        value: String,
    },
}

fn read(name: &'static str) -> Result<Option<CtlValue>, ProbeError> {
    let value = Ctl::new(name).and_then(|ctl| ctl.value());
    match value {
        Ok(v) => Ok(Some(v)),
        Err(SysctlError::NotFound(_)) => Ok(None),
        Err(source) => Err(ProbeError::Sysctl { name, source }),
    }
}

fn string(name: &'static str) -> Result<String, ProbeError> {
    match read(name)? {
        Some(CtlValue::String(s)) => Ok(s),
        Some(other) => Ok(other.to_string()),
        None => Err(ProbeError::Sysctl {
            name,
            source: SysctlError::NotFound(name.to_string()),
        }),
    }
}

/// A numeric sysctl as a flag: non-zero is true, a missing OID is false.
fn flag(name: &'static str) -> Result<bool, ProbeError> {
    let n: i128 = match read(name)? {
        None => return Ok(false),
        Some(CtlValue::Int(n) | CtlValue::S32(n)) => n.into(),
        Some(CtlValue::Uint(n) | CtlValue::U32(n)) => n.into(),
        Some(CtlValue::Long(n) | CtlValue::S64(n)) => n.into(),
        Some(CtlValue::Ulong(n) | CtlValue::U64(n)) => n.into(),
        Some(CtlValue::U8(n)) => n.into(),
        Some(CtlValue::U16(n)) => n.into(),
        Some(CtlValue::S8(n)) => n.into(),
        Some(CtlValue::S16(n)) => n.into(),
        Some(other) => {
            return Err(ProbeError::NotANumber {
                name,
                value: other.to_string(),
            })
        }
    };
    Ok(n != 0)
}

/// Reads what this FreeBSD host can do.
pub fn probe() -> Result<HostInfo, ProbeError> {
    Ok(HostInfo {
        os: string("kern.ostype")?.to_lowercase(),
        release: string("kern.osrelease")?,
        racct: Some(flag("kern.racct.enable")?),
        vimage: Some(flag("kern.features.vimage")?),
        linux_abi: Some(linux_abi()?),
        ..HostInfo::default()
    })
}

/// The Linux ABI is there: the `linux64` module is loaded (kldfind(2), as kldstat), or
/// built into the kernel, which its `compat.linux.osrelease` sysctl shows.
fn linux_abi() -> Result<bool, ProbeError> {
    let loaded = crate::sys::kld::loaded(crate::plan::abi::LINUX_MODULE).unwrap_or(false);
    Ok(loaded || read("compat.linux.osrelease")?.is_some())
}

/// Host facts for the planner: whether a copy-on-write root's `root.path` is the mount
/// point of a ZFS dataset (asked only when the answer can matter: `root.overlay` on a
/// plain `root.path`, without `layers` or `changes`).
pub fn plan_options(spec: &stockade_core::Spec) -> crate::plan::FreebsdPlanOptions {
    use crate::plan::layer::ZfsProbe;
    use stockade_core::spec::RootSource;
    let zfs = match (&spec.root.source, &spec.root.overlay) {
        (RootSource::Path(base), Some(o))
        | (
            RootSource::Image(stockade_core::spec::ImageRoot {
                flat: Some(base), ..
            }),
            Some(o),
        ) if o.layers.is_empty() && o.changes.is_none() => {
            match crate::sys::zfs::dataset_at(base) {
                Some(dataset) => ZfsProbe::Dataset(dataset),
                None => ZfsProbe::NotADataset,
            }
        }
        _ => ZfsProbe::NotProbed,
    };
    crate::plan::FreebsdPlanOptions {
        zfs,
        abi: super::root_abi(spec),
    }
}
