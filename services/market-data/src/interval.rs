//! Kline intervals and where their buckets start, in ms since the Unix
//! epoch, UTC, like Binance: fixed-length intervals up to `3d` are aligned
//! to the epoch, `1w` buckets start on Monday 00:00 and `1M` buckets on the
//! first day of a calendar month. Integers only.

const SECOND: i64 = 1000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// 1970-01-01 was a Thursday: the first Monday is 4 days later.
const FIRST_MONDAY: i64 = 4 * DAY;

/// One of Binance's kline intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// A fixed length in ms, aligned to the epoch (1s … 3d).
    Fixed(i64),
    /// Monday 00:00 UTC to the next.
    Week,
    /// Calendar months, UTC.
    Month,
}

/// Every interval with its Binance name, shortest first.
pub const ALL: [(&str, Interval); 16] = [
    ("1s", Interval::Fixed(SECOND)),
    ("1m", Interval::Fixed(MINUTE)),
    ("3m", Interval::Fixed(3 * MINUTE)),
    ("5m", Interval::Fixed(5 * MINUTE)),
    ("15m", Interval::Fixed(15 * MINUTE)),
    ("30m", Interval::Fixed(30 * MINUTE)),
    ("1h", Interval::Fixed(HOUR)),
    ("2h", Interval::Fixed(2 * HOUR)),
    ("4h", Interval::Fixed(4 * HOUR)),
    ("6h", Interval::Fixed(6 * HOUR)),
    ("8h", Interval::Fixed(8 * HOUR)),
    ("12h", Interval::Fixed(12 * HOUR)),
    ("1d", Interval::Fixed(DAY)),
    ("3d", Interval::Fixed(3 * DAY)),
    ("1w", Interval::Week),
    ("1M", Interval::Month),
];

/// The 1-minute interval (the 24 h ticker and `avgPrice` are built on it).
pub const ONE_MINUTE: usize = 1;

impl Interval {
    /// The interval named `name` (case-sensitive: `1m` is a minute, `1M` a month).
    pub fn parse(name: &str) -> Option<(usize, Interval)> {
        ALL.iter()
            .position(|(n, _)| *n == name)
            .map(|i| (i, ALL[i].1))
    }

    /// The start of the bucket holding `t`.
    pub fn open_time(self, t: i64) -> i64 {
        match self {
            Interval::Fixed(len) => t - t.rem_euclid(len),
            Interval::Week => t - (t - FIRST_MONDAY).rem_euclid(WEEK),
            Interval::Month => {
                let (y, m, _) = civil_from_days(t.div_euclid(DAY));
                days_from_civil(y, m, 1) * DAY
            }
        }
    }

    /// The start of the bucket after the one starting at `open`.
    pub fn next_open(self, open: i64) -> i64 {
        match self {
            Interval::Fixed(len) => open + len,
            Interval::Week => open + WEEK,
            Interval::Month => {
                let (y, m, _) = civil_from_days(open.div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * DAY
            }
        }
    }

    /// The start of the bucket before the one starting at `open`.
    pub fn prev_open(self, open: i64) -> i64 {
        match self {
            Interval::Fixed(len) => open - len,
            Interval::Week => open - WEEK,
            Interval::Month => self.open_time(open - 1),
        }
    }

    /// The first bucket opening at or after `t`.
    pub fn open_at_or_after(self, t: i64) -> i64 {
        let open = self.open_time(t);
        if open == t {
            open
        } else {
            self.next_open(open)
        }
    }

    /// The last ms of the bucket starting at `open` (Binance's `closeTime`).
    pub fn close_time(self, open: i64) -> i64 {
        self.next_open(open) - 1
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29 13:45:30.123 UTC, a Thursday in a leap year.
    const T: i64 = 1_709_214_330_123;

    fn at(name: &str) -> Interval {
        Interval::parse(name).unwrap().1
    }

    #[test]
    fn names_are_binance_s_and_case_sensitive() {
        assert_eq!(ALL.len(), 16);
        assert_eq!(Interval::parse("1m").unwrap().0, ONE_MINUTE);
        assert_ne!(Interval::parse("1M").unwrap().1, at("1m"));
        for bad in ["", "2m", "1H", "1D", "1W", "60s", "1mo"] {
            assert!(Interval::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn fixed_buckets_align_to_the_epoch() {
        let cases = [
            ("1s", 1_709_214_330_000),
            ("1m", 1_709_214_300_000),
            ("3m", 1_709_214_300_000),
            ("5m", 1_709_214_300_000),
            ("15m", 1_709_214_300_000),
            ("30m", 1_709_213_400_000),
            ("1h", 1_709_211_600_000),
            ("2h", 1_709_208_000_000),
            ("4h", 1_709_208_000_000),
            ("6h", 1_709_208_000_000),
            ("8h", 1_709_193_600_000),
            ("12h", 1_709_208_000_000),
            ("1d", 1_709_164_800_000),
            // 3-day buckets count from 1970-01-01: day 19782 = 3 x 6594 opens one.
            ("3d", 1_709_164_800_000),
        ];
        for (name, open) in cases {
            let i = at(name);
            assert_eq!(i.open_time(T), open, "{name}");
            assert!(i.open_time(T) <= T && T <= i.close_time(open), "{name}");
            // The first ms of a bucket opens it, the last ms still belongs to it.
            assert_eq!(i.open_time(open), open, "{name}");
            assert_eq!(i.open_time(i.close_time(open)), open, "{name}");
            assert_eq!(i.open_time(i.next_open(open)), i.next_open(open), "{name}");
            assert_eq!(i.prev_open(i.next_open(open)), open, "{name}");
            assert_eq!(i.open_at_or_after(T), i.next_open(open), "{name}");
            assert_eq!(i.open_at_or_after(open), open, "{name}");
        }
    }

    #[test]
    fn weeks_start_on_monday() {
        let w = at("1w");
        // Thursday 2024-02-29 → Monday 2024-02-26.
        assert_eq!(w.open_time(T), 1_708_905_600_000);
        assert_eq!(w.close_time(1_708_905_600_000), 1_709_510_399_999);
        // Monday 00:00 opens a week, Sunday 23:59:59.999 ends the previous one.
        assert_eq!(w.open_time(1_708_905_600_000), 1_708_905_600_000);
        assert_eq!(w.open_time(1_708_905_599_999), 1_708_300_800_000);
        // Before the first Monday of the epoch.
        assert_eq!(w.open_time(0), -3 * DAY);
    }

    #[test]
    fn months_follow_the_calendar() {
        let m = at("1M");
        // February 2024 has 29 days.
        assert_eq!(m.open_time(T), 1_706_745_600_000); // 2024-02-01
        assert_eq!(m.next_open(1_706_745_600_000), 1_709_251_200_000); // 2024-03-01
        assert_eq!(m.close_time(1_706_745_600_000), 1_709_251_199_999);
        assert_eq!(m.prev_open(1_709_251_200_000), 1_706_745_600_000);
        assert_eq!(m.prev_open(1_735_689_600_000), 1_733_011_200_000);
        // December rolls into January.
        assert_eq!(m.open_time(1_735_689_599_999), 1_733_011_200_000); // 2024-12-01
        assert_eq!(m.next_open(1_733_011_200_000), 1_735_689_600_000); // 2025-01-01
        assert_eq!(m.open_time(1_735_689_600_000), 1_735_689_600_000);
        // A 31-day month and a 30-day month.
        assert_eq!(m.next_open(1_735_689_600_000) - 1_735_689_600_000, 31 * DAY);
        assert_eq!(m.next_open(1_743_465_600_000) - 1_743_465_600_000, 30 * DAY); // April 2025
        for days in [-1000, 0, 59, 365, 11_016, 19_782, 100_000] {
            let (y, mo, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, mo, d), days);
        }
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
