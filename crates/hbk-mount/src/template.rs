//! restic's mount templates: path templates (`hosts/%h/%T`) expanded
//! per snapshot, and Go's reference-time layouts (`2006-01-02T15:04:05Z07:00`)
//! for `%T`. Pure functions; the layout and templates come from the user.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// The templates restic uses when none is given.
pub const DEFAULT_PATH_TEMPLATES: [&str; 4] =
    ["ids/%i", "snapshots/%T", "hosts/%h/%T", "tags/%t/%T"];

/// Go's `time.RFC3339`, restic's default time template.
pub const DEFAULT_TIME_TEMPLATE: &str = "2006-01-02T15:04:05Z07:00";

/// What a path template may refer to.
#[derive(Debug, Clone)]
pub struct SnapshotFacts<'a> {
    /// Short id (`%i`).
    pub short_id: &'a str,
    /// Full id (`%I`).
    pub id: &'a str,
    /// User (`%u`).
    pub user: &'a str,
    /// Host (`%h`).
    pub host: &'a str,
    /// Tags (`%t`: one path per tag; no tags, no path).
    pub tags: &'a [String],
    /// Time (`%T`, formatted by the time template).
    pub time: DateTime<FixedOffset>,
}

/// A tag as a file name: `/` becomes `_`, and the names `""`, `.` and
/// `..` become `_`, `_` and `__`.
pub fn tag_file_name(tag: &str) -> String {
    match tag {
        "" | "." => "_".into(),
        ".." => "__".into(),
        t => t.replace('/', "_"),
    }
}

/// Expands `template` for one snapshot: the paths it names (several for
/// `%t` with several tags, none without tags), and the formatted time
/// when the template ends in `%T` (the caller appends it to each path,
/// making it unique, and links `latest` to the newest).
pub fn expand(
    template: &str,
    time_template: &str,
    sn: &SnapshotFacts<'_>,
) -> (Vec<String>, Option<String>) {
    let time = format_go_time(time_template, &sn.time);
    let mut outs = vec![String::new()];
    let mut chars = template.chars().peekable();
    let mut pending_time = false;
    while let Some(c) = chars.next() {
        if pending_time {
            outs.iter_mut().for_each(|o| o.push_str(&time));
            pending_time = false;
        }
        if c != '%' {
            outs.iter_mut().for_each(|o| o.push(c));
            continue;
        }
        let Some(verb) = chars.next() else {
            break;
        };
        let repl = match verb {
            'T' => {
                pending_time = true;
                continue;
            }
            't' => match sn.tags {
                [] => return (Vec::new(), None),
                [one] => one.clone(),
                many => {
                    outs = many
                        .iter()
                        .flat_map(|t| outs.iter().map(move |o| format!("{o}{}", tag_file_name(t))))
                        .collect();
                    continue;
                }
            },
            'i' => sn.short_id.to_string(),
            'I' => sn.id.to_string(),
            'u' => sn.user.to_string(),
            'h' => sn.host.to_string(),
            other => other.to_string(),
        };
        outs.iter_mut().for_each(|o| o.push_str(&repl));
    }
    (outs, pending_time.then_some(time))
}

/// The part of `template` before the directory holding its first verb:
/// a directory that exists even when no snapshot fills it (`hosts` of
/// `hosts/%h/%T`). Empty when there is none.
pub fn static_prefix(template: &str) -> &str {
    let mut prev_percent = false;
    for (i, c) in template.char_indices() {
        if prev_percent {
            prev_percent = false;
            if matches!(c, 'i' | 'I' | 'u' | 'h' | 't' | 'T') {
                let head = &template[..i - 1];
                return head.rfind('/').map_or("", |at| &head[..at]);
            }
        } else if c == '%' {
            prev_percent = true;
        }
    }
    ""
}

/// Formats `t` by a Go reference-time layout (`Mon Jan 2 15:04:05 -0700
/// MST 2006`): every element Go's `time.Format` knows is replaced, the
/// rest is copied.
pub fn format_go_time(layout: &str, t: &DateTime<FixedOffset>) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let month = MONTHS[t.month0() as usize];
    let day = DAYS[t.weekday().num_days_from_sunday() as usize];
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let offset = t.offset().local_minus_utc();
    let zone = |colon: bool, seconds: bool, z: bool| -> String {
        if z && offset == 0 {
            return "Z".into();
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let a = offset.unsigned_abs();
        let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
        let sep = if colon { ":" } else { "" };
        let mut out = format!("{sign}{h:02}{sep}{m:02}");
        if seconds {
            out.push_str(&format!("{sep}{s:02}"));
        }
        out
    };
    let lower_next = |rest: &str| rest.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let mut out = String::new();
    let mut rest = layout;
    while let Some(c) = rest.chars().next() {
        let take = |s: &str| rest.starts_with(s);
        let (text, len): (String, usize) = if take("January") {
            (month.into(), 7)
        } else if take("Jan") && !lower_next(&rest[3..]) {
            (month[..3].into(), 3)
        } else if take("Monday") {
            (day.into(), 6)
        } else if take("Mon") && !lower_next(&rest[3..]) {
            (day[..3].into(), 3)
        } else if take("MST") {
            (zone(false, false, false), 3)
        } else if take("2006") {
            (format!("{:04}", t.year()), 4)
        } else if take("Z07:00:00") {
            (zone(true, true, true), 9)
        } else if take("-07:00:00") {
            (zone(true, true, false), 9)
        } else if take("Z070000") {
            (zone(false, true, true), 7)
        } else if take("-070000") {
            (zone(false, true, false), 7)
        } else if take("Z07:00") {
            (zone(true, false, true), 6)
        } else if take("-07:00") {
            (zone(true, false, false), 6)
        } else if take("Z0700") {
            (zone(false, false, true), 5)
        } else if take("-0700") {
            (zone(false, false, false), 5)
        } else if take("Z07") {
            (
                zone(false, false, true)[..3.min(zone(false, false, true).len())].into(),
                3,
            )
        } else if take("-07") {
            (zone(false, false, false)[..3].into(), 3)
        } else if take("002") {
            (format!("{:03}", t.ordinal()), 3)
        } else if take("__2") {
            (format!("{:>3}", t.ordinal()), 3)
        } else if take("_2") {
            (format!("{:>2}", t.day()), 2)
        } else if take("15") {
            (format!("{:02}", t.hour()), 2)
        } else if take("01") {
            (format!("{:02}", t.month()), 2)
        } else if take("02") {
            (format!("{:02}", t.day()), 2)
        } else if take("03") {
            (format!("{hour12:02}"), 2)
        } else if take("04") {
            (format!("{:02}", t.minute()), 2)
        } else if take("05") {
            (format!("{:02}", t.second()), 2)
        } else if take("06") {
            (format!("{:02}", t.year().rem_euclid(100)), 2)
        } else if take("PM") {
            ((if t.hour() >= 12 { "PM" } else { "AM" }).into(), 2)
        } else if take("pm") {
            ((if t.hour() >= 12 { "pm" } else { "am" }).into(), 2)
        } else if let Some((digits, len)) = fraction(rest) {
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let mut f = nanos[..digits.len()].to_string();
            if digits.starts_with('9') {
                f = f.trim_end_matches('0').to_string();
            }
            let sep = &rest[..1];
            (
                if f.is_empty() {
                    String::new()
                } else {
                    format!("{sep}{f}")
                },
                len,
            )
        } else {
            match c {
                '1' => (t.month().to_string(), 1),
                '2' => (t.day().to_string(), 1),
                '3' => (hour12.to_string(), 1),
                '4' => (t.minute().to_string(), 1),
                '5' => (t.second().to_string(), 1),
                _ => (c.to_string(), c.len_utf8()),
            }
        };
        out.push_str(&text);
        rest = &rest[len..];
    }
    out
}

/// A fractional-second element at the start of `s`: `.` or `,` and a
/// run of `0`s or `9`s not followed by a digit. Returns the run and the
/// element's length.
fn fraction(s: &str) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    if !matches!(b.first(), Some(b'.' | b',')) {
        return None;
    }
    let d = *b.get(1)?;
    if d != b'0' && d != b'9' {
        return None;
    }
    let n = b[1..].iter().take_while(|x| **x == d).count();
    if n > 9 || b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((&s[1..1 + n], 1 + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn go_layouts_format_like_go() {
        let x = t("2026-11-07T03:04:05.123456789+01:00");
        assert_eq!(
            format_go_time(DEFAULT_TIME_TEMPLATE, &x),
            "2026-11-07T03:04:05+01:00"
        );
        assert_eq!(
            format_go_time("2006-01-02_15-04-05", &x),
            "2026-11-07_03-04-05"
        );
        assert_eq!(
            format_go_time("Mon Jan _2 3:4:5 PM 06", &x),
            "Sat Nov  7 3:4:5 AM 26"
        );
        assert_eq!(
            format_go_time("Monday, January 2 2006 -0700", &x),
            "Saturday, November 7 2026 +0100"
        );
        assert_eq!(format_go_time("15:04:05.000", &x), "03:04:05.123");
        assert_eq!(
            format_go_time("05.999999999", &t("2026-01-01T00:00:07.5Z")),
            "07.5"
        );
        assert_eq!(
            format_go_time(DEFAULT_TIME_TEMPLATE, &t("2026-01-01T00:00:07Z")),
            "2026-01-01T00:00:07Z"
        );
        assert_eq!(format_go_time("Janitor", &x), "Janitor");
        assert_eq!(format_go_time("002", &x), "311");
    }

    #[test]
    fn path_templates_expand_like_restics() {
        let tags = vec!["a/b".to_string(), "c".to_string()];
        let sn = SnapshotFacts {
            short_id: "1234abcd",
            id: "1234abcdef",
            user: "root",
            host: "pve",
            tags: &tags,
            time: t("2026-11-07T03:04:05Z"),
        };
        let tt = "2006-01-02";
        assert_eq!(
            expand("ids/%i", tt, &sn),
            (vec!["ids/1234abcd".to_string()], None)
        );
        assert_eq!(
            expand("hosts/%h/%T", tt, &sn),
            (
                vec!["hosts/pve/".to_string()],
                Some("2026-11-07".to_string())
            )
        );
        assert_eq!(expand("tags/%t/%T", tt, &sn).0, ["tags/a_b/", "tags/c/"]);
        assert_eq!(expand("%T/%u", tt, &sn).0, ["2026-11-07/root"]);
        assert_eq!(expand("%%x%", tt, &sn).0, ["%x"]);
        let none = SnapshotFacts { tags: &[], ..sn };
        assert!(expand("tags/%t/%T", tt, &none).0.is_empty());
        assert_eq!(static_prefix("hosts/%h/%T"), "hosts");
        assert_eq!(static_prefix("a/b/x%i"), "a/b");
        assert_eq!(static_prefix("%i"), "");
        assert_eq!(static_prefix("plain/dir"), "");
        assert_eq!(tag_file_name(".."), "__");
    }

    proptest::proptest! {
        /// Any layout and template: a result, never a panic.
        #[test]
        fn any_template_formats(layout in ".{0,40}", template in ".{0,40}") {
            let x = t("2026-11-07T03:04:05.5-09:30");
            let _ = format_go_time(&layout, &x);
            let tags = vec!["x".to_string(), String::new()];
            let sn = SnapshotFacts { short_id: "a", id: "ab", user: "", host: "h", tags: &tags, time: x };
            let _ = expand(&template, &layout, &sn);
            let _ = static_prefix(&template);
        }
    }
}
