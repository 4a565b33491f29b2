//! The output log of a detached environment, in its state folder (0700, removed by
//! `delete` with the folder).
//!
//! The raw stream is kept byte-exact in `output.log`; when it with its next chunk would
//! pass the cap it is rotated to `output.log.1` (one older file kept, so at most twice the
//! cap is on disk). Timestamps live beside it in `output.idx` (`output.idx.1`): one line per
//! chunk written, `<offset> <length> <seconds>.<nanoseconds> <o|e>`, so `--timestamps`,
//! `--since` and the stream of each chunk are known without touching the raw bytes.
//! The monitor writes a chunk's bytes before its index line, so a reader that sees a line
//! can read its bytes.
//!
//! Every file is opened relative to the state folder's descriptor, which is opened
//! without following a symlink (`O_DIRECTORY | O_NOFOLLOW`), and with `O_NOFOLLOW` itself:
//! a log name replaced by a symlink is refused (ELOOP), never followed to another file.
//! The names are single components, so this is what openat2's `RESOLVE_NO_SYMLINKS`
//! would give, and it works on FreeBSD and on kernels before 5.6 alike.

use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::Mode;

/// The raw log's file name in the state folder.
pub const LOG: &str = "output.log";
/// The index's file name.
pub const INDEX: &str = "output.idx";
/// The attach socket of a detached terminal (`create -t`, `run -d -t`), served by the
/// monitor while the process runs.
pub const ATTACH_SOCKET: &str = "attach.sock";
/// The default cap of one log file, in bytes.
pub const DEFAULT_CAP: u64 = 8 << 20;

/// Which stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout (or a terminal).
    Out,
    /// stderr.
    Err,
}

impl Stream {
    fn letter(self) -> char {
        match self {
            Stream::Out => 'o',
            Stream::Err => 'e',
        }
    }
}

/// Appends output to an environment's log, rotating at the cap.
#[derive(Debug)]
pub struct LogWriter {
    dir: OwnedFd,
    raw: File,
    index: File,
    size: u64,
    cap: u64,
}

/// The state folder, never through a symlink.
fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("{}: {e}", dir.display())))
}

/// `name` in `dir`, never through a symlink.
fn open_in(dir: &OwnedFd, name: &str, flags: OFlag) -> io::Result<File> {
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("{name}: {e}")))?;
    Ok(File::from(fd))
}

fn open_append(dir: &OwnedFd, name: &str) -> io::Result<File> {
    open_in(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
    )
}

impl LogWriter {
    /// Opens (or continues) the log in `dir`; `cap` is the size of one file.
    pub fn open(dir: &Path, cap: u64) -> io::Result<LogWriter> {
        let dir = open_dir(dir)?;
        let raw = open_append(&dir, LOG)?;
        let index = open_append(&dir, INDEX)?;
        let size = raw.metadata()?.len();
        Ok(LogWriter {
            dir,
            raw,
            index,
            size,
            cap: cap.max(1),
        })
    }

    /// Appends one chunk read at `at`.
    pub fn write(&mut self, stream: Stream, bytes: &[u8], at: SystemTime) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.size > 0 && self.size + bytes.len() as u64 > self.cap {
            self.rotate()?;
        }
        self.raw.write_all(bytes)?;
        let t = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        writeln!(
            self.index,
            "{} {} {}.{:09} {}",
            self.size,
            bytes.len(),
            t.as_secs(),
            t.subsec_nanos(),
            stream.letter()
        )?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        for name in [LOG, INDEX] {
            nix::fcntl::renameat(&self.dir, name, &self.dir, format!("{name}.1").as_str())?;
        }
        self.raw = open_append(&self.dir, LOG)?;
        self.index = open_append(&self.dir, INDEX)?;
        self.size = 0;
        Ok(())
    }
}

/// One chunk of output, as the monitor read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Its stream.
    pub stream: Stream,
    /// When it was read.
    pub time: SystemTime,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Reads a log incrementally: every chunk once, across rotations (`-f`).
#[derive(Debug)]
pub struct LogReader {
    dir: OwnedFd,
    /// Index lines of the current file consumed so far.
    lines_done: usize,
    /// The identity of the current raw file, to notice a rotation.
    current: Option<(u64, u64)>,
}

fn identity(dir: &OwnedFd, name: &str) -> Option<(u64, u64)> {
    nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| (st.st_dev, st.st_ino))
}

impl LogReader {
    /// A reader at the start of the log in `dir` (the rotated file first).
    pub fn new(dir: &Path) -> io::Result<(LogReader, Vec<Chunk>)> {
        let dir = open_dir(dir)?;
        let mut chunks = read_pair(&dir, &format!("{LOG}.1"), &format!("{INDEX}.1"), 0)?.0;
        let mut reader = LogReader {
            dir,
            lines_done: 0,
            current: None,
        };
        chunks.extend(reader.next_chunks()?);
        Ok((reader, chunks))
    }

    /// The chunks written since the last call.
    pub fn next_chunks(&mut self) -> io::Result<Vec<Chunk>> {
        let now = identity(&self.dir, LOG);
        let mut out = Vec::new();
        if self.current.is_some() && now != self.current {
            // Rotated since the last call: the rest of the old file is `.1` now.
            let rotated = format!("{LOG}.1");
            if identity(&self.dir, &rotated) == self.current {
                let (rest, _) =
                    read_pair(&self.dir, &rotated, &format!("{INDEX}.1"), self.lines_done)?;
                out.extend(rest);
            }
            self.lines_done = 0;
        }
        self.current = now;
        let (chunks, lines) = read_pair(&self.dir, LOG, INDEX, self.lines_done)?;
        self.lines_done = lines;
        out.extend(chunks);
        Ok(out)
    }
}

/// Reads the chunks of one raw file after index line `skip`; returns them and the count
/// of complete index lines. Missing files read as empty.
fn read_pair(
    dir: &OwnedFd,
    log: &str,
    index: &str,
    skip: usize,
) -> io::Result<(Vec<Chunk>, usize)> {
    let mut text = String::new();
    match open_in(dir, index, OFlag::O_RDONLY) {
        Ok(mut f) => f.read_to_string(&mut text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    // A line without its newline is still being written: leave it for the next call.
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let lines: Vec<&str> = complete.lines().collect();
    let mut raw = match open_in(dir, log, OFlag::O_RDONLY) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut chunks = Vec::new();
    for line in lines.iter().skip(skip) {
        let Some((offset, len, time, stream)) = parse_index_line(line) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{index}: bad index line {line:?}"),
            ));
        };
        raw.seek(SeekFrom::Start(offset))?;
        let mut bytes = vec![0u8; len];
        raw.read_exact(&mut bytes)?;
        chunks.push(Chunk {
            stream,
            time,
            bytes,
        });
    }
    Ok((chunks, lines.len()))
}

fn parse_index_line(line: &str) -> Option<(u64, usize, SystemTime, Stream)> {
    let mut f = line.split(' ');
    let offset = f.next()?.parse().ok()?;
    let len = f.next()?.parse().ok()?;
    let (secs, nanos) = f.next()?.split_once('.')?;
    let time = UNIX_EPOCH + Duration::new(secs.parse().ok()?, nanos.parse().ok()?);
    let stream = match f.next()? {
        "o" => Stream::Out,
        "e" => Stream::Err,
        _ => return None,
    };
    Some((offset, len, time, stream))
}

/// A line of output with the time its first byte was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When its first byte was read.
    pub time: SystemTime,
    /// Its bytes, the newline included when it has one.
    pub bytes: Vec<u8>,
}

/// Splits chunks into lines (`partial` carries an unfinished line across calls).
pub fn lines(chunks: &[Chunk], partial: &mut Option<Line>) -> Vec<Line> {
    let mut out = Vec::new();
    for chunk in chunks {
        for piece in chunk.bytes.split_inclusive(|b| *b == b'\n') {
            let line = partial.get_or_insert_with(|| Line {
                time: chunk.time,
                bytes: Vec::new(),
            });
            line.bytes.extend_from_slice(piece);
            if piece.ends_with(b"\n") {
                out.extend(partial.take());
            }
        }
    }
    out
}

/// A time as RFC 3339 in UTC with nanoseconds (`2026-12-06T19:40:00.123456789Z`).
pub fn rfc3339(t: SystemTime) -> String {
    crate::time::rfc3339_nanos(t)
}

/// `--since`: a duration back from `now` (`90s`, `10m`, `2h`, `1d`), an RFC 3339 time
/// (`2026-12-06T19:40:00Z`, fraction and `+hh:mm` offset allowed) or Unix seconds.
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let bad = || {
        format!("--since {text:?}: expected a duration (10s, 5m, 2h, 1d), an RFC 3339 time (2026-12-06T19:40:00Z) or Unix seconds")
    };
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(UNIX_EPOCH + Duration::from_secs(secs));
    }
    if let Some(unit) = text.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = text[..text.len() - 1].parse::<u64>() {
            let mult = match unit {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                _ => 86_400,
            };
            return Ok(now
                .checked_sub(Duration::from_secs(n.saturating_mul(mult)))
                .unwrap_or(UNIX_EPOCH));
        }
    }
    parse_rfc3339(text).ok_or_else(bad)
}

fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        let padded = format!("{:0<9}", &frac[..digits.min(9)]);
        nanos = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some(UNIX_EPOCH + Duration::new(u64::try_from(secs).ok()?, nanos))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn chunks_come_back_byte_exact_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), 10).unwrap();
        let (mut reader, first) = LogReader::new(dir.path()).unwrap();
        assert!(first.is_empty());
        w.write(Stream::Out, b"hello\n", at(1)).unwrap();
        w.write(Stream::Err, b"oops\n", at(2)).unwrap();
        // The second chunk would pass the cap: the first file is now output.log.1, and the
        // reader finishes it before the new one.
        let got = reader.next_chunks().unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            fs::read(dir.path().join("output.log.1")).unwrap(),
            b"hello\n"
        );
        w.write(Stream::Out, b"\x00\xffbin", at(3)).unwrap();
        let got2 = reader.next_chunks().unwrap();
        assert_eq!(got2.len(), 1);
        let all: Vec<_> = got.iter().chain(&got2).cloned().collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].stream, Stream::Err);
        assert_eq!(all[2].bytes, b"\x00\xffbin");
        assert_eq!(all[2].time, at(3));
        let (_, again) = LogReader::new(dir.path()).unwrap();
        assert_eq!(again[1..], all[1..]);
        // A third rotation drops the oldest file: at most two are kept.
        w.write(Stream::Out, b"0123456789", at(4)).unwrap();
        let (_, kept) = LogReader::new(dir.path()).unwrap();
        assert_eq!(kept.iter().map(|c| c.bytes.len()).sum::<usize>(), 10 + 10);
    }

    #[test]
    fn log_names_replaced_by_symlinks_are_refused_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "precious\n").unwrap();
        std::os::unix::fs::symlink(&outside, state.join(LOG)).unwrap();
        // The writer: refused (ELOOP), and the file the link names is left as it was.
        let err = LogWriter::open(&state, 10).unwrap_err();
        assert!(err.to_string().contains(LOG), "{err}");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious\n");
        // The reader: refused too, never reading through the link.
        fs::remove_file(state.join(LOG)).unwrap();
        std::os::unix::fs::symlink(&outside, state.join(INDEX)).unwrap();
        assert!(LogReader::new(&state).is_err());
        // A state folder that is itself a symlink is refused.
        fs::remove_file(state.join(INDEX)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&state, &link).unwrap();
        assert!(LogWriter::open(&link, 10).is_err());
        assert!(LogWriter::open(&state, 10).is_ok());
    }

    #[test]
    fn a_rotated_name_planted_as_a_symlink_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        fs::write(&outside, "precious\n").unwrap();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        let mut w = LogWriter::open(&state, 4).unwrap();
        std::os::unix::fs::symlink(&outside, state.join(format!("{LOG}.1"))).unwrap();
        w.write(Stream::Out, b"abc", at(1)).unwrap();
        w.write(Stream::Out, b"def", at(2)).unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious\n");
        assert_eq!(fs::read(state.join(format!("{LOG}.1"))).unwrap(), b"abc");
    }

    #[test]
    fn lines_take_the_time_of_their_first_byte() {
        let c = |b: &[u8], s| Chunk {
            stream: Stream::Out,
            time: at(s),
            bytes: b.to_vec(),
        };
        let mut partial = None;
        let got = lines(&[c(b"ab", 1), c(b"c\nd\ne", 2)], &mut partial);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].bytes.as_slice(), got[0].time),
            (b"abc\n".as_slice(), at(1))
        );
        assert_eq!(
            (got[1].bytes.as_slice(), got[1].time),
            (b"d\n".as_slice(), at(2))
        );
        assert_eq!(partial.unwrap().bytes, b"e");
    }

    #[test]
    fn times_print_and_parse_as_rfc3339() {
        let t = UNIX_EPOCH + Duration::new(1_796_585_400, 5);
        let text = rfc3339(t);
        assert_eq!(text, "2026-12-06T19:30:00.000000005Z");
        let now = at(2_000_000_000);
        assert_eq!(parse_since(&text, now).unwrap(), t);
        assert_eq!(
            parse_since("2026-12-06T20:30:00+01:00", now).unwrap(),
            at(1_796_585_400)
        );
        assert_eq!(parse_since("10m", now).unwrap(), at(2_000_000_000 - 600));
        assert_eq!(parse_since("1700000000", now).unwrap(), at(1_700_000_000));
        assert!(parse_since("yesterday", now)
            .unwrap_err()
            .contains("--since"));
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00.000000000Z");
    }
}
