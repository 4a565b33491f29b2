//! The device policy on cgroup v2: v2 has no `devices.allow`/`devices.deny` files; the
//! kernel instead runs a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup on
//! every mknod(2) and every open(2) of a device node (bpf(2) `BPF_PROG_LOAD`,
//! `BPF_PROG_ATTACH` with `BPF_CGROUP_DEVICE`; kernel docs admin-guide/cgroup-v2.rst
//! "Device controller"). It returns 1 to allow, 0 to deny (`EPERM`).
//!
//! The program is assembled here from the plan's [`DevicePolicy`], as runc and crun do,
//! so that no compiler or ELF loader is needed:
//!
//! ```text
//!   r2 = ctx->access_type & 0xffff     device type (1 block, 2 char)
//!   r3 = ctx->access_type >> 16        access wanted (1 mknod, 2 read, 4 write)
//!   r4 = ctx->major,  r5 = ctx->minor
//!   for each rule, last first (the last matching rule wins, as in the v1 files):
//!     if type, access ⊆ rule's, major and minor all match: return allow ? 1 : 0
//!   return 0
//! ```
//!
//! It is attached with `BPF_F_ALLOW_MULTI`, so device programs a delegating manager put on
//! an ancestor keep working (every program on the path must allow). Once attached, the
//! cgroup holds the program; it goes when the cgroup is removed, so there is nothing to
//! undo.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use super::CgroupError;
use crate::apply::sys::{self, BpfInsn};
use crate::plan::cgroup::{DevicePolicy, DeviceRule, DeviceType};

/// `BPF_PROG_TYPE_CGROUP_DEVICE` (linux/bpf.h).
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` (`enum bpf_attach_type`).
const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`.
const F_ALLOW_MULTI: u32 = 1 << 1;

/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// `BPF_DEVCG_ACC_MKNOD`, `_READ`, `_WRITE`.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The access bits of a rule's `rwm` string.
fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |acc, c| {
        acc | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// The tests of one rule, each a "jump to the next rule if this does not match", then its
/// verdict. Jump offsets are filled in by [`program`].
fn rule_block(rule: &DeviceRule) -> Vec<BpfInsn> {
    let mut block = Vec::new();
    match rule.kind {
        DeviceType::All => {}
        DeviceType::Char => block.push(insn(JNE_K, 2, 0, 0, DEV_CHAR)),
        DeviceType::Block => block.push(insn(JNE_K, 2, 0, 0, DEV_BLOCK)),
    }
    let allowed = access_bits(&rule.access);
    if allowed & ACC_ALL != ACC_ALL {
        // Matches when the access wanted has no bit outside the rule's.
        block.push(insn(ALU32_MOV_X, 6, 3, 0, 0));
        block.push(insn(ALU32_AND_K, 6, 0, 0, !allowed));
        block.push(insn(JNE_K, 6, 0, 0, 0));
    }
    if let Some(major) = rule.major {
        block.push(insn(JNE_K, 4, 0, 0, major as i32));
    }
    if let Some(minor) = rule.minor {
        block.push(insn(JNE_K, 5, 0, 0, minor as i32));
    }
    block.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(rule.allow)));
    block.push(insn(EXIT, 0, 0, 0, 0));
    block
}

/// The program for a policy (see the module).
pub fn program(policy: &DevicePolicy) -> Vec<BpfInsn> {
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for rule in policy.rules.iter().rev() {
        let mut block = rule_block(rule);
        let len = block.len();
        let mut conditional = false;
        // Every conditional jump leaves the block: to the instruction after its end.
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                // Blocks are a handful of instructions: the offset always fits.
                ins.off = (len - i - 1) as i16;
                conditional = true;
            }
        }
        prog.extend(block);
        if !conditional {
            // A rule matching everything (the policy's leading "deny a") ends the program:
            // the verifier refuses unreachable instructions after it.
            return prog;
        }
    }
    prog.push(insn(ALU64_MOV_K, 0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// Loads the policy's program and attaches it to the cgroup `cgroup` (an open directory
/// fd of `path`, which only names it in errors).
pub fn attach(
    policy: &DevicePolicy,
    cgroup: BorrowedFd<'_>,
    path: &Path,
) -> Result<(), CgroupError> {
    let insns = program(policy);
    let load = |log: &mut [u8]| {
        sys::bpf_prog_load(
            PROG_TYPE_CGROUP_DEVICE,
            ATTACH_CGROUP_DEVICE,
            &insns,
            c"Apache-2.0",
            "stockade_dev",
            log,
        )
    };
    let prog = match load(&mut []) {
        Ok(fd) => fd,
        Err(source) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 64 * 1024];
            let _ = load(&mut log);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            return Err(CgroupError::Device {
                path: path.to_path_buf(),
                what: "load the BPF device program",
                source,
                log: if text.is_empty() {
                    String::new()
                } else {
                    format!("\n{text}")
                },
            });
        }
    };
    sys::bpf_prog_attach(cgroup, prog.as_fd(), ATTACH_CGROUP_DEVICE, F_ALLOW_MULTI).map_err(
        |source| CgroupError::Device {
            path: path.to_path_buf(),
            what: "attach the BPF device program (BPF_CGROUP_DEVICE)",
            source,
            log: String::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a program on one access the way the kernel would, for the few instructions
    /// [`program`] emits (any other opcode fails the test).
    fn run(prog: &[BpfInsn], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => {
                    assert_eq!(src, 1, "only ctx loads");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_AND_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
                ALU64_MOV_K => r[dst] = i.imm as i64 as u64,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn standard_policy_allows_the_standard_devices_only() {
        let prog = program(&DevicePolicy::standard());
        let allowed = |kind, access, major, minor| run(&prog, kind, access, major, minor) == 1;
        for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2)] {
            for access in [ACC_READ, ACC_WRITE, ACC_MKNOD, ACC_READ | ACC_WRITE] {
                assert!(allowed(DEV_CHAR, access, major, minor), "c {major}:{minor}");
            }
        }
        // Any pts terminal.
        assert!(allowed(DEV_CHAR, ACC_READ | ACC_WRITE, 136, 0));
        assert!(allowed(DEV_CHAR, ACC_READ, 136, 4095));
        // The host's kernel log, memory, a disk, a block device with an allowed number.
        assert!(!allowed(DEV_CHAR, ACC_READ, 1, 11));
        assert!(!allowed(DEV_CHAR, ACC_MKNOD, 1, 11));
        assert!(!allowed(DEV_CHAR, ACC_READ, 1, 1));
        assert!(!allowed(DEV_BLOCK, ACC_READ, 8, 0));
        assert!(!allowed(DEV_BLOCK, ACC_READ, 1, 3));
        assert!(!allowed(DEV_CHAR, ACC_READ, 5, 1));
        // The leading "deny a" is the program's end: nothing unreachable after it.
        assert_eq!(prog[prog.len() - 2], insn(ALU64_MOV_K, 0, 0, 0, 0));
        assert_eq!(prog[prog.len() - 3].code, EXIT);
    }

    #[test]
    fn access_subsets_and_last_rule_wins() {
        let rule = |allow, kind, major, minor, access: &str| DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        };
        let policy = DevicePolicy {
            rules: vec![
                rule(false, DeviceType::All, None, None, "rwm"),
                rule(true, DeviceType::Char, Some(10), None, "r"),
                rule(false, DeviceType::Char, Some(10), Some(200), "rwm"),
                rule(true, DeviceType::Block, Some(7), Some(0), "rw"),
            ],
        };
        let prog = program(&policy);
        // Rules before a match-all one are never reached: not emitted.
        let mut shadowed = policy.clone();
        shadowed
            .rules
            .insert(0, rule(true, DeviceType::Char, Some(1), Some(11), "r"));
        assert_eq!(program(&shadowed), prog);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 10, 1), 1);
        assert_eq!(run(&prog, DEV_CHAR, ACC_WRITE, 10, 1), 0, "only r allowed");
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ | ACC_WRITE, 10, 1), 0);
        assert_eq!(
            run(&prog, DEV_CHAR, ACC_READ, 10, 200),
            0,
            "a later deny wins"
        );
        assert_eq!(run(&prog, DEV_BLOCK, ACC_READ | ACC_WRITE, 7, 0), 1);
        assert_eq!(run(&prog, DEV_BLOCK, ACC_MKNOD, 7, 0), 0);
        assert_eq!(run(&prog, DEV_CHAR, ACC_READ, 7, 0), 0, "type matters");
    }

    #[test]
    fn encoding_of_the_prologue() {
        let prog = program(&DevicePolicy { rules: vec![] });
        assert_eq!(prog.len(), 8);
        // r4 = *(u32 *)(r1 + 4): dst 4, src 1.
        assert_eq!(
            prog[4],
            BpfInsn {
                code: 0x61,
                regs: 0x14,
                off: 4,
                imm: 0
            }
        );
        assert_eq!(prog[7].code, EXIT);
        assert_eq!(std::mem::size_of::<BpfInsn>(), 8);
    }
}
