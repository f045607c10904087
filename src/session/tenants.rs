//! A multi-tenant run: one ordinary run per `[[tenant]]`, made side by side on one clock
//! into `tenants/<name>/` of the run folder. Each tenant has its own plan (its database,
//! target and level), its own preflight and target data, engine, recorder and `run.json`;
//! what they share is the Odoo they load. Without a target, one built-in stand-in hosts
//! every tenant's database, so one tenant's load queues for the same workers as the others'.

use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::{
    Executed, Options, Reached, Run, SessionError, Shutdown, assemble, client_for, execute,
    preflight, reach, write_json,
};
use crate::config::profile::ProfileSource;
use crate::odoo::parse_target;
use crate::plan::tenants::TenantSpec;
use crate::plan::{Overrides, Plan, Secret, Target};
use crate::result::{RunDir, RunResult};
use crate::standin::{self, Backend, StandinConfig};
use crate::target::data::DataSets;
use crate::target::{Login, Prepared};

/// The folder of a tenant's run inside the multi-tenant run's folder.
pub fn tenant_dir(run_dir: &Path, tenant: &str) -> std::path::PathBuf {
    run_dir.join("tenants").join(tenant)
}

/// The run id of a tenant's run: the multi-tenant run's, then the tenant's name.
pub fn tenant_run_id(run_id: &str, tenant: &str) -> String {
    format!("{run_id}-{tenant}")
}

/// One tenant on its way: its spec, overrides, folder, reached target and preparation.
struct Tenant {
    spec: TenantSpec,
    overrides: Overrides,
    dir: RunDir,
    reached: Reached,
    plan: Option<std::sync::Arc<Plan>>,
    prepared: Option<Prepared>,
}

/// Makes every tenant's run of a profile with `[[tenant]]`; returns each tenant and what its
/// `run.json` holds, in the profile's order. A preflight that fails (any tenant's) leaves no
/// run folder behind, and nothing is loaded.
pub async fn run(
    run: Run<'_>,
    options: &Options,
    shutdown: &Shutdown,
) -> Result<Vec<(TenantSpec, RunResult)>, SessionError> {
    let src = ProfileSource::read(run.profile)?;
    let draft = Plan::build(&src, run.overrides, &DataSets::offline())?;
    let shared = match start_shared(&draft).await {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&run.dir.path);
            return Err(e);
        }
    };
    let mut tenants = Vec::new();
    let mut failed = None;
    for spec in &draft.tenants {
        match reach_tenant(&src, spec, &run, options, shared.as_ref()).await {
            Ok(t) => tenants.push(t),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    if failed.is_none() {
        for t in &mut tenants {
            let quiet = Options {
                // One progress line: the first tenant's.
                quiet: options.quiet || t.spec.name != draft.tenants[0].name,
                ..options.clone()
            };
            match preflight(&t.reached, &src, &t.overrides, &t.dir, &quiet).await {
                Ok((plan, prepared)) => {
                    t.plan = Some(plan);
                    t.prepared = Some(prepared);
                }
                Err(e) => {
                    failed = Some(tenant_error(&t.spec, e));
                    break;
                }
            }
        }
    }
    if let Some(e) = failed {
        for t in &mut tenants {
            if let Some(p) = &mut t.prepared {
                p.clean_up(&t.reached.client).await;
            }
        }
        stop_all(tenants, shared).await;
        let _ = std::fs::remove_dir_all(&run.dir.path);
        return Err(e);
    }
    let mut prepared: Vec<Prepared> = tenants
        .iter_mut()
        .map(|t| t.prepared.take().expect("prepared above"))
        .collect();
    // Every tenant's load, side by side from the same instant.
    let runs: Vec<Run<'_>> = tenants
        .iter()
        .map(|t| Run {
            profile: run.profile,
            overrides: &t.overrides,
            dir: &t.dir,
            run_id: tenant_run_id(&run.run_id, &t.spec.name),
            started_at: run.started_at,
        })
        .collect();
    let loads = tenants
        .iter()
        .zip(&runs)
        .zip(&prepared)
        .map(|((t, r), prepared)| {
            let quiet = Options {
                quiet: options.quiet || t.spec.name != draft.tenants[0].name,
                ..options.clone()
            };
            let plan = t.plan.clone().expect("prepared above");
            async move { execute(plan, &t.reached, prepared, r, &quiet, shutdown).await }
        });
    let executed: Vec<Result<Executed, SessionError>> = futures_util::future::join_all(loads).await;
    let mut out = Vec::new();
    let mut first_error = None;
    for (((t, r), prepared), ex) in tenants
        .iter()
        .zip(&runs)
        .zip(prepared.iter_mut())
        .zip(executed)
    {
        for a in prepared.clean_up(&t.reached.client).await {
            eprintln!(
                "peakgate: tenant {}: {}: {}{}",
                t.spec.name,
                a.action,
                if a.ok { "" } else { "FAILED: " },
                a.detail
            );
        }
        let written = write_json(&t.dir.file("target-data.json"), &prepared.target_data);
        let plan = t.plan.as_ref().expect("prepared above");
        let assembled = ex
            .and_then(|ex| assemble(plan, t.reached.client.base(), r, options, ex))
            .and_then(|result| written.map(|_| result));
        match assembled {
            Ok(result) => out.push((t.spec.clone(), result)),
            Err(e) => {
                first_error.get_or_insert(tenant_error(&t.spec, e));
            }
        }
    }
    drop(runs);
    stop_all(tenants, shared).await;
    match first_error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn tenant_error(spec: &TenantSpec, e: SessionError) -> SessionError {
    SessionError::Tenant {
        tenant: spec.name.clone(),
        source: Box::new(e),
    }
}

/// The built-in stand-in the tenants without a `url` share, with their databases; `None`
/// when the profile has a target.
struct SharedStandin {
    url: url::Url,
    login: Login,
    running: standin::RunningStandin,
    stop: CancellationToken,
}

async fn start_shared(draft: &Plan) -> Result<Option<SharedStandin>, SessionError> {
    let Target::StandIn {
        workers,
        release,
        config,
    } = &draft.target
    else {
        return Ok(None);
    };
    let databases: Vec<String> = draft
        .tenants
        .iter()
        .filter(|t| t.url.is_none())
        .map(|t| t.database.clone())
        .collect();
    let Some(first) = databases.first() else {
        return Ok(None);
    };
    let mut config = StandinConfig::load(config.as_deref(), release.as_deref(), *workers)?;
    if let Some(v) = &draft.declared_version {
        config.server_version = v.clone();
    }
    config.database = first.clone();
    let login = Login {
        login: config.login.clone(),
        password: Secret::new(config.password.clone()),
        password_env: "the stand-in's config".into(),
    };
    let stop = CancellationToken::new();
    // No `odoo.log`: a request log of several databases is not one the simulator
    // calibrates from.
    let running = standin::start_with(
        Backend::memory(config, &databases[1..]),
        ([127, 0, 0, 1], 0).into(),
        stop.clone(),
        None,
    )
    .await
    .map_err(|e| SessionError::Standin(e.to_string()))?;
    let url = parse_target(&running.url()).map_err(|e| SessionError::Standin(e.to_string()))?;
    Ok(Some(SharedStandin {
        url,
        login,
        running,
        stop,
    }))
}

/// A tenant's folder and its target reached: the shared stand-in, or its own Odoo.
async fn reach_tenant(
    src: &ProfileSource,
    spec: &TenantSpec,
    run: &Run<'_>,
    options: &Options,
    shared: Option<&SharedStandin>,
) -> Result<Tenant, SessionError> {
    let mut overrides = run.overrides.clone();
    overrides.tenant = Some(spec.name.clone());
    overrides.database = Some(spec.database.clone());
    let path = tenant_dir(&run.dir.path, &spec.name);
    std::fs::create_dir_all(&path).map_err(|source| SessionError::Write {
        path: path.clone(),
        source,
    })?;
    let dir = RunDir { path };
    let draft = Plan::build(src, &overrides, &DataSets::offline())?;
    let reached = match (&draft.target, shared) {
        (Target::StandIn { .. }, Some(s)) => Reached {
            client: client_for(&draft, &s.url),
            login: Some(s.login.clone()),
            database: Some(spec.database.clone()),
            standin: None,
            declared_version: draft.declared_version.clone(),
        },
        _ => reach(src, &overrides, &dir, options)
            .await
            .map_err(|e| tenant_error(spec, e))?,
    };
    Ok(Tenant {
        spec: spec.clone(),
        overrides,
        dir,
        reached,
        plan: None,
        prepared: None,
    })
}

async fn stop_all(tenants: Vec<Tenant>, shared: Option<SharedStandin>) {
    for t in tenants {
        let _ = t.reached.stop().await;
    }
    if let Some(s) = shared {
        s.stop.cancel();
        let _ = s.running.wait().await;
    }
}
