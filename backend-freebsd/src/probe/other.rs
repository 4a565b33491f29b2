//! Probing on an OS that is not FreeBSD: nothing to read, so it says so.

use stockade_core::backend::HostInfo;

/// Why the host could not be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// This is not FreeBSD.
    #[error(
        "not running on FreeBSD (this is {os}): jails need a FreeBSD host; \
         `stockade plan --target freebsd` and `stockade check --target freebsd` work anywhere"
    )]
    NotFreebsd {
        /// The OS this was built for.
        os: &'static str,
    },
}

/// Host facts for the planner off FreeBSD: no ZFS probe (a copy-on-write root is planned
/// as unionfs, and the plan says it was not probed); the root's ABI is read all the same.
pub fn plan_options(spec: &stockade_core::Spec) -> crate::plan::FreebsdPlanOptions {
    crate::plan::FreebsdPlanOptions {
        abi: super::root_abi(spec),
        ..crate::plan::FreebsdPlanOptions::default()
    }
}

/// Always fails: there are no jails here.
pub fn probe() -> Result<HostInfo, ProbeError> {
    Err(ProbeError::NotFreebsd {
        os: std::env::consts::OS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_it_is_not_freebsd() {
        let err = probe().expect_err("not FreeBSD");
        assert_eq!(
            err,
            ProbeError::NotFreebsd {
                os: std::env::consts::OS
            }
        );
        assert!(err.to_string().starts_with("not running on FreeBSD"));
    }
}
