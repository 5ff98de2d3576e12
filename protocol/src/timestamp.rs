//! MessagePack timestamps (extension type -1) as RFC 3339 text.
//!
//! JavaScript `Date`s and .NET `DateTime`s travel as timestamps; hubs see
//! JSON, where .NET writes dates as ISO 8601 strings, so a timestamp
//! becomes `"2018-01-01T11:24:00Z"` (UTC, a fraction only when there are
//! nanoseconds, without trailing zeros).

use crate::ProtocolError;
use crate::cursor::invalid;

/// The extension type MessagePack reserves for timestamps.
pub(crate) const TIMESTAMP_EXT: i8 = -1;

const SECONDS_PER_DAY: i64 = 86_400;

/// The data of a timestamp in its 32, 64 or 96-bit form, as text.
/// Fails on another length, nanoseconds over 999 999 999, or a year
/// outside 0000..=9999 (RFC 3339 has four-digit years).
pub(crate) fn rfc3339(data: &[u8]) -> Result<String, ProtocolError> {
    let (seconds, nanos) = match *data {
        [a, b, c, d] => (i64::from(u32::from_be_bytes([a, b, c, d])), 0),
        [a, b, c, d, e, f, g, h] => {
            let value = u64::from_be_bytes([a, b, c, d, e, f, g, h]);
            // 30 bits of nanoseconds, then 34 bits of seconds.
            let nanos = u32::try_from(value >> 34).unwrap_or(u32::MAX);
            let seconds = i64::try_from(value & 0x3_ffff_ffff).unwrap_or_default();
            (seconds, nanos)
        }
        [a, b, c, d, ref seconds @ ..] if data.len() == 12 => {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(seconds);
            (i64::from_be_bytes(bytes), u32::from_be_bytes([a, b, c, d]))
        }
        _ => {
            return Err(invalid(format!(
                "Invalid MessagePack timestamp of {} bytes.",
                data.len()
            )));
        }
    };
    if nanos > 999_999_999 {
        return Err(invalid("Invalid MessagePack timestamp nanoseconds."));
    }
    let (year, month, day) = civil_from_days(seconds.div_euclid(SECONDS_PER_DAY));
    if !(0..=9999).contains(&year) {
        return Err(invalid("MessagePack timestamp out of range."));
    }
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    Ok(text)
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a
/// proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (
        year,
        u32::try_from(month).unwrap_or_default(),
        u32::try_from(day).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts64(seconds: u64, nanos: u64) -> Vec<u8> {
        ((nanos << 34) | seconds).to_be_bytes().to_vec()
    }

    fn ts96(seconds: i64, nanos: u32) -> Vec<u8> {
        let mut out = nanos.to_be_bytes().to_vec();
        out.extend_from_slice(&seconds.to_be_bytes());
        out
    }

    #[test]
    fn the_typescript_clients_date() {
        // d6 ff 5a 4a 1a 50: Date.UTC(2018, 0, 1, 11, 24, 0).
        assert_eq!(
            rfc3339(&[0x5a, 0x4a, 0x1a, 0x50]).unwrap(),
            "2018-01-01T11:24:00Z"
        );
    }

    #[test]
    fn all_three_forms() {
        assert_eq!(rfc3339(&[0, 0, 0, 0]).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(&ts64(1_514_805_840, 500_000_000)).unwrap(),
            "2018-01-01T11:24:00.5Z"
        );
        assert_eq!(
            rfc3339(&ts64(1_517_488_496, 123_000_000)).unwrap(),
            "2018-02-01T12:34:56.123Z"
        );
        assert_eq!(
            rfc3339(&ts64(0x3_ffff_ffff, 1)).unwrap(),
            "2514-05-30T01:53:03.000000001Z"
        );
        assert_eq!(
            rfc3339(&ts96(946_684_800, 0)).unwrap(),
            "2000-01-01T00:00:00Z"
        );
    }

    #[test]
    fn before_1970() {
        assert_eq!(rfc3339(&ts96(-1, 0)).unwrap(), "1969-12-31T23:59:59Z");
        // One millisecond before the epoch: seconds -1, 999 ms.
        assert_eq!(
            rfc3339(&ts96(-1, 999_000_000)).unwrap(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339(&ts96(-62_135_596_800, 0)).unwrap(),
            "0001-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339(&ts96(-2_208_988_800, 0)).unwrap(),
            "1900-01-01T00:00:00Z"
        );
        // A leap day.
        assert_eq!(
            rfc3339(&ts96(951_782_400, 0)).unwrap(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        assert!(rfc3339(&[1, 2, 3]).is_err());
        assert!(rfc3339(&ts96(0, 1_000_000_000)).is_err());
        assert!(rfc3339(&ts64(0, 1_000_000_000)).is_err());
        assert!(rfc3339(&ts96(i64::MAX, 0)).is_err());
        assert!(rfc3339(&ts96(i64::MIN, 0)).is_err());
        assert_eq!(
            rfc3339(&ts96(253_402_300_799, 0)).unwrap(),
            "9999-12-31T23:59:59Z"
        );
        assert!(rfc3339(&ts96(253_402_300_800, 0)).is_err());
    }
}
