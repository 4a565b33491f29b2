//! The OCI runtime on FreeBSD: `stockade_freebsd::oci_runtime` (jails from ocijail's
//! config.json subset) behind the shared handlers.

use std::process::ExitCode;

use stockade_core::oci::OciState;
use stockade_core::state::Exit;
use stockade_freebsd::oci_runtime::{CreateArgs, OciRuntime};

use super::handlers::{self, Runtime};
use super::OciCli;

/// Runs one OCI subcommand.
pub fn dispatch(cli: &OciCli) -> anyhow::Result<ExitCode> {
    if cli.systemd_cgroup {
        anyhow::bail!("--systemd-cgroup: FreeBSD has no cgroups (jails and rctl instead)");
    }
    handlers::dispatch(cli, &Freebsd(OciRuntime::new(&cli.root)))
}

/// FreeBSD's runtime.
pub struct Freebsd(pub OciRuntime);

fn create_args(a: &super::CreateArgs) -> CreateArgs {
    CreateArgs {
        bundle: a.bundle.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
    }
}

impl Runtime for Freebsd {
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
        if let Some(option) = handlers::args_only_exec(a) {
            anyhow::bail!("exec {option} is not supported by stockade's OCI runtime on FreeBSD: give the command as ARGS");
        }
        let exit = self.0.exec(&a.id, &a.args)?;
        Ok(ExitCode::from(u8::try_from(exit.code).unwrap_or(255)))
    }

    fn pids(&self, id: &str) -> anyhow::Result<Vec<i32>> {
        Ok(self.0.pids(id)?)
    }

    fn freeze(&self, _id: &str, _frozen: bool) -> anyhow::Result<()> {
        anyhow::bail!("pause and resume need a freezer, which jails do not have")
    }

    fn features(&self) -> serde_json::Value {
        stockade_freebsd::oci::features()
    }

    fn template(&self) -> String {
        stockade_freebsd::oci::template()
    }
}
