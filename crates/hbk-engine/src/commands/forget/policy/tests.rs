use super::*;

fn dt(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn snap(time: &str, tags: &[&str]) -> (Id, SnapshotFile) {
    let json = serde_json::json!({
        "time": time,
        "tree": "0".repeat(64),
        "paths": ["/src"],
        "hostname": "h",
        "tags": tags,
    })
    .to_string();
    (
        Id::hash(json.as_bytes()),
        SnapshotFile::from_json(json.as_bytes()).unwrap(),
    )
}

fn dur(s: &str) -> KeepDuration {
    s.parse().unwrap()
}

/// The kept snapshots' times (as given) with their reasons, newest first.
fn kept(list: &[(Id, SnapshotFile)], policy: &KeepPolicy, now: &str) -> Vec<(String, Vec<String>)> {
    let out = apply_policy(list, policy, dt(now));
    assert_eq!(out.keep.len() + out.remove.len(), list.len());
    out.keep
        .iter()
        .map(|r| {
            let sn = &list.iter().find(|(id, _)| *id == r.id).unwrap().1;
            (sn.time.to_string(), r.matches.clone())
        })
        .collect()
}

fn kept_times(list: &[(Id, SnapshotFile)], policy: &KeepPolicy) -> Vec<String> {
    kept(list, policy, "2030-01-01T00:00:00Z")
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

const NOW: &str = "2030-01-01T00:00:00Z";

#[test]
fn parses_restic_durations() {
    let d = dur("1y2m3d4h");
    assert_eq!((d.years, d.months, d.days, d.hours), (1, 2, 3, 4));
    assert_eq!(d.to_string(), "1y2m3d4h");
    assert_eq!(dur("2m1y").to_string(), "1y2m");
    assert_eq!(dur("1d1d").to_string(), "1d");
    assert_eq!(dur("5d3d").days, 3);
    assert_eq!(dur(" 1h ").to_string(), "1h");
    assert_eq!(dur("01d").to_string(), "1d");
    assert_eq!(dur("0y1d").to_string(), "1d");
    assert!(dur("").is_zero());
    assert!(dur("-0d").is_zero());
    assert!(dur("0y0m0d0h").is_zero());
    assert_eq!(dur("-1d").days, -1);
    assert_eq!(dur("1y-2m").to_string(), "1y-2m");
    for (bad, msg) in [
        ("5", "no unit found after number 5"),
        ("1x", "invalid unit 'x' found after number 1"),
        ("1D", "invalid unit 'D' found after number 1"),
        ("1-1d", "invalid unit '-' found after number 1"),
        ("+1d", "no number found"),
        ("--1d", "no number found"),
        ("-d", "no number found"),
        ("1dh", "no number found"),
        ("d", "no number found"),
    ] {
        let err = bad.parse::<KeepDuration>().unwrap_err().to_string();
        assert_eq!(err, msg, "{bad:?}");
    }
    assert!("99999999999999999999d".parse::<KeepDuration>().is_err());
}

#[test]
fn tag_lists_like_restic() {
    assert_eq!(parse_tag_list(" a , b "), ["a", "b"]);
    assert_eq!(parse_tag_list(""), [""]);
    assert_eq!(parse_tag_list(","), ["", ""]);
    let none: Vec<String> = vec![];
    let ab = vec!["a".to_string(), "b".to_string()];
    assert!(has_tag_list(&ab, &parse_tag_list("b,a")));
    assert!(!has_tag_list(&ab, &parse_tag_list("a,c")));
    assert!(has_tag_list(&none, &parse_tag_list("")));
    assert!(!has_tag_list(&ab, &parse_tag_list("")));
    // The empty tag matches untagged snapshots only when reached first.
    assert!(has_tag_list(&none, &parse_tag_list(",a")));
    assert!(!has_tag_list(&none, &parse_tag_list("a,")));
    assert!(!has_tag_list(&ab, &parse_tag_list("a,")));
    assert!(has_tag_list(&ab, &[]));
}

#[test]
fn bucket_keys_in_the_snapshots_own_offset() {
    let key = |p: Period, s: &str| p.bucket(&dt(s), 7);
    assert_eq!(key(Period::Snapshot, "2024-05-06T07:08:09Z"), 7);
    assert_eq!(key(Period::Hour, "2024-05-06T07:08:09Z"), 2024050607);
    assert_eq!(key(Period::Day, "2024-05-06T07:08:09Z"), 20240506);
    assert_eq!(key(Period::Month, "2024-05-06T07:08:09Z"), 202405);
    assert_eq!(key(Period::Year, "2024-05-06T07:08:09Z"), 2024);
    // The same instant falls on different days, months, years and weeks
    // depending on the zone the snapshot was written in.
    assert_eq!(key(Period::Day, "2024-01-01T00:30:00+01:00"), 20240101);
    assert_eq!(key(Period::Day, "2023-12-31T23:30:00Z"), 20231231);
    assert_eq!(key(Period::Year, "2023-12-31T23:30:00-05:00"), 2023);
    assert_eq!(key(Period::Year, "2024-01-01T04:30:00Z"), 2024);
    assert_eq!(key(Period::Hour, "2024-01-01T00:30:00+05:45"), 2024010100);
    assert_eq!(key(Period::Week, "2024-12-29T23:30:00Z"), 202452);
    assert_eq!(key(Period::Week, "2024-12-30T01:30:00+02:00"), 202501);
    assert_eq!(key(Period::Week, "2024-12-29T23:30:00-02:00"), 202452);
}

#[test]
fn iso_weeks_around_new_year() {
    let week = |s: &str| Period::Week.bucket(&dt(&format!("{s}T12:00:00Z")), 0);
    assert_eq!(week("2020-12-31"), 202053); // Thursday
    assert_eq!(week("2021-01-03"), 202053); // Sunday, still 2020's week 53
    assert_eq!(week("2021-01-04"), 202101); // Monday
    assert_eq!(week("2018-12-31"), 201901); // Monday in 2019's week 1
    assert_eq!(week("2016-01-01"), 201553); // Friday
    assert_eq!(week("2027-01-01"), 202653);
    assert_eq!(week("2022-01-02"), 202152);
    assert_eq!(week("2026-12-31"), 202653);
    assert_eq!(week("2015-12-28"), 201553);
    assert_eq!(week("2025-12-29"), 202601);
}

#[test]
fn windows_use_calendar_arithmetic() {
    let start = |end: &str, d: &str| dur(d).window_start(dt(end)).to_rfc3339();
    // Go's AddDate normalises: 31 February is 2 or 3 March.
    assert_eq!(
        start("2024-03-31T12:00:00Z", "1m"),
        "2024-03-02T12:00:00+00:00"
    );
    assert_eq!(
        start("2023-03-31T12:00:00Z", "1m"),
        "2023-03-03T12:00:00+00:00"
    );
    assert_eq!(
        start("2024-02-29T12:00:00Z", "1y"),
        "2023-03-01T12:00:00+00:00"
    );
    assert_eq!(
        start("2024-01-15T00:00:00Z", "13m"),
        "2022-12-15T00:00:00+00:00"
    );
    assert_eq!(
        start("2024-01-02T01:00:00Z", "1d2h"),
        "2023-12-31T23:00:00+00:00"
    );
    assert_eq!(
        start("2024-01-01T00:00:00Z", "40d"),
        "2023-11-22T00:00:00+00:00"
    );
    // Days are calendar days of the latest snapshot's own offset.
    assert_eq!(
        start("2024-03-31T00:30:00+02:00", "1d"),
        "2024-03-30T00:30:00+02:00"
    );
    // Negative spans move forward.
    assert_eq!(
        start("2024-01-01T00:00:00Z", "-1d"),
        "2024-01-02T00:00:00+00:00"
    );
    // Absurd spans saturate instead of failing.
    assert!(
        dur("999999999y").window_start(dt("2024-01-01T00:00:00Z")) < dt("0001-01-01T00:00:00Z")
    );
    assert!(
        dur("-999999999y").window_start(dt("2024-01-01T00:00:00Z")) > dt("9999-01-01T00:00:00Z")
    );
}

#[test]
fn empty_policy_keeps_everything() {
    let list = [
        snap("2024-01-01T00:00:00Z", &[]),
        snap("2024-01-02T00:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        last: Some(0),
        within: Some(dur("0d")),
        ..KeepPolicy::default()
    };
    assert!(p.is_empty());
    let out = kept(&list, &p, NOW);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].1, ["policy is empty"]);
    assert!(!KeepPolicy {
        keep_tags: vec![vec![]],
        ..KeepPolicy::default()
    }
    .is_empty());
    assert!(!KeepPolicy {
        last: Some(-1),
        ..KeepPolicy::default()
    }
    .is_empty());
    assert!(apply_policy(
        &[],
        &KeepPolicy {
            last: Some(1),
            ..KeepPolicy::default()
        },
        dt(NOW)
    )
    .keep
    .is_empty());
}

#[test]
fn keep_last_walks_newest_first() {
    let list = [
        snap("2024-01-01T00:00:00Z", &[]),
        snap("2024-01-03T00:00:00Z", &[]),
        snap("2024-01-02T00:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        last: Some(2),
        ..KeepPolicy::default()
    };
    let out = apply_policy(&list, &p, dt(NOW));
    assert_eq!(out.keep.len(), 2);
    assert_eq!(out.keep[0].id, list[1].0);
    assert_eq!(out.keep[1].id, list[2].0);
    assert_eq!(out.keep[0].matches, ["last snapshot"]);
    assert_eq!(out.keep[0].counters.last, 1);
    assert_eq!(out.keep[1].counters, Counters::default());
    assert_eq!(out.remove, [list[0].0]);
    // Negative counts keep nothing.
    let p = KeepPolicy {
        last: Some(-1),
        ..KeepPolicy::default()
    };
    let out = apply_policy(&list, &p, dt(NOW));
    assert!(out.keep.is_empty());
    assert_eq!(out.remove.len(), 3);
}

#[test]
fn equal_times_keep_their_order() {
    let a = snap("2024-01-01T00:00:00Z", &["a"]);
    let b = snap("2024-01-01T01:00:00+01:00", &["b"]);
    let p = KeepPolicy {
        last: Some(1),
        ..KeepPolicy::default()
    };
    let out = apply_policy(&[a.clone(), b.clone()], &p, dt(NOW));
    assert_eq!(out.keep[0].id, a.0);
    let out = apply_policy(&[b.clone(), a], &p, dt(NOW));
    assert_eq!(out.keep[0].id, b.0);
}

#[test]
fn count_buckets_keep_the_newest_of_each_period() {
    let list = [
        snap("2023-12-31T10:00:00Z", &[]),
        snap("2024-01-01T09:00:00Z", &[]),
        snap("2024-01-01T10:00:00Z", &[]),
        snap("2024-01-01T10:30:00Z", &[]),
        snap("2024-01-02T08:00:00Z", &[]),
        snap("2024-02-10T08:00:00Z", &[]),
    ];
    let hourly = KeepPolicy {
        hourly: Some(3),
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept_times(&list, &hourly),
        [
            "2024-02-10T08:00:00Z",
            "2024-01-02T08:00:00Z",
            "2024-01-01T10:30:00Z"
        ]
    );
    let daily = KeepPolicy {
        daily: Some(10),
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept_times(&list, &daily),
        [
            "2024-02-10T08:00:00Z",
            "2024-01-02T08:00:00Z",
            "2024-01-01T10:30:00Z",
            "2023-12-31T10:00:00Z"
        ]
    );
    let weekly = KeepPolicy {
        weekly: Some(2),
        ..KeepPolicy::default()
    };
    // 2023-12-31 is a Sunday: week 52 of 2023; 1 and 2 January 2024 are in
    // week 1 of 2024.
    assert_eq!(
        kept_times(&list, &weekly),
        ["2024-02-10T08:00:00Z", "2024-01-02T08:00:00Z"]
    );
    let monthly = KeepPolicy {
        monthly: Some(5),
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept_times(&list, &monthly),
        [
            "2024-02-10T08:00:00Z",
            "2024-01-02T08:00:00Z",
            "2023-12-31T10:00:00Z"
        ]
    );
    let yearly = KeepPolicy {
        yearly: Some(5),
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept_times(&list, &yearly),
        ["2024-02-10T08:00:00Z", "2023-12-31T10:00:00Z"]
    );
    // Several rules: each has its own last bucket and budget, and the
    // reasons come in restic's order.
    let p = KeepPolicy {
        last: Some(1),
        daily: Some(2),
        yearly: Some(2),
        ..KeepPolicy::default()
    };
    let out = kept(&list, &p, NOW);
    assert_eq!(
        out,
        [
            (
                "2024-02-10T08:00:00Z".to_string(),
                vec![
                    "last snapshot".to_string(),
                    "daily snapshot".into(),
                    "yearly snapshot".into()
                ]
            ),
            (
                "2024-01-02T08:00:00Z".to_string(),
                vec!["daily snapshot".to_string()]
            ),
            (
                "2023-12-31T10:00:00Z".to_string(),
                vec!["yearly snapshot".to_string()]
            ),
        ]
    );
    let r = apply_policy(&list, &p, dt(NOW));
    assert_eq!(r.keep[0].counters.non_zero(), [("daily", 1), ("yearly", 1)]);
}

#[test]
fn buckets_follow_each_snapshots_offset() {
    // The same day in UTC, two days in the snapshots' own offsets.
    let list = [
        snap("2024-01-01T23:30:00-01:00", &[]), // 2024-01-02T00:30Z
        snap("2024-01-02T01:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        daily: Some(5),
        ..KeepPolicy::default()
    };
    assert_eq!(kept_times(&list, &p).len(), 2);
    let list = [
        snap("2024-01-02T00:30:00+01:00", &[]), // 2024-01-01T23:30Z
        snap("2024-01-02T01:00:00Z", &[]),
    ];
    assert_eq!(kept_times(&list, &p).len(), 1);
}

#[test]
fn keep_within_is_relative_to_the_latest_past_snapshot() {
    let list = [
        snap("2024-01-01T00:00:00Z", &[]),
        snap("2024-01-01T00:00:01Z", &[]),
        snap("2024-01-02T00:00:00Z", &[]),
        snap("2031-01-01T00:00:00Z", &[]), // in the future: not "latest"
    ];
    let p = KeepPolicy {
        within: Some(dur("1d")),
        ..KeepPolicy::default()
    };
    // Exactly one day before the latest is outside (strictly after).
    let out = kept(&list, &p, NOW);
    assert_eq!(
        out.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        [
            "2031-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-01T00:00:01Z"
        ]
    );
    assert_eq!(out[0].1, ["within 1d"]);
    assert_eq!(latest_time(&list, dt(NOW)), dt("2024-01-02T00:00:00Z"));
    // Nothing in the past: the window ends at Go's zero time and keeps all.
    assert_eq!(latest_time(&list[3..], dt(NOW)), dt("0001-01-01T00:00:00Z"));
    assert_eq!(kept(&list[3..], &p, NOW).len(), 1);
    // Negative windows keep nothing.
    let p = KeepPolicy {
        within: Some(dur("-1d")),
        ..KeepPolicy::default()
    };
    assert!(kept(&list[..3], &p, NOW).is_empty());
}

#[test]
fn within_buckets_keep_one_per_period_inside_the_window() {
    let list = [
        snap("2024-01-01T08:00:00Z", &[]),
        snap("2024-01-05T08:00:00Z", &[]),
        snap("2024-01-05T09:00:00Z", &[]),
        snap("2024-01-06T07:00:00Z", &[]),
        snap("2024-01-06T09:00:00Z", &[]),
    ];
    let p = KeepPolicy {
        within_daily: Some(dur("2d")),
        within_hourly: Some(dur("1h")),
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept(&list, &p, NOW),
        [
            (
                "2024-01-06T09:00:00Z".to_string(),
                vec!["hourly within 1h".to_string(), "daily within 2d".into()]
            ),
            (
                "2024-01-05T09:00:00Z".to_string(),
                vec!["daily within 2d".to_string()]
            ),
        ]
    );
    let p = KeepPolicy {
        within_weekly: Some(dur("1m")),
        within_monthly: Some(dur("1y")),
        within_yearly: Some(dur("1y")),
        ..KeepPolicy::default()
    };
    let out = kept(&list, &p, NOW);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].1,
        ["weekly within 1m", "monthly within 1y", "yearly within 1y"]
    );
}

#[test]
fn keep_tag_uses_no_budget_and_comes_first() {
    let list = [
        snap("2024-01-01T00:00:00Z", &[]),
        snap("2024-01-02T00:00:00Z", &["b"]),
        snap("2024-01-03T00:00:00Z", &["a", "b"]),
    ];
    let p = KeepPolicy {
        keep_tags: vec![parse_tag_list("a,b"), parse_tag_list("b")],
        last: Some(1),
        within: Some(dur("1h")),
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept(&list, &p, NOW),
        [
            (
                "2024-01-03T00:00:00Z".to_string(),
                vec![
                    "has tags [a, b]".to_string(),
                    "has tags [b]".into(),
                    "within 1h".into(),
                    "last snapshot".into()
                ]
            ),
            (
                "2024-01-02T00:00:00Z".to_string(),
                vec!["has tags [b]".to_string()]
            ),
        ]
    );
    let p = KeepPolicy {
        keep_tags: vec![parse_tag_list("")],
        ..KeepPolicy::default()
    };
    assert_eq!(
        kept(&list, &p, NOW),
        [(
            "2024-01-01T00:00:00Z".to_string(),
            vec!["has tags []".to_string()]
        )]
    );
}

#[test]
fn policy_sentence_matches_restic() {
    let p = KeepPolicy {
        last: Some(1),
        daily: Some(2),
        keep_tags: vec![parse_tag_list("a")],
        within: Some(dur("1d")),
        ..KeepPolicy::default()
    };
    assert_eq!(
        p.to_string(),
        "keep 1 latest, 2 daily snapshots and all snapshots with tags [[a]] and all snapshots within 1d of the newest"
    );
    let p = KeepPolicy {
        hourly: Some(3),
        within_daily: Some(dur("7d")),
        within_yearly: Some(dur("2y")),
        keep_tags: vec![parse_tag_list("a,b"), parse_tag_list("c")],
        ..KeepPolicy::default()
    };
    assert_eq!(
        p.to_string(),
        "keep 3 hourly snapshots, daily snapshots within 7d, yearly snapshots within 2y and all snapshots with tags [[a, b] [c]]"
    );
}
