//! The state store: one folder per environment under a state root (`/run/stockade`).
//!
//! `<root>/<name>/state.json` records the environment's status and every kernel object
//! made for it, written before the object is made so that `delete --force` can undo a
//! create that died at any step. `<root>/<name>/lock` serialises commands on one
//! environment (an advisory `flock`, released by the kernel if the holder dies).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::spec::check_name;

/// Lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being made; a state still `creating` without its creator is a crashed create.
    Creating,
    /// Made; the process waits for `start`.
    Created,
    /// The process runs.
    Running,
    /// The process has exited; kernel objects may remain until `delete`.
    Stopped,
}

/// How the environment's process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Exit code as a shell reports it: the status, or 128+N for signal N.
    pub code: i32,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Why, when known beyond the status (e.g. "out of memory").
    pub reason: Option<String>,
}

/// A kernel object made for an environment, recorded so it can be undone exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Resource {
    /// A folder stockade made (removed, if empty, on delete).
    Dir {
        /// Host path.
        path: PathBuf,
    },
    /// A file stockade wrote into a root that is not its own (a FreeBSD jail's
    /// `/etc/resolv.conf` where the root had none), removed on delete.
    File {
        /// Host path of the file.
        path: PathBuf,
        /// The root it lies in: the removal reaches it from there without following a
        /// symbolic link.
        root: PathBuf,
    },
    /// A mount in the host's mount namespace.
    Mount {
        /// Host path of the mount point.
        path: PathBuf,
    },
    /// A cgroup folder.
    Cgroup {
        /// Absolute path, e.g. `/sys/fs/cgroup/memory/stockade/web`.
        path: PathBuf,
    },
    /// A network interface on the host.
    Interface {
        /// Its name.
        name: String,
    },
    /// A FreeBSD jail.
    Jail {
        /// Its name.
        name: String,
    },
    /// An rctl rule.
    RctlRule {
        /// The rule, e.g. `jail:web:memoryuse:deny=268435456`.
        rule: String,
    },
    /// A ZFS dataset or snapshot (a copy-on-write root on FreeBSD), destroyed on delete.
    Dataset {
        /// Its name, e.g. `zroot/jails/stockade-web` or `zroot/jails/base@stockade-web`.
        name: String,
    },
    /// Packet filter rules of one environment: on Linux its nftables chains
    /// (`<owner>-pre`, `-out`, `-post` in table `inet stockade`) and its claims on host
    /// ports; on FreeBSD its pf anchor (`owner` is `stockade/NAME`).
    Firewall {
        /// Linux: the host interface the chains are named after; FreeBSD: the anchor.
        owner: String,
        /// The host ports claimed, e.g. `tcp/8080`.
        ports: Vec<String>,
    },
    /// A process (the environment's first process or its monitor).
    Process {
        /// Host PID.
        pid: i32,
        /// Its start time (clock ticks since boot), so a recycled PID is never signalled.
        start_time: u64,
    },
}

/// Everything recorded about one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The environment's name.
    pub name: String,
    /// Lifecycle status.
    pub status: Status,
    /// Host PID of the environment's first process, once it exists.
    pub pid: Option<i32>,
    /// Start time of that process (from /proc/PID/stat), to detect PID reuse.
    pub pid_start_time: Option<u64>,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// The spec file it was made from.
    pub spec_file: Option<PathBuf>,
    /// The validated spec, as JSON, so later commands need not reread the file.
    pub spec: serde_json::Value,
    /// How the process ended, once known.
    pub exit: Option<Exit>,
    /// Kernel objects made, in the order made.
    pub resources: Vec<Resource>,
    /// What the backend could not do as asked and why, when that is not an error (a limit
    /// file the kernel lacks, say); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The name cannot be a state folder.
    #[error("invalid environment name: {0}")]
    BadName(String),
    /// An environment of that name exists.
    #[error("an environment named {0:?} already exists (stockade delete {0} removes it)")]
    Exists(String),
    /// No environment of that name.
    #[error("no environment named {0:?} (stockade list shows them)")]
    NotFound(String),
    /// Another stockade command holds the environment.
    #[error("environment {0:?} is busy: another stockade command is working on it")]
    Busy(String),
    /// A filesystem operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A state folder someone else could change: stockade acts on what it records, so
    /// it must be the only writer.
    #[error(
        "{}: {why}: refused, a state folder must be a folder owned by uid {uid} (who runs \
         stockade) that nobody else can write (mode 0700); remove it or pick another --root",
        path.display()
    )]
    Unsafe {
        /// The folder.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
        /// Who should own it.
        uid: u32,
    },
    /// state.json could not be parsed.
    #[error("{}: corrupt state: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// A lifecycle command refused because of the environment's status: the same refusals,
/// worded the same, on every OS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The command needs a running environment.
    #[error("environment {name:?} is not running (status {status}); `stockade start {name}` or `stockade run` it first")]
    NotRunning {
        /// Its name.
        name: String,
        /// Its status.
        status: String,
    },
    /// `start` on an environment that is not waiting for it.
    #[error("environment {name:?} is not waiting to start (status {status})")]
    NotCreated {
        /// Its name.
        name: String,
        /// Its status.
        status: String,
    },
    /// `delete` of a running environment without `--force`.
    #[error(
        "environment {0:?} is running: `stockade stop {0}` first, or `stockade delete --force {0}`"
    )]
    StillRunning(String),
    /// A signal name or number that is not one.
    #[error("unknown signal {0:?}: use a name like TERM, SIGKILL or a number like 9")]
    BadSignal(String),
}

trait WithPath<T> {
    fn at(self, path: &Path) -> Result<T, StateError>;
}

impl<T> WithPath<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, StateError> {
        self.map_err(|source| StateError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// The folder holding every environment's state.
#[derive(Debug, Clone)]
pub struct StateStore {
    root: PathBuf,
}

/// One environment's state folder, locked for as long as this value lives.
#[derive(Debug)]
pub struct Entry {
    dir: PathBuf,
    _lock: File,
    /// The recorded state.
    pub state: State,
}

impl StateStore {
    /// A store rooted at `root` (created on first use, mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateStore { root: root.into() }
    }

    /// The store's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The state folder of `name` (which may not exist).
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Makes the state folder of a new environment and locks it, and writes its record.
    /// Fails if the name is taken.
    pub fn create(&self, state: State) -> Result<Entry, StateError> {
        let entry = self.reserve(state)?;
        entry.save()?;
        Ok(entry)
    }

    /// Makes the state folder of a new environment and locks it, without writing its
    /// record yet: for a creator that saves before it makes the first object the record
    /// must name (each file write is a journal transaction on a disk-backed state root).
    /// Until then the folder reads as an empty record, which `delete --force` removes,
    /// and [`StateStore::peek`] does not find it. Fails if the name is taken.
    pub fn reserve(&self, state: State) -> Result<Entry, StateError> {
        check_name(&state.name).map_err(StateError::BadName)?;
        create_private_dir_all(&self.root)?;
        check_private(&self.root)?;
        let dir = self.dir(&state.name);
        match private_dir_builder().create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StateError::Exists(state.name))
            }
            Err(e) => return Err(e).at(&dir),
        }
        let lock = lock_file(&dir, &state.name, true)?;
        Ok(Entry {
            dir,
            _lock: lock,
            state,
        })
    }

    /// Opens and locks an existing environment, waiting for another command to finish
    /// when `wait` is true.
    pub fn open(&self, name: &str, wait: bool) -> Result<Entry, StateError> {
        check_name(name).map_err(StateError::BadName)?;
        let dir = self.dir(name);
        if !dir.is_dir() {
            return Err(StateError::NotFound(name.to_string()));
        }
        check_private(&self.root)?;
        check_private(&dir)?;
        let lock = lock_file(&dir, name, wait)?;
        let path = dir.join("state.json");
        let text = match read_nofollow(&path) {
            Ok(t) => t,
            // A create killed before its first save leaves only the folder: treat it as an
            // empty state so `delete --force` can remove it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Entry {
                    dir,
                    _lock: lock,
                    state: State::new(name.to_string(), None, serde_json::Value::Null),
                })
            }
            Err(e) => return Err(e).at(&path),
        };
        let state = serde_json::from_slice(&text).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        Ok(Entry {
            dir,
            _lock: lock,
            state,
        })
    }

    /// Reads an environment's state without locking it (for `list` and `state`).
    pub fn peek(&self, name: &str) -> Result<State, StateError> {
        check_name(name).map_err(StateError::BadName)?;
        let path = self.dir(name).join("state.json");
        if self.dir(name).is_dir() {
            check_private(&self.dir(name))?;
        }
        let text = match read_nofollow(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(name.to_string()))
            }
            Err(e) => return Err(e).at(&path),
        };
        serde_json::from_slice(&text).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Names of every environment with a state folder, sorted.
    pub fn names(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).at(&self.root),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }
}

impl State {
    /// A fresh state in `creating`, timestamped now.
    pub fn new(name: String, spec_file: Option<PathBuf>, spec: serde_json::Value) -> Self {
        State {
            name,
            status: Status::Creating,
            pid: None,
            pid_start_time: None,
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            spec_file,
            spec,
            exit: None,
            resources: Vec::new(),
            notes: Vec::new(),
        }
    }
}

impl Entry {
    /// The environment's state folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes state.json atomically (a temporary file put in place of the old one, see
    /// [`replace::put`]), so a crash of stockade never leaves a half-written record. No
    /// fsync: the record must survive a killed process, not a power loss — the state root
    /// is on /run, which a reboot clears along with every kernel object the record names —
    /// and an fsync per record would cost milliseconds on every start where /run is not a
    /// tmpfs.
    pub fn save(&self) -> Result<(), StateError> {
        let path = self.dir.join("state.json");
        let tmp = self.dir.join(".state.json.tmp");
        let json =
            serde_json::to_vec_pretty(&self.state).map_err(|source| StateError::Corrupt {
                path: path.clone(),
                source,
            })?;
        let mut f = private_file(&tmp).at(&tmp)?;
        f.write_all(&json).at(&tmp)?;
        drop(f);
        replace::put(&tmp, &path).at(&path)
    }

    /// Records a kernel object, saving before the caller makes it: after a crash the record
    /// may name an object that was never made (undo tolerates that), never the reverse.
    pub fn record(&mut self, resource: Resource) -> Result<(), StateError> {
        self.state.resources.push(resource);
        self.save()
    }

    /// Removes the state folder (after every resource is undone).
    ///
    /// The folder is first renamed out of its name, atomically: a process waiting for the
    /// lock (a monitor recording an exit) then finds no folder, instead of recreating
    /// `lock` in it while it is being emptied.
    pub fn remove(self) -> Result<(), StateError> {
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let tomb = match (self.dir.parent(), name) {
            (Some(parent), Some(name)) => {
                parent.join(format!(".{name}.deleted.{}", std::process::id()))
            }
            _ => self.dir.clone(),
        };
        let doomed = match fs::rename(&self.dir, &tomb) {
            Ok(()) => &tomb,
            Err(_) => &self.dir,
        };
        fs::remove_dir_all(doomed).at(doomed)
    }
}

/// Putting a freshly written file in place of another, atomically.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod replace {
    use std::fs;
    use std::io;
    use std::path::Path;

    use nix::errno::Errno;
    use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};

    /// Exchanges `tmp` with `path` (`RENAME_EXCHANGE`), then unlinks `tmp`, which then
    /// holds the old record; a plain rename when there is no old record yet.
    ///
    /// Why not rename over the old file: ext4's `auto_da_alloc` makes a rename that
    /// replaces a file allocate the new file's delayed blocks and start their writeback
    /// at once, and freeing those blocks later (the next replacement, `delete`) waits on
    /// the journal. Measured on an ext4 state root (/tmp, `discard`): 2–4 ms for each
    /// replacing rename and as much for the unlink after it, against ~10 µs for an
    /// exchange and an unlink of a never-allocated file. Readers see the old or the new
    /// record, never none, as with a rename; a crash between the exchange and the unlink
    /// leaves the old record under the temporary name, which the next save truncates.
    pub fn put(tmp: &Path, path: &Path) -> io::Result<()> {
        match renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => match fs::remove_file(tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
            // No old record yet, or a file system without exchange (EINVAL).
            Err(Errno::ENOENT | Errno::EINVAL | Errno::ENOSYS) => fs::rename(tmp, path),
            Err(e) => Err(e.into()),
        }
    }
}

/// Putting a freshly written file in place of another, atomically.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod replace {
    use std::io;
    use std::path::Path;

    /// A rename over the old file.
    pub fn put(tmp: &Path, path: &Path) -> io::Result<()> {
        std::fs::rename(tmp, path)
    }
}

fn create_private_dir_all(path: &Path) -> Result<(), StateError> {
    let mut b = private_dir_builder();
    b.recursive(true);
    b.create(path).at(path)
}

fn private_dir_builder() -> fs::DirBuilder {
    use std::os::unix::fs::DirBuilderExt;
    let mut b = fs::DirBuilder::new();
    b.mode(0o700);
    b
}

/// Refuses a state folder that is a symlink, is not a folder, belongs to someone else or
/// can be written by group or others.
pub fn check_private(path: &Path) -> Result<(), StateError> {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::geteuid().as_raw();
    let meta = fs::symlink_metadata(path).at(path)?;
    let why = if meta.file_type().is_symlink() {
        Some("it is a symbolic link".to_string())
    } else if !meta.is_dir() {
        Some("it is not a folder".to_string())
    } else if meta.uid() != uid {
        Some(format!("it belongs to uid {}", meta.uid()))
    } else if meta.mode() & 0o022 != 0 {
        Some(format!(
            "group or others may write it (mode {:o})",
            meta.mode() & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(StateError::Unsafe {
            path: path.to_path_buf(),
            why,
            uid,
        }),
        None => Ok(()),
    }
}

/// Opens for reading without following a symlink in the last component.
fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Creates (or truncates) a file only its owner may read, without following a symlink.
fn private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
}

fn lock_file(dir: &Path, name: &str, wait: bool) -> Result<File, StateError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(&path)
        .at(&path)?;
    if wait {
        file.lock().at(&path)?;
    } else {
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(StateError::Busy(name.to_string())),
            Err(fs::TryLockError::Error(e)) => return Err(e).at(&path),
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str) -> State {
        State::new(name.into(), None, serde_json::json!({"name": name}))
    }

    #[test]
    fn state_folders_are_private_and_others_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path().join("run"));
        drop(store.create(state("web")).unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(store.root()), 0o700);
        assert_eq!(mode(&store.dir("web")), 0o700);
        assert_eq!(mode(&store.dir("web").join("state.json")), 0o600);

        // A folder others may write: refused, naming it and the fix.
        fs::set_permissions(store.dir("web"), fs::Permissions::from_mode(0o777)).unwrap();
        let err = store.open("web", false).unwrap_err();
        assert!(matches!(err, StateError::Unsafe { .. }), "{err}");
        assert!(err.to_string().contains("mode 777"), "{err}");
        assert!(store.peek("web").is_err());
        fs::set_permissions(store.dir("web"), fs::Permissions::from_mode(0o700)).unwrap();
        assert!(store.open("web", false).is_ok());

        // A state folder that is a symlink to one elsewhere: refused.
        let elsewhere = tmp.path().join("elsewhere");
        private_dir_builder().create(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, store.dir("api")).unwrap();
        let err = store.open("api", false).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");

        // A world-writable root (say /tmp itself as --root): refused at create.
        let shared = tmp.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        let err = StateStore::new(&shared).create(state("web")).unwrap_err();
        assert!(matches!(err, StateError::Unsafe { .. }), "{err}");
        assert!(!shared.join("web").exists());

        // state.json replaced by a symlink is not followed.
        std::os::unix::fs::symlink("/etc/hostname", store.dir("web").join("state.json.x")).unwrap();
        fs::rename(
            store.dir("web").join("state.json.x"),
            store.dir("web").join("state.json"),
        )
        .unwrap();
        let err = store.open("web", false).unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }

    #[test]
    fn a_reserved_folder_reads_as_empty_until_its_first_save() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path().join("run"));
        let e = store.reserve(state("job")).unwrap();
        assert!(matches!(
            store.reserve(state("job")),
            Err(StateError::Exists(n)) if n == "job"
        ));
        assert!(matches!(store.peek("job"), Err(StateError::NotFound(_))));
        e.save().unwrap();
        assert_eq!(store.peek("job").unwrap().status, Status::Creating);
        drop(e);
        // A creator that died before its first save leaves a folder delete can remove.
        drop(store.reserve(state("gone")).unwrap());
        let e = store.open("gone", false).unwrap();
        assert!(e.state.resources.is_empty());
        e.remove().unwrap();
        assert_eq!(store.names().unwrap(), ["job"]);
    }

    #[test]
    fn a_save_replaces_the_record_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path().join("run"));
        let mut e = store.create(state("db")).unwrap();
        for status in [Status::Created, Status::Running] {
            e.state.status = status;
            e.save().unwrap();
            assert_eq!(store.peek("db").unwrap().status, status);
            let mut files: Vec<_> = fs::read_dir(e.dir())
                .unwrap()
                .map(|f| f.unwrap().file_name().into_string().unwrap())
                .collect();
            files.sort();
            assert_eq!(files, ["lock", "state.json"]);
        }
    }

    #[test]
    fn create_open_record_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path().join("run"));
        let mut e = store.create(state("web")).unwrap();
        e.record(Resource::Cgroup {
            path: "/sys/fs/cgroup/stockade/web".into(),
        })
        .unwrap();
        assert!(matches!(
            store.open("web", false),
            Err(StateError::Busy(n)) if n == "web"
        ));
        drop(e);
        let e = store.open("web", false).unwrap();
        assert_eq!(e.state.resources.len(), 1);
        assert_eq!(store.peek("web").unwrap().status, Status::Creating);
        assert_eq!(store.names().unwrap(), ["web"]);
        e.remove().unwrap();
        assert!(store.names().unwrap().is_empty());
        assert!(matches!(
            store.open("web", false),
            Err(StateError::NotFound(_))
        ));
    }

    #[test]
    fn names_are_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path());
        let _a = store.create(state("a")).unwrap();
        assert!(matches!(
            store.create(state("a")),
            Err(StateError::Exists(_))
        ));
    }

    #[test]
    fn bad_names_never_become_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path());
        assert!(matches!(
            store.create(state("../x")),
            Err(StateError::BadName(_))
        ));
        assert!(matches!(
            store.open("..", false),
            Err(StateError::BadName(_))
        ));
    }

    #[test]
    fn a_folder_without_state_json_opens_empty_for_forced_delete() {
        let tmp = tempfile::tempdir().unwrap();
        let store = StateStore::new(tmp.path());
        fs::create_dir(tmp.path().join("half")).unwrap();
        let e = store.open("half", false).unwrap();
        assert!(e.state.resources.is_empty());
        e.remove().unwrap();
    }
}
