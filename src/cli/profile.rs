//! `peakgate profile from-log`: a profile from an access log.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::exit::InputError;
use super::{Exit, FromLogArgs};

fn input(flag: &'static str, message: String) -> anyhow::Error {
    InputError {
        flag,
        source: anyhow::anyhow!(message),
    }
    .into()
}

/// The `scenarios_dir` to write, relative to the folder the profile is written in, so the
/// profile checks wherever `--out` points: `--scenarios-dir` (relative to here), or else the
/// default `../scenarios` next to the profile when it exists, or else `./scenarios` here.
fn scenarios_dir_for(out: &Path, given: Option<&str>) -> anyhow::Result<Option<String>> {
    let here = |p: &Path| std::path::absolute(p).with_context(|| format!("{}", p.display()));
    let out_dir = here(
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )?;
    let target: PathBuf = match given {
        Some(d) => {
            let d = here(Path::new(d))?;
            if !d.is_dir() {
                return Err(input(
                    "--scenarios-dir",
                    format!("{} is not a folder", d.display()),
                ));
            }
            d
        }
        None if out_dir.join("../scenarios").is_dir() => return Ok(None),
        None => {
            let d = here(Path::new("scenarios"))?;
            if !d.is_dir() {
                return Err(input(
                    "--scenarios-dir",
                    format!(
                        "no scenarios folder next to the profile ({}) or here (./scenarios): say where the scenarios are",
                        out_dir.join("../scenarios").display()
                    ),
                ));
            }
            d
        }
    };
    let relative = pathdiff::diff_paths(&target, &out_dir).unwrap_or(target);
    Ok(Some(relative.to_string_lossy().into_owned()))
}

/// The first 5 lines skipped, and how many more.
fn warn_skipped(log: &Path, bad: &crate::traffic::Skipped) {
    for (line, reason) in bad.iter().take(5) {
        eprintln!("warning: {}:{line}: skipped: {reason}", log.display());
    }
    if bad.len() > 5 {
        eprintln!("warning: {} more lines skipped", bad.len() - 5);
    }
}

pub fn from_log(args: FromLogArgs) -> anyhow::Result<Exit> {
    if args.out.is_dir() {
        return Err(input(
            "--out",
            format!(
                "{} is a folder: --out takes the profile's file name",
                args.out.display()
            ),
        ));
    }
    if let (Ok(a), Ok(b)) = (args.out.canonicalize(), args.log.canonicalize())
        && a == b
    {
        return Err(input(
            "--out",
            format!(
                "{} is the access log itself: it would be overwritten",
                args.out.display()
            ),
        ));
    }
    // The folder to write in must exist: said as such, not as the temporary file's name.
    if let Some(folder) = args.out.parent().filter(|p| !p.as_os_str().is_empty())
        && !folder.is_dir()
    {
        return Err(input(
            "--out",
            format!(
                "{}: the folder {} does not exist (create it first)",
                args.out.display(),
                folder.display()
            ),
        ));
    }
    let scenarios_dir = scenarios_dir_for(&args.out, args.scenarios_dir.as_deref())?;
    let (requests, bad) = match crate::traffic::read_log(&args.log, args.format) {
        Ok(read) => read,
        Err(e) => {
            // Lines skipped as strays may be why the rest still spans too long: say them.
            if let crate::traffic::LogError::Span { skipped, .. } = &e {
                warn_skipped(&args.log, skipped);
            }
            return Err(e.into());
        }
    };
    warn_skipped(&args.log, &bad);
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
        scenarios_dir.as_deref(),
    );
    crate::result::write_atomic(&args.out, text.as_bytes())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    // What was written must pass the check the hint below prints: the same rules (rates,
    // spans, scenarios), said now rather than by the user's next command.
    if let Err(e) = crate::plan::Plan::load(&args.out, &crate::plan::Overrides::default()) {
        let _ = std::fs::remove_file(&args.out);
        return Err(anyhow::Error::new(e).context(format!(
            "the profile generated from {} does not pass `peakgate check` (not written)",
            args.log.display()
        )));
    }
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
