//! An OCI config.json through stockade's translation into a Linux plan.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = serde_json::from_slice::<oci_spec::runtime::Spec>(data) else {
        return;
    };
    let ctx = stockade_linux::oci::translate::TranslateContext {
        id: "fuzz".into(),
        bundle: "/fuzz/bundle".into(),
        cgroup: stockade_core::backend::CgroupVersion::V2,
        systemd_cgroup: false,
    };
    let _ = stockade_linux::oci::translate::translate(&spec, &ctx);
});
