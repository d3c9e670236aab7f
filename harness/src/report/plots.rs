//! The HTML report's plots: a scenario's measurements as inline SVG, drawn with plotters'
//! SVG backend into a String.
//!
//! plotters is built without its default features: no bitmap backend and no font crates.
//! Without `ttf`/`ab_glyph` it measures text with a crude estimate (its "naive" font) and the
//! SVG backend writes every label as an SVG `<text>` element, laid out by the browser with
//! its own sans-serif font: nothing to load, nothing fetched.
//!
//! - `*_interval` (heartbeat, countdown, metering cadence) and any other series of two or
//!   more values: each value at the moment it was taken, against its tolerance band (the
//!   limits).
//! - `metering_*`: the plug's reading against the band; the band's centre is the reference
//!   (for an `*_error` measurement, plug minus reference, the centre is 0).
//! - `*round_trip`: a histogram of the values with the limits as vertical lines.
//!
//! Values outside their limits are drawn in red. Each SVG carries `class="plot"` and a
//! `<title>` naming what it shows and how many values are outside.

use std::time::Duration;

use oracle::measure::Measurement;
use plotters::prelude::*;

use super::markup::escape;

/// One plot, as an `<svg class="plot">` element.
#[derive(Debug, Clone)]
pub struct Plot {
    /// What the plot shows, as in its `<title>`.
    pub title: String,
    pub svg: String,
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 280;
const PASS: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
const FAIL: RGBColor = RGBColor(0xdc, 0x00, 0x00);
const BAND: RGBColor = RGBColor(0x2e, 0xa0, 0x43);
const REFERENCE: RGBColor = RGBColor(0x55, 0x55, 0x55);
/// The part of the y range above the data, for the legend.
const LEGEND_ROOM: f64 = 0.55;
/// With more values than this a series is drawn as a line, with dots only where it failed.
const MAX_DOTS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interval,
    Metering,
    RoundTrip,
    Series,
}

fn kind(name: &str, n: usize) -> Option<Kind> {
    if name.ends_with("round_trip") {
        Some(Kind::RoundTrip)
    } else if name.ends_with("_interval") {
        Some(Kind::Interval)
    } else if name.starts_with("metering_") {
        Some(Kind::Metering)
    } else if n >= 2 {
        Some(Kind::Series)
    } else {
        None
    }
}

/// The plots of a scenario's measurements, one per measurement name that has a plot, in the
/// order the names first appear. `id` prefixes the SVG element ids (unique in the page).
pub fn scenario_plots(measurements: &[Measurement], id: &str) -> Vec<Plot> {
    let mut names: Vec<&str> = Vec::new();
    for m in measurements {
        if !names.contains(&m.name.as_str()) {
            names.push(&m.name);
        }
    }
    let mut plots = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let ms: Vec<&Measurement> = measurements.iter().filter(|m| m.name == name).collect();
        let Some(k) = kind(name, ms.len()) else {
            continue;
        };
        let id = format!("{id}-plot-{}", i + 1);
        let plot = match k {
            Kind::RoundTrip => histogram(name, &ms, &id),
            _ => series(name, k, &ms, &id),
        };
        match plot {
            Ok(p) => plots.push(p),
            // A plot that cannot be drawn is left out; the measurements table has the values.
            Err(e) => eprintln!("plugrig: report: no plot for {name}: {e}"),
        }
    }
    plots
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `[lo, hi]` widened by a margin, never empty.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    let span = hi - lo;
    if !span.is_finite() || span <= f64::EPSILON * hi.abs().max(1.0) {
        let d = (hi.abs() * 0.1).max(1e-3);
        return (lo - d, hi + d);
    }
    (lo - span * 0.08, hi + span * 0.08)
}

fn bounds(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    vals.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0');
        s.trim_end_matches('.').to_string()
    }
}

fn limits_text(m: &Measurement) -> String {
    match (m.limits.low, m.limits.high) {
        (Some(l), Some(h)) => format!("[{}, {}] {}", fmt_num(l), fmt_num(h), m.unit),
        (Some(l), None) => format!(">= {} {}", fmt_num(l), m.unit),
        (None, Some(h)) => format!("<= {} {}", fmt_num(h), m.unit),
        (None, None) => "no limits".to_string(),
    }
}

fn failing(ms: &[&Measurement]) -> usize {
    ms.iter().filter(|m| !m.pass).count()
}

/// Puts `class="plot"`, an id and the accessible title into plotters' `<svg>` element.
fn finish(svg: String, id: &str, title: &str, desc: &str) -> anyhow::Result<Plot> {
    let open_end = svg
        .find('>')
        .ok_or_else(|| anyhow::anyhow!("plotters wrote no <svg> element"))?;
    let rest = svg[..open_end]
        .strip_prefix("<svg")
        .ok_or_else(|| anyhow::anyhow!("plotters' output does not start with <svg"))?;
    let mut out = String::with_capacity(svg.len() + title.len() + desc.len() + 200);
    out.push_str(&format!(
        "<svg class=\"plot\" id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title\" aria-describedby=\"{id}-desc\"{rest}>\n"
    ));
    out.push_str(&format!(
        "<title id=\"{id}-title\">{}</title>\n<desc id=\"{id}-desc\">{}</desc>",
        escape(title),
        escape(desc)
    ));
    out.push_str(&svg[open_end + 1..]);
    Ok(Plot {
        title: title.to_string(),
        svg: out,
    })
}

/// Values against time (or against their index when they all carry the same moment), with
/// the tolerance band.
fn series(name: &str, k: Kind, ms: &[&Measurement], id: &str) -> anyhow::Result<Plot> {
    let unit = ms[0].unit;
    let by_time = ms.len() < 2 || ms.iter().any(|m| m.at != ms[0].at);
    let x = |i: usize, m: &Measurement| if by_time { secs(m.at) } else { i as f64 + 1.0 };
    let pts: Vec<(f64, f64, bool)> = ms
        .iter()
        .enumerate()
        .map(|(i, m)| (x(i, m), m.value, m.pass))
        .collect();
    let (xlo, xhi) = bounds(pts.iter().map(|p| p.0)).unwrap_or((0.0, 1.0));
    let (x0, x1) = padded(xlo, xhi);
    let limit_vals = ms.iter().flat_map(|m| [m.limits.low, m.limits.high]).flatten();
    let (ylo, yhi) = bounds(pts.iter().map(|p| p.1).chain(limit_vals)).unwrap_or((0.0, 1.0));
    let (y0, y1) = padded(ylo, yhi);
    // Headroom for the legend (upper right) above the values and the band.
    let y1 = y1 + (y1 - y0) * LEGEND_ROOM;
    let error_kind = name.ends_with("_error");
    let constant_limits = ms.iter().all(|m| m.limits == ms[0].limits);

    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{name} ({unit})"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let x_desc = if by_time {
            "time in the scenario (s)"
        } else {
            "sample"
        };
        let y_desc = match (k, error_kind) {
            (Kind::Metering, true) => format!("plug - reference ({unit})"),
            (Kind::Metering, false) => format!("plug ({unit})"),
            _ => unit.to_string(),
        };
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()?;

        // The band: one rectangle when every value has the same limits, else one per value
        // reaching halfway to its neighbours.
        let band = BAND.mix(0.18).filled();
        let lo = |m: &Measurement| m.limits.low.unwrap_or(y0).max(y0);
        let hi = |m: &Measurement| m.limits.high.unwrap_or(y1).min(y1);
        let has_limits = ms
            .iter()
            .any(|m| m.limits.low.is_some() || m.limits.high.is_some());
        if has_limits {
            let label = if constant_limits {
                format!("tolerance {}", limits_text(ms[0]))
            } else {
                "tolerance band (per value)".to_string()
            };
            if constant_limits {
                let m = ms[0];
                chart
                    .draw_series(std::iter::once(Rectangle::new([(x0, lo(m)), (x1, hi(m))], band)))?
                    .label(label)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], band));
                for edge in [m.limits.low, m.limits.high].into_iter().flatten() {
                    chart.draw_series(LineSeries::new([(x0, edge), (x1, edge)], BAND.mix(0.7)))?;
                }
            } else {
                let rects = pts.iter().zip(ms).enumerate().map(|(i, (p, m))| {
                    let left = if i == 0 { x0 } else { (pts[i - 1].0 + p.0) / 2.0 };
                    let right = if i + 1 == pts.len() {
                        x1
                    } else {
                        (pts[i + 1].0 + p.0) / 2.0
                    };
                    Rectangle::new([(left, lo(m)), (right, hi(m))], band)
                });
                chart
                    .draw_series(rects)?
                    .label(label)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], band));
            }
            // Metering: the band's centre is the reference reading (0 for plug - reference).
            if k == Kind::Metering
                && ms
                    .iter()
                    .all(|m| m.limits.low.is_some() && m.limits.high.is_some())
            {
                let centre: Vec<(f64, f64)> = pts
                    .iter()
                    .zip(ms)
                    .map(|(p, m)| {
                        let (l, h) = (m.limits.low.unwrap_or(0.0), m.limits.high.unwrap_or(0.0));
                        (p.0, (l + h) / 2.0)
                    })
                    .collect();
                let label = if error_kind {
                    "0: agrees with the reference"
                } else {
                    "reference (band centre)"
                };
                chart
                    .draw_series(LineSeries::new(centre, REFERENCE.stroke_width(1)))?
                    .label(label)
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], REFERENCE));
            }
        }

        if pts.len() >= 2 {
            chart
                .draw_series(LineSeries::new(pts.iter().map(|p| (p.0, p.1)), PASS.mix(0.6)))?
                .label(if k == Kind::Metering {
                    format!("plug: {name}")
                } else {
                    name.to_string()
                })
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], PASS));
        }
        let dots = pts.len() <= MAX_DOTS;
        chart.draw_series(
            pts.iter()
                .filter(|p| p.2 && dots)
                .map(|p| Circle::new((p.0, p.1), 3, PASS.filled())),
        )?;
        let bad = failing(ms);
        if bad > 0 {
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| !p.2)
                        .map(|p| Circle::new((p.0, p.1), 4, FAIL.filled())),
                )?
                .label(format!("outside the limits ({bad})"))
                .legend(|(x, y)| Circle::new((x + 7, y), 4, FAIL.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xbb, 0xbb, 0xbb))
            .label_font(("sans-serif", 12))
            .draw()?;
        root.present()?;
    }

    let what = match k {
        Kind::Interval => "intervals",
        Kind::Metering => "readings",
        _ => "values",
    };
    let band = if constant_limits {
        format!("their tolerance band {}", limits_text(ms[0]))
    } else {
        "their tolerance bands".to_string()
    };
    let bad = failing(ms);
    let title = format!(
        "{name}: {} {what} against {band}; {}",
        ms.len(),
        if bad == 0 {
            "all within".to_string()
        } else {
            format!("{bad} outside (red)")
        }
    );
    let values: Vec<String> = ms.iter().take(50).map(|m| fmt_num(m.value)).collect();
    let desc = format!(
        "{name} in {unit}{}: {}{}",
        if by_time { " by time in the scenario" } else { "" },
        values.join(", "),
        if ms.len() > 50 { ", ..." } else { "" }
    );
    finish(buf, id, &title, &desc)
}

/// The distribution of the values, failing ones stacked in red, limits as vertical lines.
fn histogram(name: &str, ms: &[&Measurement], id: &str) -> anyhow::Result<Plot> {
    let unit = ms[0].unit;
    let vals: Vec<f64> = ms.iter().map(|m| m.value).filter(|v| v.is_finite()).collect();
    let (vlo, vhi) = bounds(vals.iter().copied()).unwrap_or((0.0, 1.0));
    // Limits widen the axis only when they are near the values; one far off would squash
    // the distribution into one bar.
    let span = (vhi - vlo).max(vhi.abs() * 0.1).max(1e-6);
    let near = |l: f64| l >= vlo - 3.0 * span && l <= vhi + 3.0 * span;
    let limits: Vec<f64> = {
        let mut l: Vec<f64> = ms
            .iter()
            .flat_map(|m| [m.limits.low, m.limits.high])
            .flatten()
            .filter(|v| v.is_finite())
            .collect();
        l.sort_by(f64::total_cmp);
        l.dedup();
        l
    };
    let shown: Vec<f64> = limits.iter().copied().filter(|l| near(*l)).collect();
    let off: Vec<f64> = limits.iter().copied().filter(|l| !near(*l)).collect();
    let (lo, hi) = bounds(vals.iter().copied().chain(shown.iter().copied())).unwrap_or((0.0, 1.0));
    let bins = ((vals.len() as f64).sqrt().ceil() as usize).clamp(1, 20);
    let (b0, b1) = if hi - lo > 0.0 { (lo, hi) } else { padded(lo, hi) };
    let width = (b1 - b0) / bins as f64;
    let mut pass = vec![0usize; bins];
    let mut fail = vec![0usize; bins];
    for m in ms.iter().filter(|m| m.value.is_finite()) {
        let i = (((m.value - b0) / width).floor().max(0.0) as usize).min(bins - 1);
        if m.pass {
            pass[i] += 1;
        } else {
            fail[i] += 1;
        }
    }
    let top = pass
        .iter()
        .zip(&fail)
        .map(|(p, f)| p + f)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (x0, x1) = padded(b0, b1);

    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("{name} ({unit}), distribution"), ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x0..x1, 0.0..top * (1.1 + LEGEND_ROOM))?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .x_desc(format!("{name} ({unit})"))
            .y_desc("count")
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| {
                if v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .draw()?;
        let edge = |i: usize| (b0 + width * i as f64, b0 + width * (i + 1) as f64);
        chart
            .draw_series((0..bins).filter(|i| pass[*i] > 0).map(|i| {
                let (l, r) = edge(i);
                Rectangle::new([(l, 0.0), (r, pass[i] as f64)], PASS.mix(0.75).filled())
            }))?
            .label(format!("within the limits ({})", ms.len() - failing(ms)))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], PASS.mix(0.75).filled()));
        let bad = failing(ms);
        if bad > 0 {
            chart
                .draw_series((0..bins).filter(|i| fail[*i] > 0).map(|i| {
                    let (l, r) = edge(i);
                    let p = pass[i] as f64;
                    Rectangle::new([(l, p), (r, p + fail[i] as f64)], FAIL.filled())
                }))?
                .label(format!("outside the limits ({bad})"))
                .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], FAIL.filled()));
        }
        for (n, l) in shown.iter().enumerate() {
            let s = chart.draw_series(LineSeries::new(
                [(*l, 0.0), (*l, top * (1.1 + LEGEND_ROOM))],
                BAND.stroke_width(2),
            ))?;
            if n == 0 {
                s.label("limit")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BAND.stroke_width(2)));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(0xbb, 0xbb, 0xbb))
            .label_font(("sans-serif", 12))
            .draw()?;
        root.present()?;
    }
    let bad = failing(ms);
    let limits_note = match (shown.is_empty(), off.is_empty()) {
        (true, true) => String::new(),
        _ => format!(
            "; limits {}",
            limits
                .iter()
                .map(|l| format!(
                    "{} {unit}{}",
                    fmt_num(*l),
                    if off.contains(l) { " (off the chart)" } else { "" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let title = format!(
        "{name}: distribution of {} values from {} to {} {unit}{limits_note}; {}",
        ms.len(),
        fmt_num(vlo),
        fmt_num(vhi),
        if bad == 0 {
            "all within".to_string()
        } else {
            format!("{bad} outside (red)")
        }
    );
    let desc = format!(
        "{bins} bins of {} {unit} from {}: counts {}",
        fmt_num(width),
        fmt_num(b0),
        (0..bins)
            .map(|i| (pass[i] + fail[i]).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    finish(buf, id, &title, &desc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oracle::measure::{Limits, Measurements};

    fn intervals(late: bool) -> Vec<Measurement> {
        let mut m = Measurements::default();
        let lim = Limits::within(3.0, 0.15);
        for (i, v) in [3.0, 3.02, if late { 3.6 } else { 2.97 }, 3.01]
            .into_iter()
            .enumerate()
        {
            m.record(
                "heartbeat_interval",
                "s",
                lim,
                v,
                Duration::from_secs_f64(3.0 * (i + 1) as f64),
            );
        }
        m.all().to_vec()
    }

    #[test]
    fn an_interval_plot_has_its_class_title_band_and_a_red_failure() {
        let plots = scenario_plots(&intervals(true), "scenario-1");
        assert_eq!(plots.len(), 1);
        let svg = &plots[0].svg;
        assert!(
            svg.starts_with("<svg class=\"plot\" id=\"scenario-1-plot-1\""),
            "{svg}"
        );
        assert!(svg.contains("<title id=\"scenario-1-plot-1-title\">heartbeat_interval: 4 intervals against their tolerance band [2.85, 3.15] s; 1 outside (red)</title>"), "{svg}");
        assert!(svg.contains("#DC0000"), "a red point: {svg}");
        assert!(svg.contains("<text"), "labels as SVG text");
        assert!(svg.trim_end().ends_with("</svg>"));
        let ok = scenario_plots(&intervals(false), "s");
        assert!(!ok[0].svg.contains("#DC0000"));
    }

    #[test]
    fn metering_round_trips_and_other_series_get_their_plots() {
        let mut m = Measurements::default();
        for i in 0..30 {
            let t = Duration::from_millis(100 * i);
            let reference = 60.0 + (i % 3) as f64;
            let plug = if i == 7 {
                reference * 1.2
            } else {
                reference * 1.004
            };
            m.record(
                "metering_power",
                "W",
                Limits::within(reference, reference * 0.03 + 1.0),
                plug,
                t,
            );
            m.record(
                "switch_round_trip",
                "s",
                Limits::at_most(0.25),
                0.01 + (i as f64) * 0.003 + if i == 3 { 0.3 } else { 0.0 },
                t,
            );
        }
        m.record("firmware_fields", "", Limits::at_least(5.0), 5.0, Duration::ZERO);
        let plots = scenario_plots(m.all(), "x");
        assert_eq!(
            plots.len(),
            2,
            "{:?}",
            plots.iter().map(|p| &p.title).collect::<Vec<_>>()
        );
        assert!(
            plots[0]
                .title
                .starts_with("metering_power: 30 readings against their tolerance bands; 1 outside"),
            "{}",
            plots[0].title
        );
        assert!(plots[0].svg.contains("reference (band centre)"));
        assert!(
            plots[1]
                .title
                .starts_with("switch_round_trip: distribution of 30 values"),
            "{}",
            plots[1].title
        );
        assert!(plots[1].svg.contains("#DC0000"));
    }

    #[test]
    fn one_value_and_equal_values_still_plot() {
        let mut m = Measurements::default();
        m.record(
            "delay_time_interval",
            "s",
            Limits::within(0.1, 0.02),
            0.5,
            Duration::from_secs(1),
        );
        m.record(
            "switch_round_trip",
            "s",
            Limits::at_most(1.0),
            0.02,
            Duration::ZERO,
        );
        m.record(
            "switch_round_trip",
            "s",
            Limits::at_most(1.0),
            0.02,
            Duration::ZERO,
        );
        let plots = scenario_plots(m.all(), "y");
        assert_eq!(plots.len(), 2);
        assert!(
            plots[1].title.contains("limits 1 s (off the chart)"),
            "{}",
            plots[1].title
        );
    }
}
