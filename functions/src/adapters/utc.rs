//! UTC timestamps in the form EventBridge Scheduler's `at()` expressions take.

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `yyyy-mm-ddThh:mm:ss` in UTC, the form of EventBridge Scheduler `at()` expressions.
/// Sub-second precision is rounded up, so a schedule never fires early.
pub fn format_utc_seconds(ms: u64) -> String {
    let secs = ms.div_ceil(1000) as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3_600,
        (rem % 3_600) / 60,
        rem % 60
    )
}

/// Parses what [`format_utc_seconds`] writes.
pub fn parse_utc_seconds(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let mut time = time.split(':');
    let hours: i64 = time.next()?.parse().ok()?;
    let minutes: i64 = time.next()?.parse().ok()?;
    let seconds: i64 = time.next()?.trim_end_matches('Z').parse().ok()?;
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hours > 23
        || minutes > 59
        || seconds > 60
    {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hours * 3_600 + minutes * 60 + seconds;
    u64::try_from(secs).ok().map(|secs| secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_timestamps_round_trip() {
        assert_eq!(format_utc_seconds(0), "1970-01-01T00:00:00");
        assert_eq!(format_utc_seconds(951_782_400_000), "2000-02-29T00:00:00");
        assert_eq!(
            format_utc_seconds(1_795_046_400_500),
            "2026-11-19T00:00:01",
            "rounds up"
        );
        for ms in [0u64, 951_782_400_000, 1_795_046_400_000, 4_102_444_799_000] {
            assert_eq!(parse_utc_seconds(&format_utc_seconds(ms)), Some(ms));
        }
        assert_eq!(parse_utc_seconds("2026-13-01T00:00:00"), None);
        assert_eq!(parse_utc_seconds("yesterday"), None);
    }
}
