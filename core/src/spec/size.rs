//! Sizes as people write them: `"256M"`, `"1.5G"`, `"512KiB"` or plain bytes.

/// Parses a size in bytes. Suffixes are binary (K = 1024) and case-insensitive; `B`/`iB`
/// may follow them. Returns `None` for anything else, or on overflow.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number.replace('_', "");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    let multiplier = 1u64 << shift;
    match number.split_once('.') {
        None => number.parse::<u64>().ok()?.checked_mul(multiplier),
        Some((whole, frac)) => {
            if shift == 0 || frac.contains('.') {
                return None; // fractional bytes make no sense
            }
            let whole = whole.parse::<u64>().ok()?.checked_mul(multiplier)?;
            let digits = frac.len().min(9) as u32;
            let frac: u64 = frac[..digits as usize].parse().ok()?;
            let part = (u128::from(frac) * u128::from(multiplier)) / 10u128.pow(digits);
            whole.checked_add(u64::try_from(part).ok()?)
        }
    }
}

/// Formats bytes with the largest binary suffix that divides them exactly ("256M").
pub fn format_size(bytes: u64) -> String {
    for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_spellings() {
        assert_eq!(parse_size("256M"), Some(268_435_456));
        assert_eq!(parse_size("256m"), Some(268_435_456));
        assert_eq!(parse_size("256MiB"), Some(268_435_456));
        assert_eq!(parse_size("256 MB"), Some(268_435_456));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("1.5G"), Some(3 << 29));
        assert_eq!(parse_size("64K"), Some(65_536));
        assert_eq!(parse_size("2T"), Some(2 << 40));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("1_000"), Some(1000));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "12Q",
            "",
            "M",
            "-1M",
            "1.5",
            "1..5G",
            ".5G",
            "5.G",
            "1 2M",
            "99999999999T",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_size(268_435_456), "256M");
        assert_eq!(format_size(3 << 29), "1536M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(0), "0");
        for n in [1u64, 1024, 65_536, 1 << 30, 12_345] {
            assert_eq!(parse_size(&format_size(n)), Some(n));
        }
    }
}
