//! A Linux userland in a jail: FreeBSD's Linux ABI (linux(4), `linux64.ko`).
//!
//! A root is Linux when the spec says `root.abi = "linux"`, or when its `/bin/sh` is a
//! Linux ELF binary ([`elf_abi`], read by the probe and passed in as a plan option). The
//! plan then needs the `linux64` module ([`super::HostError::NoLinuxAbi`]), mounts the
//! file systems Linux programs expect ([`super::mount::plan_abi`]), and sets the jail's
//! `linux.osname` / `linux.osrelease` when given, which is what `uname` reports inside.

use serde::Serialize;
use stockade_core::spec::{Abi, Spec};

use super::jail::{JailParam, JailValue};

/// Which kernel an ELF binary is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElfAbi {
    /// A Linux binary (a Linux dynamic loader, or `ELFOSABI_LINUX`).
    Linux,
    /// A FreeBSD binary (`/libexec/ld-elf.so.1`, or `ELFOSABI_FREEBSD`).
    Freebsd,
}

/// The Linux ABI part of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxAbiPlan {
    /// Found from the root's `/bin/sh` rather than written in the spec.
    pub detected: bool,
    /// `linux.osname`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub osname: Option<String>,
    /// `linux.osrelease`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub osrelease: Option<String>,
}

/// The kernel module the Linux ABI lives in on amd64.
pub const LINUX_MODULE: &str = "linux64";

/// The Linux ABI plan of a spec: from `root.abi`, else from `detected`.
pub fn plan(spec: &Spec, detected: Option<ElfAbi>) -> Option<LinuxAbiPlan> {
    match &spec.root.abi {
        Some(Abi::Linux(l)) => Some(LinuxAbiPlan {
            detected: false,
            osname: l.osname.clone(),
            osrelease: l.osrelease.clone(),
        }),
        Some(Abi::Freebsd) => None,
        None => (detected == Some(ElfAbi::Linux)).then_some(LinuxAbiPlan {
            detected: true,
            osname: None,
            osrelease: None,
        }),
    }
}

/// The jail parameters the plan sets.
pub fn jail_params(linux: &LinuxAbiPlan) -> Vec<JailParam> {
    let mut out = Vec::new();
    if let Some(n) = &linux.osname {
        out.push(JailParam::new("linux.osname", JailValue::Str(n.clone())));
    }
    if let Some(r) = &linux.osrelease {
        out.push(JailParam::new("linux.osrelease", JailValue::Str(r.clone())));
    }
    out
}

const PT_INTERP: u32 = 3;
const ELFOSABI_LINUX: u8 = 3;
const ELFOSABI_FREEBSD: u8 = 9;

/// The ABI of an ELF file from its first bytes (the headers; 4 KiB is plenty for a
/// normal executable): its program interpreter (`PT_INTERP`) names the dynamic loader,
/// else the header's OS ABI byte decides. `None` when the bytes are not a 64-bit
/// little-endian ELF file or say nothing either way (a static SysV binary).
pub fn elf_abi(bytes: &[u8]) -> Option<ElfAbi> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
    // ELF magic, ELFCLASS64, ELFDATA2LSB.
    if bytes.get(..4)? != b"\x7fELF" || bytes.get(4)? != &2 || bytes.get(5)? != &1 {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != PT_INTERP {
            continue;
        }
        let offset = usize::try_from(u64_at(ph + 8)?).ok()?;
        let size = usize::try_from(u64_at(ph + 32)?).ok()?;
        let interp = bytes.get(offset..offset.checked_add(size)?)?;
        let interp = String::from_utf8_lossy(interp);
        if interp.contains("ld-linux") || interp.contains("ld-musl") {
            return Some(ElfAbi::Linux);
        }
        if interp.contains("ld-elf") {
            return Some(ElfAbi::Freebsd);
        }
    }
    match *bytes.get(7)? {
        ELFOSABI_LINUX => Some(ElfAbi::Linux),
        ELFOSABI_FREEBSD => Some(ElfAbi::Freebsd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 header with one PT_INTERP program header naming `interp`.
    fn elf(interp: &str, osabi: u8) -> Vec<u8> {
        let mut b = vec![0u8; 0x40 + 0x38];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[7] = osabi;
        b[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        let off = b.len() as u64;
        b[0x40..0x44].copy_from_slice(&PT_INTERP.to_le_bytes());
        b[0x48..0x50].copy_from_slice(&off.to_le_bytes());
        b[0x60..0x68].copy_from_slice(&(interp.len() as u64 + 1).to_le_bytes());
        b.extend_from_slice(interp.as_bytes());
        b.push(0);
        b
    }

    #[test]
    fn the_interpreter_names_the_abi() {
        assert_eq!(
            elf_abi(&elf("/lib64/ld-linux-x86-64.so.2", 0)),
            Some(ElfAbi::Linux)
        );
        assert_eq!(
            elf_abi(&elf("/lib/ld-musl-x86_64.so.1", 0)),
            Some(ElfAbi::Linux)
        );
        assert_eq!(
            elf_abi(&elf("/libexec/ld-elf.so.1", ELFOSABI_FREEBSD)),
            Some(ElfAbi::Freebsd)
        );
        assert_eq!(elf_abi(&elf("/weird/loader", 0)), None);
        assert_eq!(elf_abi(b"#!/bin/sh\n"), None);
        assert_eq!(elf_abi(&[]), None);
    }

    #[test]
    fn this_hosts_shell_is_read_as_what_it_is() {
        // The test host's own /bin/sh: a real binary, not a fixture.
        let bytes = std::fs::read("/bin/sh").expect("every test host has /bin/sh");
        let expected = if cfg!(target_os = "linux") {
            ElfAbi::Linux
        } else {
            ElfAbi::Freebsd
        };
        assert_eq!(elf_abi(&bytes), Some(expected));
    }

    #[test]
    fn a_static_binary_falls_back_to_the_os_abi_byte() {
        let mut b = elf("", ELFOSABI_FREEBSD);
        b[0x38] = 0; // no program headers
        assert_eq!(elf_abi(&b), Some(ElfAbi::Freebsd));
        b[7] = ELFOSABI_LINUX;
        assert_eq!(elf_abi(&b), Some(ElfAbi::Linux));
    }
}
