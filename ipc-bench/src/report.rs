//! Output: the table, the JSON records, the goals, and the SVG chart.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::measure::{quantile, sorted, Config};
use crate::scenarios::{Better, Outcome, Row, Unavail};

/// When, where and how the run was made.
pub struct Meta {
    pub date: String,
    pub cpu: String,
    pub cores: usize,
    pub quick: bool,
    pub rounds: usize,
    pub batch_ms: f64,
    pub budget_s: f64,
    pub elapsed: Duration,
}

impl Meta {
    pub fn now(cfg: &Config, elapsed: Duration) -> Meta {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let date = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Meta {
            date,
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            quick: cfg.quick,
            rounds: cfg.rounds,
            batch_ms: cfg.batch_target.as_secs_f64() * 1e3,
            budget_s: cfg.budget.as_secs_f64(),
            elapsed,
        }
    }
}

fn status(r: &Row) -> String {
    match &r.unavail {
        None => "ok".into(),
        Some(Unavail::NotBuilt(m)) => m.clone(),
        Some(Unavail::Failed(m)) => format!("FAILED: {m}"),
    }
}

fn num(v: f64) -> String {
    if !v.is_finite() {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

// ---------------------------------------------------------------------------------------
// Goals
// ---------------------------------------------------------------------------------------

/// One goal of issue 14: `cand` against `other` in scenario `id`, as the per-round ratio of
/// their metric (for costs, time over time: at most `max`; for throughputs, rate over rate:
/// at least `min`).
pub struct Goal {
    pub what: String,
    pub id: &'static str,
    pub cand: &'static str,
    pub other: &'static str,
    pub bound: Bound,
    /// Median, p10, p90 of the per-round ratios, or why it is missing.
    pub ratio: Result<[f64; 3], String>,
}

#[derive(Clone, Copy)]
pub enum Bound {
    AtMost(f64),
    AtLeast(f64),
}

const GOALS: &[(&str, &str, &str, Bound)] = &[
    (
        "1",
        "RawMutex (ours)",
        "pthread robust pshared mutex",
        Bound::AtMost(1.10),
    ),
    (
        "1",
        "SharedMutex<u64> guard (ours)",
        "pthread robust pshared mutex",
        Bound::AtMost(1.10),
    ),
    (
        "2",
        "SPSC ring (ours)",
        "bare shared cache line",
        Bound::AtMost(1.20),
    ),
    (
        "2",
        "SPSC ring (ours)",
        "iceoryx2 pub-sub, busy-wait",
        Bound::AtMost(1.0),
    ),
    (
        "3a",
        "SPSC ring, blocking (ours)",
        "raw futex",
        Bound::AtMost(1.10),
    ),
    (
        "3a",
        "SharedCondvar (ours)",
        "raw futex",
        Bound::AtMost(1.10),
    ),
    ("3a", "Semaphore (ours)", "raw futex", Bound::AtMost(1.10)),
    (
        "3b",
        "SPSC ring, blocking (ours)",
        "raw futex",
        Bound::AtMost(1.10),
    ),
    (
        "4",
        "SPSC ring, push_batch/pop_batch (ours)",
        "hand-written SPSC ring, batched",
        Bound::AtLeast(0.8),
    ),
    (
        "4",
        "SPSC ring, reserve/commit (ours)",
        "hand-written SPSC ring, batched",
        Bound::AtLeast(0.8),
    ),
    (
        "4",
        "SPSC ring, one at a time (ours)",
        "pipe",
        Bound::AtLeast(20.0),
    ),
    (
        "4",
        "SPSC ring, one at a time (ours)",
        "Unix socket",
        Bound::AtLeast(20.0),
    ),
    (
        "4",
        "SPSC ring, one at a time (ours)",
        "POSIX message queue",
        Bound::AtLeast(20.0),
    ),
    (
        "4",
        "SPSC ring, one at a time (ours)",
        "iceoryx2 pub-sub",
        Bound::AtLeast(1.0),
    ),
    (
        "6",
        "Shared<T> (ours)",
        "raw shm_open+ftruncate+mmap",
        Bound::AtMost(1.30),
    ),
    (
        "7a",
        "SharedArray<f64> (ours)",
        "memcpy between heap buffers",
        Bound::AtLeast(0.90),
    ),
    (
        "7b",
        "SharedArray<f64> (ours)",
        "memcpy between heap buffers",
        Bound::AtLeast(0.90),
    ),
];

pub fn goals(results: &[Outcome]) -> Vec<Goal> {
    GOALS
        .iter()
        .filter_map(|&(id, cand, other, bound)| {
            let o = results.iter().find(|o| o.id == id)?;
            let find = |n: &str| o.rows.iter().find(|r| r.name == n);
            let ratio = match (find(cand), find(other)) {
                (Some(a), Some(b)) => match (&a.unavail, &b.unavail) {
                    (Some(_), _) => Err(format!("{cand}: {}", status(a))),
                    (_, Some(_)) => Err(format!("{other}: {}", status(b))),
                    _ => {
                        let m = o.metric;
                        let r = sorted(
                            a.per_round
                                .iter()
                                .zip(&b.per_round)
                                .filter_map(|(x, y)| Some(m.value((*x)?) / m.value((*y)?)))
                                .collect(),
                        );
                        if r.is_empty() {
                            Err("no common round".into())
                        } else {
                            Ok([quantile(&r, 0.5), quantile(&r, 0.1), quantile(&r, 0.9)])
                        }
                    }
                },
                _ => Err("not in this run".into()),
            };
            let what = match (o.metric.better, bound) {
                (Better::Lower, Bound::AtMost(x)) => format!("{cand} within {x}x of {other}"),
                (_, Bound::AtLeast(x)) => format!("{cand} >= {x}x of {other}"),
                (_, Bound::AtMost(x)) => format!("{cand} <= {x}x of {other}"),
            };
            Some(Goal {
                what: format!("{id}: {what}"),
                id,
                cand,
                other,
                bound,
                ratio,
            })
        })
        .collect()
}

fn verdict(g: &Goal) -> String {
    match &g.ratio {
        Err(e) => format!("not measured ({e})"),
        Ok([m, p10, p90]) => {
            let (met, x) = match g.bound {
                Bound::AtMost(x) => (*m <= x, x),
                Bound::AtLeast(x) => (*m >= x, x),
            };
            let v = if met { "met" } else { "MISSED" };
            let border = if *p10 <= x && x <= *p90 {
                " (borderline)"
            } else {
                ""
            };
            format!("{} [{}-{}]: {v}{border}", num(*m), num(*p10), num(*p90))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------------------

pub fn table(meta: &Meta, results: &[Outcome], goals: &[Goal]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "ipc-bench{}: {} | {} ({} cores) | {:.0} s",
        if meta.quick {
            " --quick (smoke run: figures indicative only)"
        } else {
            ""
        },
        meta.date,
        meta.cpu,
        meta.cores,
        meta.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        o,
        "Interleaved rounds (up to {} per scenario, at most {:.0} s), batches ~{:.1} ms. \
         median [p10-p90] over rounds; ratio = per-round metric / baseline's metric (median [p10-p90]).",
        meta.rounds, meta.budget_s, meta.batch_ms
    );
    for r in results {
        let better = match r.metric.better {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        };
        let _ = writeln!(
            o,
            "\n## {} {} — {} in {}, {}{}",
            r.id,
            r.title,
            r.metric.name,
            r.metric.unit,
            better,
            if r.noisy {
                " (NOISY: too few clean rounds, all used)"
            } else {
                ""
            }
        );
        let head = [
            "implementation",
            "median",
            "p10",
            "p90",
            "ratio to baseline",
            "rounds",
            "note",
        ];
        let cells: Vec<[String; 7]> = r
            .rows
            .iter()
            .map(|row| {
                let measured = row.unavail.is_none();
                [
                    row.name.clone(),
                    if measured {
                        num(row.median)
                    } else {
                        "-".into()
                    },
                    if measured { num(row.p10) } else { "-".into() },
                    if measured { num(row.p90) } else { "-".into() },
                    match (row.baseline, row.ratio) {
                        (true, _) if measured => "1 (baseline)".into(),
                        (_, Some([m, a, b])) => format!("{} [{}-{}]", num(m), num(a), num(b)),
                        _ => "-".into(),
                    },
                    if measured {
                        row.rounds.to_string()
                    } else {
                        "-".into()
                    },
                    if measured {
                        format!("batch {}", row.batch)
                    } else {
                        status(row)
                    },
                ]
            })
            .collect();
        let mut width = head.map(str::len);
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |o: &mut String, cols: &[&str]| {
            let padded: Vec<String> = cols
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            let _ = writeln!(o, "| {} |", padded.join(" | "));
        };
        line(&mut o, &head);
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        let _ = writeln!(o, "|-{}-|", rule.join("-|-"));
        for row in &cells {
            line(&mut o, &row.each_ref().map(String::as_str));
        }
    }
    let _ = writeln!(o, "\n## Goals (ratio of medians per round [p10-p90])");
    for g in goals {
        let _ = writeln!(o, "- {}: {}", g.what, verdict(g));
    }
    o
}

// ---------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------

pub fn json(meta: &Meta, results: &[Outcome], goals: &[Goal]) -> String {
    let records: Vec<serde_json::Value> = results
        .iter()
        .flat_map(|r| {
            r.rows.iter().map(move |row| {
                let measured = row.unavail.is_none();
                let f = |v: f64| if measured { json!(v) } else { json!(null) };
                json!({
                    "scenario": format!("{} {}", r.id, r.title),
                    "implementation": row.name,
                    "metric": r.metric.name,
                    "unit": r.metric.unit,
                    "better": match r.metric.better { Better::Lower => "lower", Better::Higher => "higher" },
                    "median": f(row.median),
                    "p10": f(row.p10),
                    "p90": f(row.p90),
                    "rounds": row.rounds,
                    "baseline": row.baseline,
                    "ours": row.ours,
                    "ratio_to_baseline": row.ratio.map(|[m, a, b]| json!({"median": m, "p10": a, "p90": b})),
                    "batch": row.batch,
                    "status": status(row),
                })
            })
        })
        .collect();
    let goals: Vec<serde_json::Value> = goals
        .iter()
        .map(|g| {
            json!({
                "goal": g.what,
                "scenario": g.id,
                "candidate": g.cand,
                "against": g.other,
                "bound": match g.bound { Bound::AtMost(x) => json!({"at_most": x}), Bound::AtLeast(x) => json!({"at_least": x}) },
                "ratio": g.ratio.as_ref().ok().map(|[m, a, b]| json!({"median": m, "p10": a, "p90": b})),
                "verdict": verdict(g),
            })
        })
        .collect();
    let doc = json!({
        "date": meta.date,
        "cpu": meta.cpu,
        "cores": meta.cores,
        "quick": meta.quick,
        "records": records,
        "goals": goals,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

// ---------------------------------------------------------------------------------------
// SVG
// ---------------------------------------------------------------------------------------

/// One panel a scenario: a horizontal bar a measured implementation (median, with a
/// p10-p90 whisker), the baseline in grey, ours in blue, peers in orange; rows without
/// figures are listed with their reason.
pub fn svg(path: &str, meta: &Meta, results: &[Outcome]) -> Result<(), String> {
    use plotters::prelude::*;
    let cols = 2usize;
    let panel_h = 300u32;
    let nrows = results.len().div_ceil(cols).max(1);
    let (w, h) = (1400u32, 60 + panel_h * nrows as u32);
    let root = SVGBackend::new(path, (w, h)).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| format!("{e:?}");
    root.fill(&WHITE).map_err(e)?;
    let (title, body) = root.split_vertically(60);
    title
        .draw_text(
            &format!(
                "ipc-bench{}: {} | {} | median, whiskers p10-p90",
                if meta.quick { " --quick" } else { "" },
                meta.date,
                meta.cpu
            ),
            &("sans-serif", 20).into_font().color(&BLACK),
            (10, 20),
        )
        .map_err(e)?;
    let panels = body.split_evenly((nrows, cols));
    let blue = RGBColor(31, 119, 180);
    let orange = RGBColor(255, 127, 14);
    let grey = RGBColor(140, 140, 140);
    for (r, area) in results.iter().zip(panels.iter()) {
        let k = r.rows.len().max(1);
        // The scale follows the medians; a whisker longer than 1.6x the largest median
        // (a descheduled round) is cut at the edge.
        let max = r
            .rows
            .iter()
            .filter(|x| x.unavail.is_none())
            .map(|x| x.median)
            .fold(0.0f64, f64::max);
        let max = if max > 0.0 && max.is_finite() {
            max * 1.6
        } else {
            1.0
        };
        let better = match r.metric.better {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        };
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{} {} ({}, {better})", r.id, r.title, r.metric.unit),
                ("sans-serif", 15),
            )
            .margin(8)
            .x_label_area_size(25)
            .y_label_area_size(10)
            .build_cartesian_2d(0.0..max, 0.0..k as f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_labels(6)
            .draw()
            .map_err(e)?;
        for (i, row) in r.rows.iter().enumerate() {
            let y = (k - 1 - i) as f64;
            let color = if row.baseline {
                grey
            } else if row.ours {
                blue
            } else {
                orange
            };
            let label = match (&row.unavail, row.ratio) {
                (Some(_), _) => format!("{}: {}", row.name, status(row)),
                (None, Some([m, _, _])) if !row.baseline => {
                    format!("{}: {} ({}x baseline)", row.name, num(row.median), num(m))
                }
                (None, _) => format!("{}: {}", row.name, num(row.median)),
            };
            if row.unavail.is_none() {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y + 0.15), (row.median, y + 0.55)],
                        color.mix(0.8).filled(),
                    )))
                    .map_err(e)?;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(row.p10.min(max), y + 0.35), (row.p90.min(max), y + 0.35)],
                        BLACK.stroke_width(1),
                    )))
                    .map_err(e)?;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (max * 0.005, y + 0.95),
                    ("sans-serif", 11).into_font().color(&BLACK),
                )))
                .map_err(e)?;
        }
    }
    root.present().map_err(e)?;
    Ok(())
}
