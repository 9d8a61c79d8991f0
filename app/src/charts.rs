//! Charts drawn as SVG by the server (and redrawn identically on hydration): the
//! geometry is plain functions of the data, tested without a browser.

use leptos::prelude::*;

/// Human latency: "850 ms", "2.4 s", "3.5 min", "1.2 h".
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1_000.0 {
        format!("{ms:.0} ms")
    } else if ms < 60_000.0 {
        format!("{:.1} s", ms / 1_000.0)
    } else if ms < 3_600_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

/// A ratio as a percentage precise enough for SLOs: 99.95 %, 100 %.
pub fn fmt_pct(ratio: f64) -> String {
    let pct = ratio * 100.0;
    if (99.0..100.0).contains(&pct) {
        format!("{:.2} %", (pct * 100.0).floor() / 100.0)
    } else {
        format!("{pct:.1} %").replace(".0 %", " %")
    }
}

/// Maps milliseconds to a y coordinate on a log scale from `lo` (bottom) to `hi`
/// (top): latencies span orders of magnitude, and the tail is what matters.
pub fn log_y(ms: f64, lo: f64, hi: f64, top: f64, bottom: f64) -> f64 {
    let clamp = ms.clamp(lo, hi);
    let t = (clamp.log10() - lo.log10()) / (hi.log10() - lo.log10());
    bottom - t * (bottom - top)
}

/// An SVG path through the points, broken where a value is missing (an hour with no
/// deliveries has no latency, and a line across it would invent one).
pub fn broken_path(points: &[(f64, Option<f64>)]) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for (x, y) in points {
        match y {
            Some(y) => {
                d.push_str(&format!("{}{x:.1} {y:.1} ", if pen_down { "L" } else { "M" }));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_owned()
}

/// Decade ticks (10 ms, 100 ms, 1 s, ...) between `lo` and `hi`.
pub fn decade_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut t = 10f64.powi(lo.log10().ceil() as i32);
    while t <= hi {
        ticks.push(t);
        t *= 10.0;
    }
    ticks
}

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 192.0;

fn x_at(i: usize, n: usize) -> f64 {
    if n <= 1 {
        return LEFT;
    }
    LEFT + (W - LEFT - RIGHT) * i as f64 / (n - 1) as f64
}

/// One series of a latency chart.
pub struct Series {
    pub name: &'static str,
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
}

/// Latency percentiles per hour on a log scale, with the tier's target as a dashed
/// line. `hours` labels the x axis (e.g. "13:00").
#[component]
pub fn LatencyChart(title: String, hours: Vec<String>, series: Vec<Series>, target_ms: f64) -> impl IntoView {
    let max = series.iter().flat_map(|s| s.values.iter().flatten()).fold(target_ms, |m, v| m.max(*v));
    let (lo, hi) = (10.0, (max * 2.0).max(1_000.0));
    let n = hours.len();
    let y = move |ms: f64| log_y(ms, lo, hi, TOP, BOTTOM);
    let ticks = decade_ticks(lo, hi);
    let target_y = y(target_ms);
    let label_every = (n / 6).max(1);
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title.clone() preserveAspectRatio="xMidYMid meet">
                <title>{title.clone()}</title>
                {ticks
                    .into_iter()
                    .map(|t| {
                        let ty = y(t);
                        view! {
                            <line x1=LEFT x2=W - RIGHT y1=ty y2=ty class="gridline"/>
                            <text x=LEFT - 6.0 y=ty + 4.0 text-anchor="end" class="axis">{fmt_ms(t)}</text>
                        }
                    })
                    .collect_view()}
                {hours
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % label_every == 0)
                    .map(|(i, h)| view! { <text x=x_at(i, n) y=H - 8.0 text-anchor="middle" class="axis">{h.clone()}</text> })
                    .collect_view()}
                <line x1=LEFT x2=W - RIGHT y1=target_y y2=target_y class="target"/>
                <text x=W - RIGHT y=target_y - 4.0 text-anchor="end" class="axis">{format!("target {}", fmt_ms(target_ms))}</text>
                {series
                    .iter()
                    .map(|s| {
                        let points: Vec<(f64, Option<f64>)> =
                            s.values.iter().enumerate().map(|(i, v)| (x_at(i, n), v.map(y))).collect();
                        // Dots as well as lines: an hour between two empty ones has no
                        // neighbour to draw a line to.
                        let dots = points
                            .iter()
                            .filter_map(|(x, y)| y.map(|y| view! { <circle cx=*x cy=y r="3" class=format!("dot {}", s.class)/> }))
                            .collect_view();
                        view! {
                            <path d=broken_path(&points) class=format!("line {}", s.class) fill="none"/>
                            {dots}
                        }
                    })
                    .collect_view()}
            </svg>
            <figcaption class="legend">
                {series
                    .iter()
                    .map(|s| view! { <span class=format!("key {}", s.class)>{s.name}</span> })
                    .collect_view()}
                <span class="key target">"target"</span>
            </figcaption>
        </figure>
    }
}

/// Deliveries per hour as stacked bars: succeeded below, failed on top.
#[component]
pub fn VolumeChart(title: String, hours: Vec<String>, succeeded: Vec<i64>, failed: Vec<i64>) -> impl IntoView {
    let n = hours.len().max(1);
    let max = succeeded.iter().zip(&failed).map(|(s, f)| s + f).max().unwrap_or(0).max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n as f64;
    let bar = (slot * 0.7).max(1.0);
    let h = move |v: i64| (BOTTOM - TOP) * v as f64 / max;
    let label_every = (n / 6).max(1);
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=title.clone() preserveAspectRatio="xMidYMid meet">
                <title>{title.clone()}</title>
                <line x1=LEFT x2=W - RIGHT y1=BOTTOM y2=BOTTOM class="gridline"/>
                <line x1=LEFT x2=W - RIGHT y1=TOP y2=TOP class="gridline"/>
                <text x=LEFT - 6.0 y=TOP + 4.0 text-anchor="end" class="axis">{format!("{max:.0}")}</text>
                <text x=LEFT - 6.0 y=BOTTOM + 4.0 text-anchor="end" class="axis">"0"</text>
                {succeeded
                    .iter()
                    .zip(&failed)
                    .enumerate()
                    .map(|(i, (s, f))| {
                        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                        let (hs, hf) = (h(*s), h(*f));
                        view! {
                            <rect x=x y=BOTTOM - hs width=bar height=hs class="bar ok"/>
                            <rect x=x y=BOTTOM - hs - hf width=bar height=hf class="bar bad"/>
                        }
                    })
                    .collect_view()}
                {hours
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % label_every == 0)
                    .map(|(i, label)| view! {
                        <text x=LEFT + slot * (i as f64 + 0.5) y=H - 8.0 text-anchor="middle" class="axis">{label.clone()}</text>
                    })
                    .collect_view()}
            </svg>
            <figcaption class="legend">
                <span class="key ok">"succeeded"</span>
                <span class="key bad">"failed"</span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_ms(850.4), "850 ms");
        assert_eq!(fmt_ms(2_400.0), "2.4 s");
        assert_eq!(fmt_ms(210_000.0), "3.5 min");
        assert_eq!(fmt_pct(0.99956), "99.95 %");
        assert_eq!(fmt_pct(1.0), "100 %");
        assert_eq!(fmt_pct(0.5), "50 %");
        assert_eq!(fmt_pct(-3.25), "-325 %");
    }

    #[test]
    fn log_scale_and_ticks() {
        assert_eq!(log_y(10.0, 10.0, 10_000.0, 0.0, 300.0), 300.0);
        assert_eq!(log_y(10_000.0, 10.0, 10_000.0, 0.0, 300.0), 0.0);
        assert!((log_y(100.0, 10.0, 10_000.0, 0.0, 300.0) - 200.0).abs() < 1e-9);
        assert_eq!(log_y(1.0, 10.0, 10_000.0, 0.0, 300.0), 300.0, "clamped");
        assert_eq!(decade_ticks(10.0, 20_000.0), vec![10.0, 100.0, 1_000.0, 10_000.0]);
    }

    #[test]
    fn paths_break_at_gaps() {
        let d = broken_path(&[(0.0, Some(1.0)), (1.0, Some(2.0)), (2.0, None), (3.0, Some(3.0)), (4.0, Some(4.0))]);
        assert_eq!(d, "M0.0 1.0 L1.0 2.0 M3.0 3.0 L4.0 4.0");
        assert_eq!(broken_path(&[(0.0, None)]), "");
    }
}
