//! The clock and the dates rwsgi writes: Unix time, HTTP dates (through the `httpdate`
//! crate), strftime in UTC and local time (through `jiff`, which reads TZ and the system's
//! zoneinfo itself, so no `localtime_r` through `unsafe`).
//!
//! Must not: cache anything across calls (callers that format once a second cache the text).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::fmt::strtime::{BrokenDownTime, Config};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// Time since the Unix epoch; zero if the clock is set before 1970.
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Whole seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    unix_now().as_secs()
}

/// The last second an HTTP date can name (9999-12-31T23:59:59Z); later times are clamped.
const LAST_HTTP_SECOND: u64 = 253_402_300_799;

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for a Unix time.
pub fn http_date(unix_seconds: u64) -> [u8; 29] {
    let time = UNIX_EPOCH + Duration::from_secs(unix_seconds.min(LAST_HTTP_SECOND));
    let text = httpdate::fmt_http_date(time);
    let mut out = [0u8; 29];
    out.copy_from_slice(&text.as_bytes()[..29]);
    out
}

/// An HTTP date (IMF-fixdate, and the obsolete RFC 850 and asctime forms, as RFC 9110 asks
/// recipients to accept) as Unix seconds.
pub fn parse_http_date(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let time = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// strftime(3) over UTC. Conversions jiff does not know are written as given.
pub fn strftime_utc(format: &str, unix_seconds: u64) -> String {
    let time = Timestamp::from_second(unix_seconds as i64).unwrap_or(Timestamp::UNIX_EPOCH);
    lenient_format(format, BrokenDownTime::from(time))
}

/// strftime(3) in the system's time zone (TZ or /etc/localtime).
pub fn strftime_local(format: &str, unix_seconds: i64) -> String {
    match Timestamp::from_second(unix_seconds) {
        Ok(time) => lenient_format(format, BrokenDownTime::from(&local(time))),
        Err(_) => unix_seconds.to_string(),
    }
}

/// ctime(3)'s layout in local time, without its newline: `Tue Dec  1 16:00:00 2026`.
pub fn ctime_local(unix_seconds: i64) -> String {
    strftime_local("%a %b %e %H:%M:%S %Y", unix_seconds)
}

/// The present moment in the system's time zone (cron's minutes are local).
pub fn local_now() -> ZonedDateTime {
    local(Timestamp::now())
}

fn local(time: Timestamp) -> ZonedDateTime {
    time.to_zoned_datetime(TimeZone::system())
}

fn lenient_format(format: &str, time: BrokenDownTime) -> String {
    time.to_string_with_config(&Config::new().lenient(true), format)
        .unwrap_or_else(|_| format.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(&http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&http_date(1_795_000_000), b"Wed, 18 Nov 2026 11:06:40 GMT");
        assert_eq!(&http_date(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(
            parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date(&http_date(1_795_000_000)),
            Some(1_795_000_000)
        );
        assert_eq!(parse_http_date(b"yesterday"), None);
    }

    #[test]
    fn strftime_in_utc_keeps_unknown_conversions() {
        assert_eq!(
            strftime_utc("%Y-%m-%d %H:%M:%S %a %b %e %y %%", 784_111_777),
            "1994-11-06 08:49:37 Sun Nov  6 94 %"
        );
        assert_eq!(strftime_utc("[%!]", 0), "[%!]");
    }

    #[test]
    fn ctime_layout() {
        let text = ctime_local(784_111_777);
        assert_eq!(text.len(), 24, "{text}");
        assert!(text.ends_with(" 1994"), "{text}");
    }
}
