//! `peakgate run`: one run made by the [`session`](crate::session), judged from what it wrote,
//! and the closing table; or a stepped run with `--scale`.

use std::time::SystemTime;

use super::{Exit, RunArgs, UsageError};
use crate::plan::{Plan, Target};
use crate::result::{RunDir, RunResult, new_run_id};
use crate::session::{self, Options, Shutdown};

/// Runs `peakgate run`.
pub fn run(
    args: RunArgs,
    runtime: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
) -> anyhow::Result<Exit> {
    let overrides = args.plan.overrides(args.release.clone());
    let plan = Plan::load(&args.profile, &overrides)?;
    if !plan.tenants.is_empty() {
        return super::tenants::run(&args, plan, runtime, shutdown);
    }
    if !args.scale.is_empty() {
        if args.shard.is_some() || args.start_at.is_some() {
            return Err(UsageError(
                "--scale does not combine with --shard or --start-at: shard one run, not a stepped one".into(),
            )
            .into());
        }
        if args.baseline.is_some() {
            return Err(UsageError(
                "--scale and --baseline do not combine: compare single runs of the same load"
                    .into(),
            )
            .into());
        }
        return super::scale::run(&args, plan, runtime, shutdown);
    }
    let candidate = super::store::Candidate {
        profile: &plan.name,
        target: match &plan.target {
            Target::StandIn { .. } => "standin".into(),
            Target::Odoo { url, .. } => crate::store::entry::target_key("odoo", url),
        },
        tenant: None,
        run_id: None,
    };
    let baseline = args
        .baseline
        .as_deref()
        .map(|flag| super::store::open_baseline(flag, &args.store, &candidate))
        .transpose()?;
    let start_at = args.start_at.map(|s| s.resolve(SystemTime::now()));
    if let Some(at) = start_at
        && let Ok(late) = SystemTime::now().duration_since(at)
        && late > std::time::Duration::from_secs(1)
    {
        return Err(UsageError(format!(
            "--start-at {} passed {} ago: give a time still ahead (the shards wait for it after their preflight)",
            humantime::format_rfc3339_seconds(at),
            humantime::format_duration(std::time::Duration::from_secs(late.as_secs()))
        ))
        .into());
    }
    let started_at = start_at.unwrap_or_else(SystemTime::now);
    let run_id = new_run_id(&plan.name, started_at);
    let dir = super::create_run_dir(&args.out, &run_id)?;
    let gate = plan.gate.clone();
    let made = session::Run {
        profile: &args.profile,
        overrides: &overrides,
        dir: &dir,
        run_id,
        started_at,
    };
    // One of several shards is not the run: it posts no Grafana region of its own.
    let several = args.shard.is_some_and(|s| s.count > 1);
    let region = if several {
        None
    } else {
        super::annotate::begin(&plan, &made.run_id, runtime)
    };
    let options = Options {
        shard: args.shard.unwrap_or_default(),
        sharded: args.shard.is_some(),
        start_at,
        ..options(&args)
    };
    if let Err(e) = runtime.block_on(session::run(made, &options, shutdown)) {
        let e = anyhow::Error::from(e);
        super::annotate::abandon(region, &plan, &e, runtime);
        return Err(e);
    }
    let ended = SystemTime::now();
    let accepted = baseline.as_ref().map(|b| &b.run);
    super::annotate::end(region, &plan, &dir.path, &gate, accepted, ended, runtime)?;
    let (result, mut verdict) = super::judge::judge_and_write(&dir.path, &gate, accepted)?;
    super::store::record_choice(baseline, &dir.path, &result, &mut verdict)?;
    if args.quiet {
        println!("{}", dir.path.display());
    } else {
        print!("{}", summary(&result, &dir));
        println!("{}", super::judge::verdict_line(&verdict));
    }
    // A shard of several is a part of the load, never a run of the history: the merged run is
    // what `peakgate merge --store` stores.
    if !several {
        args.store.put_if_named(&dir.path, runtime)?;
    } else if args.store.url.is_some() {
        eprintln!(
            "peakgate: note: a shard is not stored; `peakgate merge --store` stores the merged run"
        );
    }
    let judged_by_gate = verdict.checks.iter().any(|c| {
        c.name != "run completed"
            && c.name != crate::verdict::generator::NAME
            && c.name != crate::verdict::annotations::NAME
    });
    if !judged_by_gate {
        eprintln!(
            "peakgate: note: the profile has no [gate]: only `run completed` and the load generator were checked, so any completed run passes"
        );
    }
    // A shard of several is one part of the load: `peakgate merge` judges the whole, so the
    // shard's exit says how its part ran (a Kubernetes Job of shards succeeds when they all
    // ran), and its own verdict.json stays for reading.
    if let Some(shard) = args.shard.filter(|s| s.count > 1) {
        return Ok(shard_exit(shard, result.status));
    }
    Ok(super::judge::exit_for(&result, &verdict, args.fail_on_warn))
}

/// The exit of one shard of several: 0 when its part ran to the end, 3 interrupted, 1 when the
/// gate's abort rule stopped it (the release failed, whatever the other shards show).
fn shard_exit(shard: crate::plan::shard::Shard, status: crate::result::RunStatus) -> Exit {
    use crate::result::RunStatus;
    let exit = match status {
        RunStatus::Completed => Exit::Pass,
        RunStatus::Interrupted => Exit::Stopped,
        RunStatus::Aborted => Exit::GateFailed,
    };
    eprintln!(
        "peakgate: shard {shard} {status}: the run is judged when its shards are merged (peakgate merge)"
    );
    exit
}

/// The session options of `peakgate run`.
pub(super) fn options(args: &RunArgs) -> Options {
    Options {
        grace: args.grace,
        quiet: args.quiet,
        wire_log: args.wire_log.clone(),
        shard: Default::default(),
        sharded: false,
        start_at: None,
    }
}

/// Widest line of the end-of-run table: an 80-column terminal.
pub(super) const SUMMARY_WIDTH: usize = 80;
/// The transaction column: what is left of 80 columns by the six figures.
const NAME_WIDTH: usize = 34;

/// The end-of-run table on stdout, at most [`SUMMARY_WIDTH`] columns (a longer name gets a
/// line of its own above its figures). Journey rows (a scenario's whole journey, think time
/// included) are marked apart from step rows (one request).
pub(super) fn summary(r: &RunResult, dir: &RunDir) -> String {
    use std::fmt::Write;
    let t = &r.totals;
    let mut out = String::new();
    let _ = writeln!(out, "run {} {} in {:.1}s", r.run_id, r.status, r.duration_s);
    let _ = writeln!(
        out,
        "journeys planned {} started {} dropped {}",
        t.planned, t.started, t.dropped
    );
    let _ = writeln!(
        out,
        "requests {} errors {} ({:.2}%)",
        t.requests,
        t.errors,
        if t.requests > 0 {
            100.0 * t.errors as f64 / t.requests as f64
        } else {
            0.0
        }
    );
    let _ = writeln!(
        out,
        "{:<NAME_WIDTH$} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7}",
        "transaction", "count", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, tx) in &r.transactions {
        let errors: u64 = tx.errors.values().sum();
        let l = &tx.latency_ms;
        let label = if crate::result::is_journey(name) {
            format!("{name} (journey)")
        } else {
            format!("  {name}")
        };
        let label = if label.chars().count() > NAME_WIDTH {
            // Its own line, cut to the width if it is longer still.
            let whole: String = label.chars().take(SUMMARY_WIDTH).collect();
            let _ = writeln!(out, "{whole}");
            String::new()
        } else {
            label
        };
        let _ = writeln!(
            out,
            "{label:<NAME_WIDTH$} {:>6} {errors:>6} {:>7} {:>7} {:>7} {:>7}",
            tx.count,
            figure(l.p50),
            figure(l.p95),
            figure(l.p99),
            figure(l.max)
        );
    }
    let _ = writeln!(
        out,
        "(journey) rows time a whole journey, think time included; indented rows one step"
    );
    let top = r.top_errors(5);
    if !top.is_empty() {
        let _ = writeln!(out, "top errors");
        for (name, m) in top {
            let head = format!("  {:>6}× {name} {}: ", m.count, m.kind);
            let room = SUMMARY_WIDTH.saturating_sub(head.chars().count()).max(20);
            let text: String = m.message.chars().take(room).collect();
            let _ = writeln!(out, "{head}{text}");
        }
    }
    let _ = writeln!(out, "artifacts in {}", dir.path.display());
    out
}

/// A latency in 7 columns: one decimal while it fits, whole ms after, then an exponent.
fn figure(ms: f64) -> String {
    let s = format!("{ms:.1}");
    if s.len() <= 7 {
        return s;
    }
    let s = format!("{ms:.0}");
    if s.len() <= 7 { s } else { format!("{ms:.2e}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_exits_by_how_its_part_ran_not_by_its_share_s_verdict() {
        use crate::result::RunStatus;
        let s = crate::plan::shard::Shard { index: 1, count: 3 };
        assert_eq!(shard_exit(s, RunStatus::Completed), Exit::Pass);
        assert_eq!(shard_exit(s, RunStatus::Interrupted), Exit::Stopped);
        assert_eq!(shard_exit(s, RunStatus::Aborted), Exit::GateFailed);
    }

    #[test]
    fn terminal_final_table_fits_80_columns_and_marks_journeys_apart() {
        let mut r = crate::verdict::fixture::run();
        let long = "pos_order_sync/create_from_ui_with_a_very_long_step_name_indeed_that_goes_on";
        r.transactions
            .insert(long.into(), r.transactions["ecommerce_cart/shop"].clone());
        let mut big = r.transactions["pos_order_sync"].clone();
        big.latency_ms.max = 123_456_789.0;
        r.transactions.insert("month_end_report".into(), big);
        let dir = RunDir {
            path: "reports/20261126T150102Z-smoke-3fa2".into(),
        };
        let text = summary(&r, &dir);
        for line in text.lines() {
            assert!(
                line.chars().count() <= SUMMARY_WIDTH,
                "{} columns: {line}",
                line.chars().count()
            );
        }
        assert!(text.contains("\npos_order_sync (journey) "), "{text}");
        assert!(
            text.contains("\n  pos_order_sync/create_from_ui "),
            "{text}"
        );
        // The long name on its own line, its figures on the next.
        assert!(text.contains(&format!("\n  {long}\n")), "{text}");
        assert!(text.contains(" 1.23e8\n"), "{text}");
    }
}
