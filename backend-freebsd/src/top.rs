//! `stockade top` on FreeBSD: the jail's processes as ps(1) lists them with `-J` (the
//! processes of one jail, host PIDs). Parsing is pure and tested on every OS; running
//! ps is the runtime's (FreeBSD only).

use stockade_core::backend::ProcessInfo;

/// The ps(1) arguments: every process of jail `jail`, without headers, fixed columns
/// (`args` last: it may hold spaces).
pub fn ps_args(jail: &str) -> Vec<String> {
    [
        "-ax",
        "-J",
        jail,
        "-o",
        "pid=,ppid=,uid=,state=,rss=,cputime=,args=",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Parses ps output made with [`ps_args`].
pub fn parse_ps(text: &str) -> Vec<ProcessInfo> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let pid = f.next()?.parse().ok()?;
            let ppid = f.next()?.parse().ok()?;
            let uid = f.next()?.parse().ok()?;
            let state = f.next()?.to_string();
            let rss_kib: Option<u64> = f.next()?.parse().ok();
            let cpu = parse_cputime(f.next()?);
            let command = f.collect::<Vec<_>>().join(" ");
            Some(ProcessInfo {
                pid,
                ppid,
                uid,
                state,
                rss_bytes: rss_kib.map(|k| k * 1024),
                cpu_usec: cpu,
                command,
            })
        })
        .collect()
}

/// `[[dd-]hh:]mm:ss.cc` (ps's cputime) in microseconds.
fn parse_cputime(text: &str) -> Option<u64> {
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, text),
    };
    let mut secs = 0f64;
    for part in rest.split(':') {
        secs = secs * 60.0 + part.parse::<f64>().ok()?;
    }
    Some(((days as f64 * 86_400.0 + secs) * 1e6).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_lines_become_processes() {
        let out = "  812   1  0 Ss   2048  0:00.03 /bin/sh -c sleep 100\n  813 812 80 S    1024  1:02.50 sleep 100\n";
        let p = parse_ps(out);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].pid, p[0].ppid, p[0].uid), (812, 1, 0));
        assert_eq!(p[0].command, "/bin/sh -c sleep 100");
        assert_eq!(p[1].rss_bytes, Some(1024 * 1024));
        assert_eq!(p[1].cpu_usec, Some(62_500_000));
        assert_eq!(parse_cputime("1-00:00:01.00"), Some(86_401_000_000));
        assert!(ps_args("web").contains(&"web".to_string()));
    }
}
