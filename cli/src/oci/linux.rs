//! The OCI runtime on Linux: `stockade_linux::oci::runtime` behind the shared handlers.

use std::process::ExitCode;

use stockade_core::oci::OciState;
use stockade_core::state::Exit;
use stockade_linux::oci::runtime::{CreateArgs, OciRuntime};

use super::handlers::{self, Runtime};
use super::OciCli;

/// Runs one OCI subcommand.
pub fn dispatch(cli: &OciCli) -> anyhow::Result<ExitCode> {
    handlers::dispatch(cli, &Linux(OciRuntime::new(&cli.root, cli.systemd_cgroup)))
}

/// Linux's runtime.
pub struct Linux(pub OciRuntime);

fn create_args(a: &super::CreateArgs) -> CreateArgs {
    CreateArgs {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
    }
}

impl Runtime for Linux {
    fn create(&self, a: &super::CreateArgs) -> anyhow::Result<()> {
        self.0.create(&a.id, &create_args(a))?;
        Ok(())
    }

    fn start(&self, id: &str) -> anyhow::Result<()> {
        Ok(self.0.start(id)?)
    }

    fn run(&self, a: &super::CreateArgs, detach: bool) -> anyhow::Result<Option<Exit>> {
        Ok(self.0.run(&a.id, &create_args(a), detach)?)
    }

    fn state(&self, id: &str) -> anyhow::Result<OciState> {
        Ok(self.0.state(id)?)
    }

    fn list(&self) -> anyhow::Result<Vec<OciState>> {
        Ok(self.0.list()?)
    }

    fn kill(&self, id: &str, signal: &str, all: bool) -> anyhow::Result<()> {
        Ok(self.0.kill(id, signal, all)?)
    }

    fn delete(&self, id: &str, force: bool) -> anyhow::Result<()> {
        Ok(self.0.delete(id, force)?)
    }

    fn exec(&self, a: &super::ExecArgs) -> anyhow::Result<ExitCode> {
        super::exec::run(&self.0, a)
    }

    fn pids(&self, id: &str) -> anyhow::Result<Vec<i32>> {
        Ok(self.0.pids(id)?)
    }

    fn freeze(&self, id: &str, frozen: bool) -> anyhow::Result<()> {
        Ok(self.0.freeze(id, frozen)?)
    }

    fn features(&self) -> serde_json::Value {
        features()
    }

    fn template(&self) -> String {
        stockade_linux::oci::template()
    }
}

/// The runtime-spec features document on Linux (`features`).
pub fn features() -> serde_json::Value {
    let mut mount_options: Vec<&str> = vec![
        "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind",
        "relatime", "private", "rprivate", "async", "defaults",
    ];
    mount_options.sort_unstable();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": [],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps_known(),
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
        },
        "annotations": { "org.stockade.runtime": "stockade" },
    })
}

fn caps_known() -> Vec<&'static str> {
    vec![
        "CAP_AUDIT_CONTROL",
        "CAP_AUDIT_READ",
        "CAP_AUDIT_WRITE",
        "CAP_BLOCK_SUSPEND",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_KILL",
        "CAP_LEASE",
        "CAP_LINUX_IMMUTABLE",
        "CAP_MAC_ADMIN",
        "CAP_MAC_OVERRIDE",
        "CAP_MKNOD",
        "CAP_NET_ADMIN",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_RAW",
        "CAP_PERFMON",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYSLOG",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_CHROOT",
        "CAP_SYS_MODULE",
        "CAP_SYS_NICE",
        "CAP_SYS_PACCT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_WAKE_ALARM",
    ]
}
