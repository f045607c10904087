//! `peakgate profile from-log`: a profile from an access log.

use anyhow::Context;

use super::{Exit, FromLogArgs};

pub fn from_log(args: FromLogArgs) -> anyhow::Result<Exit> {
    let (requests, bad) = crate::traffic::read_log(&args.log, args.format)?;
    for (line, reason) in bad.iter().take(5) {
        eprintln!("warning: {}:{line}: skipped: {reason}", args.log.display());
    }
    if bad.len() > 5 {
        eprintln!("warning: {} more lines skipped", bad.len() - 5);
    }
    let demand = crate::traffic::Demand::from_requests(&requests);
    let name = args.name.clone().unwrap_or_else(|| {
        args.out
            .file_stem()
            .map_or_else(|| "from-log".into(), |s| s.to_string_lossy().into_owned())
    });
    let text = demand.to_profile(
        &name,
        &args.log.display().to_string(),
        args.scale,
        args.scenarios_dir.as_deref(),
    );
    crate::result::write_atomic(&args.out, text.as_bytes())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let totals = demand.totals();
    let peak = demand
        .minutes
        .iter()
        .map(|m| m.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    println!(
        "{}: {} requests read ({} skipped), {} minutes, {} journeys (peak {peak}/min), {} requests matched no flow",
        args.log.display(),
        requests.len(),
        bad.len(),
        demand.minutes.len(),
        totals.values().sum::<u64>(),
        demand.unclassified
    );
    for (flow, n) in &totals {
        println!("  {flow:<22} {n:>8} journeys");
    }
    println!(
        "wrote {} (demand ×{}); check it with: peakgate check {}",
        args.out.display(),
        args.scale,
        args.out.display()
    );
    Ok(Exit::Pass)
}
