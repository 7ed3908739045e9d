//! The engine's keep policy from `forget`'s flags.

use super::args::ForgetArgs;
use anyhow::{Context, Result};
use hbk_engine::commands::forget::{parse_tag_list, KeepDuration, KeepPolicy};

/// A `--keep-within*` value, or the error restic prints for it.
fn duration(flag: &str, value: &Option<String>) -> Result<Option<KeepDuration>> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<KeepDuration>()
                .with_context(|| format!("invalid argument {v:?} for \"--{flag}\" flag"))
        })
        .transpose()
}

pub(super) fn policy(a: &ForgetArgs) -> Result<KeepPolicy> {
    Ok(KeepPolicy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within: duration("keep-within", &a.keep_within)?,
        within_hourly: duration("keep-within-hourly", &a.keep_within_hourly)?,
        within_daily: duration("keep-within-daily", &a.keep_within_daily)?,
        within_weekly: duration("keep-within-weekly", &a.keep_within_weekly)?,
        within_monthly: duration("keep-within-monthly", &a.keep_within_monthly)?,
        within_yearly: duration("keep-within-yearly", &a.keep_within_yearly)?,
        keep_tags: a.keep_tag.iter().map(|t| parse_tag_list(t)).collect(),
    })
}
