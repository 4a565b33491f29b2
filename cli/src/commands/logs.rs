//! `stockade logs NAME [-f] [--since T] [--tail N] [--timestamps]`: the output of a
//! detached environment (`create`, `run -d`), from the log its monitor keeps in the state
//! folder. stdout's chunks go to stdout, stderr's to stderr, byte for byte; `-f` follows
//! until the environment has stopped.

use std::io::{self, Write as _};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use stockade_core::backend::Runtime;
use stockade_core::logs::{self, Chunk, Line, LogReader, Stream};
use stockade_core::state::{StateStore, Status};

/// Arguments of `logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep printing new output until the environment stops.
    #[arg(short, long)]
    pub follow: bool,
    /// Only output read at or after this time: a duration back from now (10s, 5m, 2h,
    /// 1d), an RFC 3339 time (2026-12-06T19:40:00Z) or Unix seconds.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only the last N lines (of both streams together).
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Put the time each line was read before it (RFC 3339, UTC).
    #[arg(short, long)]
    pub timestamps: bool,
    /// The environment.
    pub name: String,
}

/// How often `-f` looks for new output.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Runs `logs`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    // Fails clearly for an environment that does not exist.
    rt.state(store, &args.name)?;
    let since = match &args.since {
        Some(text) => Some(logs::parse_since(text, SystemTime::now()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let dir = store.dir(&args.name);
    let (mut reader, first) = LogReader::new(&dir)?;
    let mut printer = Printer {
        since,
        timestamps: args.timestamps,
        partial: [None, None],
    };
    let result = (|| -> io::Result<()> {
        match args.tail {
            Some(n) => printer.tail(&first, n)?,
            None => printer.chunks(&first)?,
        }
        if !args.follow {
            return printer.flush_partials();
        }
        loop {
            let stopped = !matches!(
                rt.state(store, &args.name).map(|s| s.status),
                Ok(Status::Created | Status::Running)
            );
            // Read after looking at the status: what was written before the stop is read.
            let more = reader.next_chunks()?;
            printer.chunks(&more)?;
            if stopped {
                return printer.flush_partials();
            }
            std::thread::sleep(FOLLOW_EVERY);
        }
    })();
    match result {
        // A reader that went away (`logs | head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

struct Printer {
    since: Option<SystemTime>,
    timestamps: bool,
    /// Unfinished lines of stdout and stderr (timestamps mode).
    partial: [Option<Line>; 2],
}

fn slot(stream: Stream) -> usize {
    match stream {
        Stream::Out => 0,
        Stream::Err => 1,
    }
}

fn write(stream: Stream, bytes: &[u8]) -> io::Result<()> {
    match stream {
        Stream::Out => {
            let mut out = io::stdout().lock();
            out.write_all(bytes)?;
            out.flush()
        }
        Stream::Err => io::stderr().lock().write_all(bytes),
    }
}

impl Printer {
    fn keep(since: Option<SystemTime>, c: &Chunk) -> bool {
        since.is_none_or(|t| c.time >= t)
    }

    fn line_bytes(&self, line: &Line) -> Vec<u8> {
        if !self.timestamps {
            return line.bytes.clone();
        }
        let mut b = format!("{} ", logs::rfc3339(line.time)).into_bytes();
        b.extend_from_slice(&line.bytes);
        b
    }

    fn chunks(&mut self, chunks: &[Chunk]) -> io::Result<()> {
        for c in chunks.iter().filter(|c| Self::keep(self.since, c)) {
            if !self.timestamps {
                write(c.stream, &c.bytes)?;
                continue;
            }
            let done = logs::lines(std::slice::from_ref(c), &mut self.partial[slot(c.stream)]);
            for line in done {
                write(c.stream, &self.line_bytes(&line))?;
            }
        }
        Ok(())
    }

    /// The last `n` lines of both streams, in the order they were written.
    fn tail(&mut self, chunks: &[Chunk], n: usize) -> io::Result<()> {
        let mut all: Vec<(Stream, Line)> = Vec::new();
        let mut partial: [Option<Line>; 2] = [None, None];
        for c in chunks.iter().filter(|c| Self::keep(self.since, c)) {
            let done = logs::lines(std::slice::from_ref(c), &mut partial[slot(c.stream)]);
            all.extend(done.into_iter().map(|l| (c.stream, l)));
        }
        for (i, p) in partial.into_iter().enumerate() {
            if let Some(line) = p {
                all.push((if i == 0 { Stream::Out } else { Stream::Err }, line));
            }
        }
        all.sort_by_key(|(_, l)| l.time);
        for (stream, line) in all.iter().skip(all.len().saturating_sub(n)) {
            write(*stream, &self.line_bytes(line))?;
        }
        Ok(())
    }

    fn flush_partials(&mut self) -> io::Result<()> {
        for i in 0..2 {
            if let Some(line) = self.partial[i].take() {
                let stream = if i == 0 { Stream::Out } else { Stream::Err };
                write(stream, &self.line_bytes(&line))?;
            }
        }
        Ok(())
    }
}
