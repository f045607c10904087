//! `summary.md`: what a change request needs, in order: the verdict, the checks that did not
//! pass with their evidence, the percentiles judged with their intervals, the baseline
//! comparison (with the likely cause) and headroom when there are any, then the run's key
//! figures.

use std::io::Write;

use super::Format;
use crate::result::Role;
use crate::result::RunResult;
use crate::result::{Status, Verdict};
use crate::verdict::fmt_num;

pub struct SummaryMarkdown;

/// The load generator's health in one line (empty figures say they were not measured).
pub fn generator_line(run: &RunResult) -> String {
    let g = &run.generator;
    if g.cores == 0 {
        return "not measured (a simulated run, or one recorded before peakgate measured it)"
            .into();
    }
    let pct = |x: Option<f64>| x.map_or("n/a".into(), |v| format!("{}%", fmt_num(100.0 * v)));
    format!(
        "scheduling lateness p99 {} ms (max {} ms), recorder lag max {} ms, CPU {} cores at most, waited for a CPU {} s/s; host CPU pressure {}, steal {}, load {} on {} cores",
        fmt_num(g.lateness_ms.p99),
        fmt_num(g.lateness_ms.max),
        fmt_num(g.recorder_lag_max_ms),
        g.cpu_cores_max.map_or("n/a".into(), fmt_num),
        g.runqueue_wait_mean.map_or("n/a".into(), fmt_num),
        pct(g.cpu_pressure_mean),
        pct(g.host_steal_mean),
        g.load1_max.map_or("n/a".into(), fmt_num),
        g.cores
    )
}

impl Format for SummaryMarkdown {
    const FILE: &'static str = "summary.md";

    fn write(&self, run: &RunResult, v: &Verdict, out: &mut impl Write) -> std::io::Result<()> {
        let release = run.release.as_deref().unwrap_or("(unlabelled)");
        writeln!(
            out,
            "# peakgate verdict: **{}**\n",
            v.verdict.to_string().to_uppercase()
        )?;
        // A --scale parent shows one step's run; say which.
        let figures_from = if run.run_id == v.run_id {
            String::new()
        } else {
            format!(" Key figures are from step run `{}`.", run.run_id)
        };
        writeln!(
            out,
            "Release `{release}`, profile `{}`, run `{}` ({}, {} s, target {}{}).{figures_from}\n",
            run.profile.name,
            v.run_id,
            run.status,
            fmt_num(run.duration_s),
            run.target.kind,
            run.target
                .standin_release
                .as_ref()
                .map_or(String::new(), |r| format!(" release {r}"))
        )?;
        let count = |s: Status| v.checks.iter().filter(|c| c.status == s).count();
        let (fails, warns) = (count(Status::Fail), count(Status::Warn));
        let inconclusive = count(Status::Inconclusive);
        writeln!(
            out,
            "{} checks: {} passed, {warns} warned, {fails} failed{}.\n",
            v.checks.len(),
            v.checks.len() - fails - warns - inconclusive,
            if inconclusive > 0 {
                format!(
                    ", {inconclusive} inconclusive (the load generator did not keep its plan: the release is neither passed nor failed)"
                )
            } else {
                String::new()
            }
        )?;
        let not_passed: Vec<_> = v
            .checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .collect();
        if !not_passed.is_empty() {
            writeln!(out, "## Checks that did not pass\n")?;
            writeln!(
                out,
                "| check | status | observed | warn | fail | evidence |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|")?;
            // Inconclusive first (it decides the verdict), then failures, then warnings, each
            // in the verdict's order.
            for status in [Status::Inconclusive, Status::Fail, Status::Warn] {
                for c in not_passed.iter().filter(|c| c.status == status) {
                    writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} |",
                        cell(&c.name),
                        c.status.to_string().to_uppercase(),
                        opt(c.observed),
                        limit(c.warn),
                        limit(c.fail),
                        cell(&c.message)
                    )?;
                }
            }
            writeln!(out)?;
        }
        // The passing checks too: what was checked is part of the evidence. Their messages
        // say why each passed, e.g. a comparison whose p95 ratio is above its limit but whose
        // shift is not significant.
        let passed: Vec<_> = v
            .checks
            .iter()
            .filter(|c| c.status == Status::Pass)
            .collect();
        if !passed.is_empty() {
            writeln!(out, "## Checks that passed\n")?;
            writeln!(out, "| check | observed | warn | fail | evidence |")?;
            writeln!(out, "|---|---|---|---|---|")?;
            for c in passed {
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    cell(&c.name),
                    opt(c.observed),
                    limit(c.warn),
                    limit(c.fail),
                    cell(&c.message)
                )?;
            }
            writeln!(out)?;
        }
        if !v.percentiles.is_empty() {
            writeln!(out, "## Percentiles judged\n")?;
            writeln!(
                out,
                "Each limit is compared with the lower bound of the percentile's distribution-free 95% interval (order statistics of the n samples).\n"
            )?;
            writeln!(
                out,
                "| check | transaction | n | estimate ms | 95% interval ms | judged ms |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|")?;
            for p in &v.percentiles {
                writeln!(
                    out,
                    "| {} | {} | {} | {} | [{}, {}] | {} |",
                    cell(&p.check),
                    cell(&p.transaction),
                    p.n,
                    fmt_num(p.estimate_ms),
                    p.low_ms.map_or("0".into(), fmt_num),
                    p.high_ms.map_or("open".into(), fmt_num),
                    fmt_num(p.judged_ms)
                )?;
            }
            writeln!(out)?;
        }
        if let Some(c) = &v.comparisons {
            writeln!(
                out,
                "## Against baseline `{}`{}\n",
                c.baseline,
                c.baseline_release
                    .as_ref()
                    .map_or(String::new(), |r| format!(" (release `{r}`)"))
            )?;
            writeln!(
                out,
                "Mann-Whitney U per step, one-sided, α = {} (per step {}); shift = Hodges-Lehmann estimate with its 95% interval.\n",
                fmt_num(c.alpha),
                c.alpha_per_step
            )?;
            writeln!(
                out,
                "| step | p95 base ms | p95 cand ms | ratio | shift ms | 95% interval | p | status |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|---|---|")?;
            for l in &c.latency {
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | [{}, {}] | {:.3e} | {} |",
                    cell(&l.step),
                    fmt_num(l.p95_baseline_ms),
                    fmt_num(l.p95_candidate_ms),
                    fmt_num(l.p95_ratio),
                    fmt_num(l.shift_ms),
                    fmt_num(l.interval_ms[0]),
                    fmt_num(l.interval_ms[1]),
                    l.p_value,
                    l.status
                )?;
            }
            writeln!(out)?;
            if let Some(a) = &c.cause {
                if a.steps.first().is_some_and(|s| s.role == Role::Cause) {
                    writeln!(out, "**Likely cause: {}.**\n", a.named)?;
                } else {
                    writeln!(out, "**No single cause: {}.**\n", a.named)?;
                }
                writeln!(
                    out,
                    "Added worker time = (Δ mean service time − shared wait of {} ms) × the step's throughput (Little's law); approximate, since service time seen by the client includes waiting for a worker.\n",
                    fmt_num(a.shared_wait_ms)
                )?;
                writeln!(
                    out,
                    "| step | mean service base ms | cand ms | req/s | added worker-s/s | share | role |"
                )?;
                writeln!(out, "|---|---|---|---|---|---|---|")?;
                for s in &a.steps {
                    writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {}% | {} |",
                        cell(&s.step),
                        fmt_num(s.service_mean_baseline_ms),
                        fmt_num(s.service_mean_candidate_ms),
                        fmt_num(s.throughput_per_s),
                        fmt_num(s.added_worker_s_per_s),
                        fmt_num((100.0 * s.share).round()),
                        match s.role {
                            Role::Cause => "cause",
                            Role::AddsTime => "adds server time",
                            Role::Queued => "queued behind it",
                            Role::NotRegressed => "not regressed",
                        }
                    )?;
                }
                writeln!(out)?;
            }
        }
        if let Some(h) = &v.headroom {
            writeln!(out, "## Headroom: ×{}\n", fmt_num(h.multiplier))?;
            writeln!(
                out,
                "| scale | verdict | requests | error rate | worst p95 ms | started | did not pass |"
            )?;
            writeln!(out, "|---|---|---|---|---|---|---|")?;
            for s in &h.steps {
                writeln!(
                    out,
                    "| ×{} | {} | {} | {}% | {} ({}) | {} | {} |",
                    fmt_num(s.scale),
                    s.verdict,
                    s.requests,
                    fmt_num(100.0 * s.error_rate),
                    fmt_num(s.worst_p95_ms),
                    cell(&s.worst_p95_step),
                    s.started_ratio
                        .map_or("-".into(), |r| format!("{}%", fmt_num(100.0 * r))),
                    cell(&s.not_passed.join(", "))
                )?;
            }
            writeln!(out)?;
        }
        let t = &run.totals;
        writeln!(out, "## Key figures\n")?;
        writeln!(
            out,
            "- journeys: {} planned, {} started, {} dropped, {} failed",
            t.planned, t.started, t.dropped, t.journeys_failed
        )?;
        let rate = if t.requests > 0 {
            100.0 * t.errors as f64 / t.requests as f64
        } else {
            0.0
        };
        writeln!(
            out,
            "- requests: {}, errors: {} ({}%)",
            t.requests,
            t.errors,
            fmt_num(rate)
        )?;
        writeln!(out, "- load generator: {}\n", generator_line(run))?;
        writeln!(
            out,
            "| transaction | kind | count | errors | p50 ms | p95 ms | p99 ms | max ms |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|---|")?;
        for (name, tx) in &run.transactions {
            let l = &tx.latency_ms;
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(name),
                if crate::result::is_journey(name) {
                    "journey (think time included)"
                } else {
                    "step"
                },
                tx.count,
                tx.errors.values().sum::<u64>(),
                fmt_num(l.p50),
                fmt_num(l.p95),
                fmt_num(l.p99),
                fmt_num(l.max)
            )?;
        }
        let top = run.top_errors(10);
        if !top.is_empty() {
            writeln!(out, "\n## Top errors\n")?;
            writeln!(out, "| transaction | kind | count | seen (s) | message |")?;
            writeln!(out, "|---|---|---|---|---|")?;
            for (name, m) in top {
                writeln!(
                    out,
                    "| {} | {} | {} | {}–{} | {} |",
                    cell(name),
                    cell(&m.kind),
                    m.count,
                    m.first_s,
                    m.last_s,
                    cell(&m.message)
                )?;
            }
        }
        // The charts written beside this file, for change requests that cannot show SVG.
        writeln!(out, "\n## Charts\n")?;
        for (id, file) in crate::report::html::PNG_CHARTS {
            writeln!(out, "![{id}]({file})")?;
        }
        writeln!(
            out,
            "\nEvery chart, the server side and every step: `report.html`."
        )?;
        Ok(())
    }
}

/// A threshold, exact (`crate::verdict::fmt_limit`).
fn limit(x: Option<f64>) -> String {
    x.map_or("-".into(), crate::verdict::fmt_limit)
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".into(), fmt_num)
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{Check, Verdict};

    #[test]
    fn the_summary_opens_with_the_verdict_then_lists_failures_before_warnings() {
        let run = crate::verdict::fixture::run();
        let check = |name: &str, status| Check {
            name: name.into(),
            status,
            observed: Some(1.5),
            warn: Some(1.0),
            fail: Some(2.0),
            message: format!("evidence of {name}"),
        };
        let v = Verdict::new(
            run.run_id.clone(),
            vec![
                check("a warning", Status::Warn),
                check("all good", Status::Pass),
                check("a failure", Status::Fail),
            ],
        );
        let mut buf = Vec::new();
        SummaryMarkdown.write(&run, &v, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.starts_with("# peakgate verdict: **FAIL**\n"), "{text}");
        assert!(text.contains("3 checks: 1 passed, 1 warned, 1 failed."));
        let (f, w) = (
            text.find("| a failure |").unwrap(),
            text.find("| a warning |").unwrap(),
        );
        assert!(f < w);
        // The passing check is listed too, after those that decide the verdict.
        let p = text
            .find("| all good | 1.5 | 1 | 2 |")
            .expect("passing check listed");
        assert!(w < p && text.contains("## Checks that passed"), "{text}");
        assert!(
            text.contains(
                "| pos_order_sync/create_from_ui | step | 800 | 20 | 60 | 120 | 180 | 360 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| pos_order_sync | journey (think time included) | 400 |"),
            "{text}"
        );
    }

    #[test]
    fn the_summary_shows_each_percentile_with_its_n_and_interval() {
        let run = crate::verdict::fixture::run();
        let mut v = Verdict::new(run.run_id.clone(), vec![]);
        let mut buf = Vec::new();
        SummaryMarkdown.write(&run, &v, &mut buf).unwrap();
        assert!(
            !String::from_utf8(buf)
                .unwrap()
                .contains("Percentiles judged")
        );
        v.percentiles = vec![crate::result::PercentileEvidence {
            check: "latency p99 pos_order_sync/*".into(),
            transaction: "pos_order_sync/create_from_ui".into(),
            n: 150,
            estimate_ms: 149.0,
            low_ms: Some(145.92),
            high_ms: None,
            confidence: 0.95,
            judged_ms: 145.92,
        }];
        let mut buf = Vec::new();
        SummaryMarkdown.write(&run, &v, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            text.contains(
                "| latency p99 pos_order_sync/* | pos_order_sync/create_from_ui | 150 | 149 | [145.92, open] | 145.92 |"
            ),
            "{text}"
        );
    }

    #[test]
    fn junit_has_one_case_per_check_and_failures_carry_the_evidence() {
        let run = crate::verdict::fixture::run();
        let v = Verdict::new(
            run.run_id.clone(),
            vec![
                Check {
                    name: "latency p95 pos_order_sync/*".into(),
                    status: Status::Fail,
                    observed: Some(120.0),
                    warn: None,
                    fail: Some(100.0),
                    message: "p95 120 ms".into(),
                },
                Check {
                    name: "run completed".into(),
                    status: Status::Pass,
                    observed: None,
                    warn: None,
                    fail: None,
                    message: "the whole plan ran".into(),
                },
            ],
        );
        let mut buf = Vec::new();
        crate::report::Junit.write(&run, &v, &mut buf).unwrap();
        let xml = String::from_utf8(buf).unwrap();
        assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
        assert!(
            xml.contains("tests=\"2\"") && xml.contains("failures=\"1\""),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"p95 120 ms\""), "{xml}");
        let mut again = Vec::new();
        crate::report::Junit.write(&run, &v, &mut again).unwrap();
        assert_eq!(xml.as_bytes(), &again[..], "junit.xml is deterministic");
    }
}
