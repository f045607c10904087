//! `peakgate run` of a profile with `[[tenant]]`: every tenant's run made side by side by
//! the [`session`](crate::session::tenants), each judged in its own folder by the profile's
//! gate, then the overall verdict: each tenant's, and the noisy-neighbour check.

use std::time::SystemTime;

use anyhow::Context;

use super::{Exit, RunArgs, UsageError};
use crate::plan::Plan;
use crate::plan::tenants::TenantSpec;
use crate::result::tenants::{TENANTS_SCHEMA, TenantEntry, TenantsIndex};
use crate::result::{Check, RunResult, RunStatus, Status, Verdict, new_run_id, read_latency};
use crate::session::tenants::{tenant_dir, tenant_run_id};
use crate::session::{self, Shutdown};
use crate::verdict::neighbour;

/// Runs a multi-tenant profile; `plan` is its plan before any target was asked.
pub fn run(
    args: &RunArgs,
    plan: Plan,
    runtime: &tokio::runtime::Runtime,
    shutdown: &Shutdown,
) -> anyhow::Result<Exit> {
    if !args.scale.is_empty() || args.baseline.is_some() || args.shard.is_some() {
        return Err(UsageError(
            "--scale, --baseline and --shard do not take a profile with [[tenant]] yet: run each tenant's load on its own to step, compare or shard it".into(),
        )
        .into());
    }
    if plan.annotations.is_some() {
        return Err(UsageError(
            "[annotations.grafana] does not take a profile with [[tenant]] yet: annotate the tenants' runs one by one, or leave the section out".into(),
        )
        .into());
    }
    let overrides = args.plan.overrides(args.release.clone());
    let started_at = SystemTime::now();
    let run_id = new_run_id(&plan.name, started_at);
    let dir = super::create_run_dir(&args.out, &run_id)?;
    let made = session::Run {
        profile: &args.profile,
        overrides: &overrides,
        dir: &dir,
        run_id: run_id.clone(),
        started_at,
    };
    let results = runtime.block_on(session::tenants::run(
        made,
        &super::run::options(args),
        shutdown,
    ))?;
    let mut per_tenant = Vec::new();
    for (spec, _) in &results {
        let path = tenant_dir(&dir.path, &spec.name);
        let (result, verdict) = super::judge::judge_and_write(&path, &plan.gate, None)
            .with_context(|| format!("judging tenant `{}`", spec.name))?;
        if !args.quiet {
            println!(
                "tenant {}: {}",
                spec.name,
                super::judge::verdict_line(&verdict)
            );
        }
        per_tenant.push((spec.clone(), result, verdict));
    }
    let mut checks: Vec<Check> = per_tenant
        .iter()
        .map(|(s, _, v)| tenant_check(s, v))
        .collect();
    let evidence = match &plan.noisy_neighbour {
        None => None,
        Some(n) => {
            let (_, canary, _) = per_tenant
                .iter()
                .find(|(s, _, _)| s.name == n.canary)
                .context("the canary tenant's run is missing")?;
            let timeout_s = canary.plan.timeout_ms as f64 / 1000.0;
            let (quiet_s, loaded_s) = neighbour::phases(&canary.plan.stages, n, timeout_s);
            let path = tenant_dir(&dir.path, &n.canary).join("latency.hlog");
            let log =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let quiet = crate::metrics::hlog::read_windows(&log, &quiet_s)
                .with_context(|| format!("reading {}", path.display()))?;
            let loaded = crate::metrics::hlog::read_windows(&log, &loaded_s)
                .with_context(|| format!("reading {}", path.display()))?;
            let (c, e) = neighbour::evaluate(
                &n.canary,
                quiet_s,
                loaded_s,
                &quiet,
                &loaded,
                &plan.gate.compare,
            );
            checks.extend(c);
            Some(e)
        }
    };
    let status = worst_status(per_tenant.iter().map(|(_, r, _)| r.status));
    let mut overall = Verdict::new(run_id.clone(), checks);
    overall.release = args.release.clone();
    overall.profile = Some(plan.name.clone());
    overall.status = Some(status);
    overall.peakgate_version = Some(crate::result::PEAKGATE_VERSION.to_string());
    let index = TenantsIndex {
        schema: TENANTS_SCHEMA.into(),
        run_id: run_id.clone(),
        profile: plan.name.clone(),
        release: args.release.clone(),
        status,
        verdict: overall.verdict,
        tenants: per_tenant
            .iter()
            .map(|(s, r, v)| entry(&run_id, s, r, v))
            .collect(),
        noisy_neighbour: evidence,
    };
    // The parent's page shows the canary's figures (its latency under its neighbours' load),
    // else the first tenant's, with the overall verdict.
    let shown_name = plan
        .noisy_neighbour
        .as_ref()
        .map_or_else(|| plan.tenants[0].name.clone(), |n| n.canary.clone());
    let shown = per_tenant
        .iter()
        .find(|(s, _, _)| s.name == shown_name)
        .map(|(_, r, _)| r.clone())
        .context("the shown tenant's run is missing")?;
    let shown_latency = read_latency(&tenant_dir(&dir.path, &shown_name)).ok();
    let verdicts: Vec<Verdict> = per_tenant.into_iter().map(|(_, _, v)| v).collect();
    crate::report::tenants::write_all(&dir.path, &index, &overall, &verdicts)
        .and_then(|_| {
            crate::report::write_report(&dir.path, &shown, &overall, shown_latency.as_ref(), None)
        })
        .with_context(|| format!("writing the verdict into {}", dir.path.display()))?;
    // Each tenant's run is a run of its own in the store, keyed by its tenant.
    for spec in &plan.tenants {
        args.store
            .put_if_named(&tenant_dir(&dir.path, &spec.name), runtime)?;
    }
    if args.quiet {
        println!("{}", dir.path.display());
    } else {
        if let Some(e) = &index.noisy_neighbour {
            println!("{}", neighbour::describe(e));
        }
        println!("artifacts in {}", dir.path.display());
        println!("{}", super::judge::verdict_line(&overall));
    }
    Ok(match status {
        RunStatus::Interrupted => Exit::Stopped,
        _ if overall.verdict == Status::Inconclusive => Exit::Inconclusive,
        RunStatus::Aborted => Exit::GateFailed,
        RunStatus::Completed => super::judge::exit_for_verdict(overall.verdict, args.fail_on_warn),
    })
}

/// `interrupted` over `aborted` over `completed`.
fn worst_status(all: impl Iterator<Item = RunStatus>) -> RunStatus {
    let rank = |s: RunStatus| match s {
        RunStatus::Completed => 0,
        RunStatus::Aborted => 1,
        RunStatus::Interrupted => 2,
    };
    all.max_by_key(|s| rank(*s)).unwrap_or(RunStatus::Completed)
}

/// `tenant <name>`: the tenant's own verdict, with the checks that did not pass.
fn tenant_check(spec: &TenantSpec, v: &Verdict) -> Check {
    let not_passed = not_passed(v);
    Check {
        name: format!("tenant {}", spec.name),
        status: v.verdict,
        observed: Some(not_passed.len() as f64),
        warn: None,
        fail: None,
        message: if not_passed.is_empty() {
            format!(
                "database `{}`: every check of the gate passed ({} checks)",
                spec.database,
                v.checks.len()
            )
        } else {
            format!(
                "database `{}`: {} of {} checks did not pass: {}",
                spec.database,
                not_passed.len(),
                v.checks.len(),
                not_passed.join(", ")
            )
        },
    }
}

fn not_passed(v: &Verdict) -> Vec<String> {
    v.checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| format!("{} ({})", c.name, c.status))
        .collect()
}

fn entry(run_id: &str, s: &TenantSpec, r: &RunResult, v: &Verdict) -> TenantEntry {
    TenantEntry {
        name: s.name.clone(),
        database: s.database.clone(),
        url: s.url.clone(),
        load: s.load,
        dir: format!("tenants/{}", s.name),
        run_id: tenant_run_id(run_id, &s.name),
        status: r.status,
        verdict: v.verdict,
        not_passed: not_passed(v),
        requests: r.totals.requests,
        errors: r.totals.errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tenants::TenantLoad;

    #[test]
    fn an_interrupted_tenant_outranks_an_aborted_one_which_outranks_completed() {
        use RunStatus::*;
        assert_eq!(worst_status([Completed, Completed].into_iter()), Completed);
        assert_eq!(worst_status([Completed, Aborted].into_iter()), Aborted);
        assert_eq!(
            worst_status([Interrupted, Aborted, Completed].into_iter()),
            Interrupted
        );
    }

    #[test]
    fn a_tenants_check_carries_its_verdict_and_names_what_did_not_pass() {
        let spec = TenantSpec {
            name: "north".into(),
            database: "retail_north".into(),
            url: None,
            load: TenantLoad::Share(1.0),
        };
        let check = |name: &str, status| Check {
            name: name.into(),
            status,
            observed: Some(1.0),
            warn: None,
            fail: None,
            message: String::new(),
        };
        let v = Verdict::new(
            "r".into(),
            vec![
                check("run completed", Status::Pass),
                check("latency p95 */*", Status::Warn),
                check("error rate */*", Status::Fail),
            ],
        );
        let c = tenant_check(&spec, &v);
        assert_eq!(c.name, "tenant north");
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.observed, Some(2.0));
        assert!(
            c.message
                .contains("`retail_north`: 2 of 3 checks did not pass: latency p95 */* (warn), error rate */* (fail)"),
            "{}",
            c.message
        );
        let calm = Verdict::new("r".into(), vec![check("run completed", Status::Pass)]);
        assert_eq!(tenant_check(&spec, &calm).status, Status::Pass);
    }
}
