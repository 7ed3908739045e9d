//! Line plots as inline SVG, drawn on the server: one series per
//! repository, one circle per point (class `point`), axes labelled with
//! the first and last time and the largest value.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::escape::esc;

/// One named series of (time, value) points.
pub struct Series {
    /// The legend's name.
    pub name: String,
    /// Points in time order.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

const W: f64 = 640.0;
const H: f64 = 180.0;
const PAD: f64 = 36.0;
const COLORS: [&str; 6] = [
    "#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568",
];

/// A plot of `series` titled `title`, values formatted by `fmt`.
pub fn line_plot(id: &str, title: &str, series: &[Series], fmt: fn(f64) -> String) -> String {
    let all: Vec<&(DateTime<Utc>, f64)> = series.iter().flat_map(|s| &s.points).collect();
    let mut out = format!(
        "<figure class=\"plot\" id=\"{}\"><figcaption>{}</figcaption>",
        esc(id),
        esc(title)
    );
    if all.is_empty() {
        out.push_str("<p class=\"empty\">no runs recorded yet</p></figure>");
        return out;
    }
    let t0 = all.iter().map(|p| p.0).min().unwrap_or_default();
    let t1 = all.iter().map(|p| p.0).max().unwrap_or_default();
    let vmax = all.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9);
    let span = (t1 - t0).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| PAD + (t - t0).num_seconds() as f64 / span * (W - 2.0 * PAD);
    let y = |v: f64| H - PAD / 2.0 - v / vmax * (H - PAD);
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\"><line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/><line x1=\"{PAD}\" y1=\"{top}\" x2=\"{PAD}\" y2=\"{b}\" stroke=\"#999\"/>",
        b = H - PAD / 2.0,
        r = W - PAD,
        top = PAD / 2.0,
    );
    let _ = write!(
        out,
        "<text x=\"2\" y=\"{}\" font-size=\"10\">{}</text><text x=\"{PAD}\" y=\"{H}\" font-size=\"10\">{}</text><text x=\"{}\" y=\"{H}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
        PAD / 2.0 + 4.0,
        esc(&fmt(vmax)),
        t0.format("%Y-%m-%d %H:%M"),
        W - PAD,
        t1.format("%Y-%m-%d %H:%M"),
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        );
        for (t, v) in &s.points {
            let _ = write!(
                out,
                "<circle class=\"point\" data-series=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"><title>{} {}: {}</title></circle>",
                esc(&s.name),
                x(*t),
                y(*v),
                esc(&s.name),
                t.format("%Y-%m-%d %H:%M"),
                esc(&fmt(*v))
            );
        }
    }
    out.push_str("</svg><p class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let _ = write!(
            out,
            "<span style=\"color:{}\">&#9632; {}</span> ",
            COLORS[i % COLORS.len()],
            esc(&s.name)
        );
    }
    out.push_str("</p></figure>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_circle_per_point_and_names_escaped() {
        let t: DateTime<Utc> = "2026-12-01T03:00:00Z".parse().unwrap();
        let s = [
            Series {
                name: "a<b".into(),
                points: vec![(t, 1.0), (t + chrono::Duration::days(1), 3.0)],
            },
            Series {
                name: "c".into(),
                points: vec![(t, 2.0)],
            },
        ];
        let svg = line_plot("p", "T", &s, |v| format!("{v}"));
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert!(line_plot("p", "T", &[], |v| format!("{v}")).contains("no runs"));
    }
}
