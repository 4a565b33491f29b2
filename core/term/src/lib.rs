//! Terminals for stockade, the same code on Linux and FreeBSD (posix_openpt(3) and
//! termios(4) are POSIX; rustix wraps them safely on both):
//!
//! - [`pty`]: a pseudo-terminal pair, opened by the environment's process inside its own
//!   root (so `tty` names its own `/dev/pts/N`), and the child's side of making it the
//!   controlling terminal (setsid(2), `TIOCSCTTY`, dup2 onto 0/1/2);
//! - [`fdpass`]: sending the master over a unix socket (`SCM_RIGHTS`, unix(7)), how the
//!   process hands it to its creator, a monitor or an OCI console socket;
//! - [`relay`]: the caller's side: raw mode with guaranteed restore (a guardian process
//!   restores the modes even when stockade is SIGKILLed), window size forwarding
//!   (`SIGWINCH`), both-way copy with poll(2);
//! - [`attach`]: the detach key sequence (podman's ctrl-p ctrl-q) and the attach socket's
//!   tiny protocol;
//! - [`launch`]: finding the `stockade-monitor` program and handing a detached
//!   environment's descriptors over to it across execve(2).
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod attach;
pub mod fdpass;
pub mod launch;
pub mod monitor;
pub mod pty;
pub mod relay;
mod sys;

/// Lets a closed standard output end this process as it ends `ls | head`: SIGPIPE back to
/// its default action (Rust starts every program with it ignored, so `println!` to a
/// closed pipe panics instead). Only for commands that print and hold nothing: one that
/// made an environment or serves a terminal must see EPIPE and clean up instead.
pub fn exit_quietly_on_closed_stdout() {
    sys::default_signals(&[libc::SIGPIPE]);
}
