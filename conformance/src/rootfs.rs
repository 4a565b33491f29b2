//! The files the suite puts at the environments' disposal: the probe folder (bound at
//! `/probe` into `root.host` environments) and prepared roots for `root.path` cases.
//!
//! A prepared root holds only what the cases need: `/probe/stockade-probe` (plus, when
//! the probe is dynamically linked, its ELF interpreter and the libraries `ldd` lists, at
//! the same paths as on the host, so a default debug build works as well as a static
//! musl one), `/probe/not-executable`, `/etc/passwd` and `/etc/group` with a `tester`
//! user, a `/marker` file naming the case, and empty `/proc`, `/dev`, `/sys`, `/tmp`.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The probe's file name inside `/probe`.
pub const PROBE_NAME: &str = "stockade-probe";
/// A file without execute permission, for the 126 case.
pub const NOT_EXECUTABLE: &str = "not-executable";

/// What can go wrong preparing files.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

trait At<T> {
    fn at(self, path: &Path) -> Result<T, RootfsError>;
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, RootfsError> {
        self.map_err(|source| RootfsError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn mkdir(path: &Path, mode: u32) -> Result<(), RootfsError> {
    fs::create_dir_all(path).at(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at(path)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), RootfsError> {
    fs::write(path, text).at(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).at(path)
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), RootfsError> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).at(parent)?;
    }
    fs::copy(from, to).at(from)?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).at(to)
}

/// Fills `dir` with the probe and a non-executable file; every level is world-readable,
/// so a probe running as another user can reach it.
pub fn fill_probe_dir(dir: &Path, probe: &Path) -> Result<(), RootfsError> {
    mkdir(dir, 0o755)?;
    copy(probe, &dir.join(PROBE_NAME), 0o755)?;
    write(
        &dir.join(NOT_EXECUTABLE),
        "#!/bin/sh\necho I should not run\n",
        0o644,
    )
}

/// The ELF interpreter (`PT_INTERP`) of a 64-bit little-endian executable, if it has one.
pub fn elf_interpreter(bytes: &[u8]) -> Option<PathBuf> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(bytes.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?));
    // \x7fELF, ELFCLASS64, ELFDATA2LSB.
    if bytes.get(0..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? == 3 {
            let off = usize::try_from(u64_at(ph + 8)?).ok()?;
            let len = usize::try_from(u64_at(ph + 32)?).ok()?;
            let raw = bytes.get(off..off + len)?;
            let path = raw.split(|b| *b == 0).next()?;
            return Some(PathBuf::from(String::from_utf8_lossy(path).into_owned()));
        }
    }
    None
}

/// The absolute paths in `ldd` output (`libc.so.6 => /lib/.../libc.so.6 (0x...)`, and on
/// Linux the interpreter on a line of its own).
pub fn ldd_paths(output: &str) -> Vec<PathBuf> {
    output
        .split_whitespace()
        .filter(|t| t.starts_with('/') && !t.ends_with(':'))
        .map(PathBuf::from)
        .collect()
}

/// Everything a dynamically linked `exe` needs at run time: its interpreter and the
/// libraries `ldd` lists. Empty for a static executable.
pub fn runtime_files(exe: &Path) -> Result<Vec<PathBuf>, RootfsError> {
    let bytes = fs::read(exe).at(exe)?;
    let Some(interp) = elf_interpreter(&bytes) else {
        return Ok(Vec::new());
    };
    let mut files = vec![interp];
    if let Ok(out) = Command::new("ldd").arg(exe).output() {
        if out.status.success() {
            files.extend(ldd_paths(&String::from_utf8_lossy(&out.stdout)));
        }
    }
    files.retain(|f| f != exe);
    files.sort();
    files.dedup();
    Ok(files)
}

/// Prepares a `root.path` root at `dir` for case `case`.
pub fn prepare_root(
    dir: &Path,
    probe: &Path,
    libs: &[PathBuf],
    case: &str,
) -> Result<(), RootfsError> {
    mkdir(dir, 0o755)?;
    for sub in ["etc", "proc", "dev", "sys", "root", "home/tester"] {
        mkdir(&dir.join(sub), 0o755)?;
    }
    mkdir(&dir.join("tmp"), 0o1777)?;
    fill_probe_dir(&dir.join("probe"), probe)?;
    for lib in libs {
        let inside = dir.join(lib.strip_prefix("/").unwrap_or(lib));
        copy(lib, &inside, 0o755)?;
    }
    write(
        &dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n\
         tester:x:1000:1000:conformance tester:/home/tester:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    )?;
    write(
        &dir.join("etc/group"),
        "root:x:0:\nstaff:x:50:tester\ntester:x:1000:\nnogroup:x:65534:\n",
        0o644,
    )?;
    write(
        &dir.join("marker"),
        &format!("stockade-conformance {case}\n"),
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_library_and_interpreter_paths() {
        let linux = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                     \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                     \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                     \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            ldd_paths(linux),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        let freebsd = "/probe/stockade-probe:\n\tlibc.so.7 => /lib/libc.so.7 (0x8011)\n";
        assert_eq!(ldd_paths(freebsd), [PathBuf::from("/lib/libc.so.7")]);
    }

    #[test]
    fn this_test_binary_has_an_interpreter_unless_static() {
        let exe = std::env::current_exe().unwrap();
        let bytes = fs::read(&exe).unwrap();
        if let Some(interp) = elf_interpreter(&bytes) {
            assert!(interp.is_absolute(), "{}", interp.display());
            assert!(interp.exists(), "{}", interp.display());
        }
        assert_eq!(elf_interpreter(b"not an elf"), None);
    }

    #[test]
    fn a_prepared_root_holds_the_probe_and_its_libraries() {
        let dir = tempfile::tempdir().unwrap();
        let probe = std::env::current_exe().unwrap();
        let libs = runtime_files(&probe).unwrap();
        let root = dir.path().join("root");
        prepare_root(&root, &probe, &libs, "some.case").unwrap();
        assert!(root.join("probe").join(PROBE_NAME).is_file());
        for lib in &libs {
            assert!(
                root.join(lib.strip_prefix("/").unwrap()).is_file(),
                "{}",
                lib.display()
            );
        }
        let marker = fs::read_to_string(root.join("marker")).unwrap();
        assert_eq!(marker, "stockade-conformance some.case\n");
        let mode = fs::metadata(root.join("probe").join(NOT_EXECUTABLE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0);
    }
}
