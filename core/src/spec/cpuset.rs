//! CPU lists as the kernel writes them (`"0-1,4"`): cpuset(7)'s "List format", which
//! Linux's `cpuset.cpus` and FreeBSD's `cpuset -l` both read.

use std::fmt;

use serde::{Serialize, Serializer};

/// The largest CPU number accepted: Linux's `NR_CPUS` maximum (8192) and FreeBSD's
/// `CPU_MAXSIZE` (1024 by default) are both below it, so a typo like `"0-100000"` is an
/// error instead of a huge mask.
pub const MAX_CPU: u32 = 8191;

/// A set of CPU numbers, sorted and without duplicates, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpuSet(Vec<u32>);

impl CpuSet {
    /// Parses a list like `"0-1,4"`; says what is wrong otherwise.
    pub fn parse(text: &str) -> Result<CpuSet, String> {
        let mut cpus = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let number = |s: &str| -> Result<u32, String> {
                let n: u32 = s
                    .trim()
                    .parse()
                    .map_err(|_| format!("{s:?} is not a CPU number"))?;
                if n > MAX_CPU {
                    return Err(format!("CPU {n} is above {MAX_CPU}"));
                }
                Ok(n)
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (number(a)?, number(b)?);
                    if a > b {
                        return Err(format!("range {part:?} runs backwards"));
                    }
                    cpus.extend(a..=b);
                }
                None if part.is_empty() => return Err("empty entry in the list".into()),
                None => cpus.push(number(part)?),
            }
        }
        Ok(CpuSet::from_cpus(cpus).expect("the loop pushed at least one CPU or returned"))
    }

    /// A set of these CPUs; `None` when there is none.
    pub fn from_cpus(mut cpus: Vec<u32>) -> Option<CpuSet> {
        cpus.sort_unstable();
        cpus.dedup();
        (!cpus.is_empty()).then_some(CpuSet(cpus))
    }

    /// The CPU numbers, ascending.
    pub fn cpus(&self) -> &[u32] {
        &self.0
    }

    /// How many CPUs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (a set is never empty); for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for CpuSet {
    /// The canonical list form: ranges of consecutive CPUs, `0-1,4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut i = 0;
        while i < self.0.len() {
            let start = self.0[i];
            let mut end = start;
            while i + 1 < self.0.len() && self.0[i + 1] == end + 1 {
                i += 1;
                end += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
            i += 1;
        }
        Ok(())
    }
}

impl Serialize for CpuSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_list_format() {
        let set = CpuSet::parse("4, 0-1,1").unwrap();
        assert_eq!(set.cpus(), [0, 1, 4]);
        assert_eq!(set.to_string(), "0-1,4");
        assert_eq!(CpuSet::parse("0").unwrap().to_string(), "0");
        assert_eq!(CpuSet::parse("0-3,5-6,9").unwrap().to_string(), "0-3,5-6,9");
        assert_eq!(CpuSet::parse("2-2").unwrap().len(), 1);
    }

    #[test]
    fn refuses_what_the_kernel_would() {
        for (text, why) in [
            ("", "empty entry"),
            ("0,,1", "empty entry"),
            ("a", "not a CPU number"),
            ("3-1", "runs backwards"),
            ("-1", "not a CPU number"),
            ("0-9000", "above 8191"),
        ] {
            let err = CpuSet::parse(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }
}
