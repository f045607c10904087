//! `peakgate capacity`: the capacity report over measured runs, and the USL fit (`fit`) and
//! Erlang C sizing (`size`) on numbers from anywhere.

use std::path::Path;

use anyhow::Context;

use super::{CapacityArgs, CapacityCommand, Exit, FitArgs, SizeArgs, UsageError};
use crate::capacity::erlang;
use crate::capacity::usl::{self, Point};
use crate::result::write_atomic;

/// Runs `peakgate capacity`.
pub fn capacity(args: CapacityArgs) -> anyhow::Result<Exit> {
    match args.command {
        Some(CapacityCommand::Fit(a)) => fit(&a)?,
        Some(CapacityCommand::Size(a)) => size(&a).map_err(UsageError)?,
        None => super::capacity_report::report(&args.report)?,
    }
    Ok(Exit::Pass)
}

/// Reads `concurrency,throughput` rows; every bad row is named by its line.
pub fn read_points(path: &Path) -> Result<Vec<Point>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            format!(
                "{}:1: no `{name}` column (the header must name `concurrency,throughput`)",
                path.display()
            )
        })
    };
    let (nc, xc) = (col("concurrency")?, col("throughput")?);
    let mut points = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{}:{line}: {e}", path.display())
        })?;
        let line = row.position().map_or(0, |p| p.line());
        let num = |i: usize, name: &str| -> Result<f64, String> {
            let cell = row.get(i).unwrap_or("");
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                _ => Err(format!(
                    "{}:{line}: {name} `{cell}` is not a number above 0",
                    path.display()
                )),
            }
        };
        points.push(Point {
            concurrency: num(nc, "concurrency")?,
            throughput_per_s: num(xc, "throughput")?,
        });
    }
    Ok(points)
}

fn fit(args: &FitArgs) -> anyhow::Result<()> {
    let points = read_points(&args.points).map_err(UsageError)?;
    let f = usl::fit(&points).map_err(|e| UsageError(format!("{}: {e}", args.points.display())))?;
    let json = serde_json::to_vec_pretty(&serde_json::json!({"points": points, "usl": f}))
        .context("cannot serialize the fit")?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.points.with_extension("usl.json"));
    write_atomic(&out, &json).with_context(|| format!("cannot write {}", out.display()))?;
    if args.json {
        println!("{}", String::from_utf8_lossy(&json));
    } else {
        print!("{}", crate::capacity::report::describe_usl(&f));
        println!("written to {}", out.display());
    }
    Ok(())
}

fn size(args: &SizeArgs) -> Result<(), String> {
    let (rate, s, wait) = (
        args.arrival_rate,
        args.service_time.as_secs_f64(),
        args.target_wait.as_secs_f64(),
    );
    let need = erlang::servers_needed(rate, s, wait, args.service_level);
    // Counts below the offered load are listed too: they show why they cannot do.
    let from = need.saturating_sub(2).max(1);
    let rows: Vec<erlang::Queue> = (from..=need + 2)
        .map(|c| erlang::queue(c, rate, s, wait))
        .collect();
    if args.json {
        let v = serde_json::json!({
            "arrival_rate_per_s": rate, "service_time_s": s, "target_wait_s": wait,
            "service_level_target": args.service_level, "offered_erlangs": rate * s,
            "workers_needed": need, "around": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    println!(
        "offered load A = {rate} /s × {s} s = {:.3} Erlangs; target: {:.1}% wait at most {} s (Erlang C, M/M/c)",
        rate * s,
        args.service_level * 100.0,
        wait
    );
    println!("workers needed: {need}");
    println!(
        "{:>8} {:>10} {:>14} {:>14} {:>10}",
        "workers", "P(wait)", "mean wait ms", "service level", "occupancy"
    );
    for q in &rows {
        println!(
            "{:>8} {:>10.4} {:>14.1} {:>14.4} {:>10.3}{}",
            q.servers,
            q.p_wait,
            q.mean_wait_s * 1000.0,
            q.service_level,
            q.occupancy,
            if q.servers == need {
                "  ← needed"
            } else {
                ""
            }
        );
    }
    Ok(())
}
