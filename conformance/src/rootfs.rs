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
    /// `stockade image import --rootfs` of a prepared root failed.
    #[error("cannot import the prepared root as an image: {0}")]
    Import(String),
}

/// Attaches the path to an I/O error.
pub trait At<T> {
    /// `Err(io)` becomes `RootfsError::Io { path, io }`.
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

/// A 64-bit little-endian ELF file's program headers, read just enough to find the
/// interpreter and the libraries it needs.
struct Elf<'a> {
    bytes: &'a [u8],
    /// (type, file offset, virtual address, file size) per program header.
    headers: Vec<(u32, u64, u64, u64)>,
}

impl<'a> Elf<'a> {
    fn parse(bytes: &'a [u8]) -> Option<Elf<'a>> {
        // \x7fELF, ELFCLASS64, ELFDATA2LSB.
        if bytes.get(0..6)? != b"\x7fELF\x02\x01" {
            return None;
        }
        let elf = Elf {
            bytes,
            headers: Vec::new(),
        };
        let phoff = usize::try_from(elf.u64_at(0x20)?).ok()?;
        let phentsize = usize::from(elf.u16_at(0x36)?);
        let phnum = usize::from(elf.u16_at(0x38)?);
        let mut headers = Vec::with_capacity(phnum);
        for i in 0..phnum {
            let ph = phoff + i * phentsize;
            headers.push((
                elf.u32_at(ph)?,
                elf.u64_at(ph + 8)?,
                elf.u64_at(ph + 16)?,
                elf.u64_at(ph + 32)?,
            ));
        }
        Some(Elf { bytes, headers })
    }

    fn u16_at(&self, o: usize) -> Option<u16> {
        Some(u16::from_le_bytes(
            self.bytes.get(o..o + 2)?.try_into().ok()?,
        ))
    }

    fn u32_at(&self, o: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.bytes.get(o..o + 4)?.try_into().ok()?,
        ))
    }

    fn u64_at(&self, o: usize) -> Option<u64> {
        Some(u64::from_le_bytes(
            self.bytes.get(o..o + 8)?.try_into().ok()?,
        ))
    }

    fn c_str_at(&self, o: usize) -> Option<String> {
        let raw = self.bytes.get(o..)?;
        let s = raw.split(|b| *b == 0).next()?;
        Some(String::from_utf8_lossy(s).into_owned())
    }

    /// PT_INTERP.
    fn interpreter(&self) -> Option<PathBuf> {
        let (_, off, _, _) = self.headers.iter().find(|h| h.0 == 3)?;
        Some(PathBuf::from(self.c_str_at(usize::try_from(*off).ok()?)?))
    }

    /// The file offset of a virtual address, through the PT_LOAD segment holding it.
    fn offset_of(&self, vaddr: u64) -> Option<usize> {
        let (_, off, va, _) = self
            .headers
            .iter()
            .find(|h| h.0 == 1 && vaddr >= h.2 && vaddr < h.2 + h.3)?;
        usize::try_from(vaddr - va + off).ok()
    }

    /// The DT_NEEDED names of the PT_DYNAMIC segment.
    fn needed(&self) -> Vec<String> {
        let Some((_, off, _, size)) = self.headers.iter().find(|h| h.0 == 2) else {
            return Vec::new();
        };
        let (Ok(off), Ok(size)) = (usize::try_from(*off), usize::try_from(*size)) else {
            return Vec::new();
        };
        let mut needed = Vec::new();
        let mut strtab = None;
        let mut at = off;
        while at + 16 <= off + size {
            let (Some(tag), Some(val)) = (self.u64_at(at), self.u64_at(at + 8)) else {
                break;
            };
            match tag {
                0 => break,
                1 => needed.push(val),
                5 => strtab = self.offset_of(val),
                _ => {}
            }
            at += 16;
        }
        let Some(strtab) = strtab else {
            return Vec::new();
        };
        needed
            .into_iter()
            .filter_map(|n| self.c_str_at(strtab + usize::try_from(n).ok()?))
            .collect()
    }
}

/// The ELF interpreter (`PT_INTERP`) of a 64-bit little-endian executable, if it has one.
pub fn elf_interpreter(bytes: &[u8]) -> Option<PathBuf> {
    Elf::parse(bytes)?.interpreter()
}

/// The libraries an ELF file names as DT_NEEDED.
pub fn elf_needed(bytes: &[u8]) -> Vec<String> {
    Elf::parse(bytes).map(|e| e.needed()).unwrap_or_default()
}

/// Where the dynamic linkers of Debian-like Linux and of FreeBSD look by default.
const LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// The absolute paths in `ldd` output (`libc.so.6 => /lib/.../libc.so.6 (0x...)`, and on
/// Linux the interpreter on a line of its own).
pub fn ldd_paths(output: &str) -> Vec<PathBuf> {
    output
        .split_whitespace()
        .filter(|t| t.starts_with('/') && !t.ends_with(':'))
        .map(PathBuf::from)
        .collect()
}

/// Everything a dynamically linked `exe` needs at run time: its interpreter and its
/// libraries, found by reading DT_NEEDED (recursively) and looking in the default
/// library folders, plus whatever `ldd` lists where there is one (a busybox guest has
/// none). Empty for a static executable.
pub fn runtime_files(exe: &Path) -> Result<Vec<PathBuf>, RootfsError> {
    let bytes = fs::read(exe).at(exe)?;
    let Some(interp) = elf_interpreter(&bytes) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = LIBRARY_DIRS.iter().map(PathBuf::from).collect();
    if let Some(parent) = interp.parent() {
        dirs.insert(0, parent.to_path_buf());
    }
    let mut files = vec![interp];
    let mut todo = elf_needed(&bytes);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(found) = dirs.iter().map(|d| d.join(&name)).find(|p| p.is_file()) {
            if let Ok(lib) = fs::read(&found) {
                todo.extend(elf_needed(&lib));
            }
            files.push(found);
        }
    }
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
    fn needed_libraries_are_read_from_the_elf_file() {
        let exe = std::env::current_exe().unwrap();
        let bytes = fs::read(&exe).unwrap();
        if elf_interpreter(&bytes).is_none() {
            return; // a static build needs nothing
        }
        let needed = elf_needed(&bytes);
        assert!(
            needed.iter().any(|n| n.starts_with("libc.so")),
            "{needed:?}"
        );
        let files = runtime_files(&exe).unwrap();
        assert!(
            files.iter().any(|f| f
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libc.so"))),
            "{files:?}"
        );
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
