//! Applying a [`LinuxPlan`](crate::LinuxPlan): the Linux runtime (`Runtime for
//! LinuxBackend`). Compiled on Linux only; one module per kernel facility:
//!
//! - [`sys`]: the raw system calls nix lacks — the only module allowed `unsafe`;
//! - [`proc`]: process identity from procfs (start times against PID reuse);
//! - [`cgroup`]: the environment's control groups (placement, limits, device policy,
//!   usage figures), kill and removal;
//! - [`rlimit`]: resource limits, checked before anything is made, set in the child;
//! - [`rootfs`]: the mount steps, pivot_root, masked paths, inside the new mount namespace;
//! - [`layer`]: the host side of a copy-on-write root (checks, upper and work folders);
//! - [`process`]: identity, capabilities, no_new_privs, rlimits, exec with 126/127;
//! - [`seccomp`]: the syscall filter;
//! - [`net`]: the network steps over rtnetlink (the veth pair of `private`), and its undo;
//! - [`init`]: the minimal PID 1 of `process.init = true`;
//! - [`spawn`]: cloning the first process, the pipes, the hand-off to the monitor;
//! - [`monitor`]: the detached monitor itself, as the `stockade-monitor` program runs it;
//! - [`join`]: `exec` into a running environment;
//! - [`userns`]: rootless mode's host side (id maps, delegated cgroups);
//! - [`top`]: the environment's processes as the host sees them;
//! - [`checkpoint`]: checkpoint and restore through CRIU's RPC;
//! - [`visible`]: the limits shown inside (`limits.visible`): /proc files, affinity;
//! - [`runtime`]: the lifecycle over the state store.

pub mod cgroup;
pub mod checkpoint;
pub mod firewall;
pub mod hooks;
pub mod init;
pub mod join;
pub mod layer;
pub mod monitor;
pub mod net;
pub mod nft;
pub mod proc;
pub mod process;
pub mod resolv;
pub mod rlimit;
pub mod rootfs;
pub mod runtime;
pub mod seccomp;
pub mod spawn;
pub mod sys;
pub mod top;
pub mod userns;
pub mod visible;

pub use runtime::RuntimeError;
