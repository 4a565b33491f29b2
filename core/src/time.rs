//! Times as RFC 3339 UTC text (state files, OCI state, image configs, log timestamps),
//! formatted by `humantime` rather than by hand in every crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, to the second (`2026-12-06T19:40:04Z`).
pub fn rfc3339_seconds(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// A time with nanoseconds (`2026-12-06T19:40:00.123456789Z`).
pub fn rfc3339_nanos(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_the_calendar() {
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(1_796_500_804), "2026-12-05T20:00:04Z");
        assert_eq!(rfc3339_seconds(951_782_400), "2000-02-29T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 5);
        assert_eq!(rfc3339_nanos(t), "2000-02-29T00:00:00.000000005Z");
    }
}
