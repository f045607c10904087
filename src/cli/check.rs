//! `peakgate check`: validates profiles and prints each plan; with `--preflight`, also checks
//! the target each one drives (connect, version, login, database) and nothing else.

use anyhow::Context;

use super::{CheckArgs, Exit, UsageError};
use crate::plan::{Plan, Target};
use crate::standin::StandinConfig;

/// What a run checks before its load, alone: the target (connect, version, database, login)
/// and the probes (each connects once). `Ok` says what was found, a line per thing checked;
/// an optional probe that cannot connect is said, not an error, as in a run.
fn preflight(plan: &Plan) -> anyhow::Result<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (mut lines, canary_base) = match &plan.target {
        Target::Odoo {
            url,
            database,
            password_env,
            login,
            password,
        } => {
            let base = url::Url::parse(url).map_err(|e| UsageError(format!("{url}: {e}")))?;
            let creds = password.as_ref().map(|p| crate::plan::Credentials {
                database: String::new(),
                login: login.clone(),
                password: p.clone(),
            });
            let found = runtime.block_on(async {
                let client = crate::odoo::OdooClient::http_capped(
                    &base,
                    plan.load.timeout(),
                    2,
                    plan.load.max_body,
                );
                crate::target::preflight::check(
                    &client,
                    plan.declared_version.as_deref(),
                    creds.as_ref(),
                    database.as_deref(),
                    password_env,
                )
                .await
            })?;
            let db = found
                .database
                .as_deref()
                .unwrap_or("(not checked: no password)");
            let who = if creds.is_some() {
                format!("login {login} ok")
            } else {
                format!("login not checked (set {password_env})")
            };
            let line = format!(
                "{url}: Odoo {}, database {db}, {who}",
                found.version.serie()
            );
            (vec![line], Some(url.trim_end_matches('/').to_string()))
        }
        _ => (
            vec!["the built-in stand-in: started by the run itself, nothing to check".into()],
            None,
        ),
    };
    // The canary calls the target: the built-in stand-in is not running yet.
    let probes: Vec<_> = plan
        .probes
        .iter()
        .filter(|p| canary_base.is_some() || p.kind != crate::plan::ProbeKind::Canary)
        .cloned()
        .collect();
    let outcomes = runtime.block_on(crate::probes::try_connect(
        &probes,
        canary_base.as_deref().unwrap_or_default(),
    ));
    let mut unreachable = Vec::new();
    for (spec, outcome) in probes.iter().zip(outcomes) {
        let name = spec.kind.name();
        let at = spec.shown_url.as_deref().unwrap_or("the target");
        match outcome {
            Ok(()) => lines.push(format!("probe {name} ({at}): connected")),
            Err(e) if spec.optional => lines.push(format!(
                "probe {name} ({at}): cannot connect: {e} (optional: a run would record a gap and keep trying)"
            )),
            Err(e) => unreachable.push(format!("probe `{name}` ({at}) cannot connect: {e}")),
        }
    }
    if !unreachable.is_empty() {
        return Err(UsageError(unreachable.join("; ")).into());
    }
    Ok(lines.join("\npreflight "))
}

pub fn check(args: CheckArgs) -> anyhow::Result<Exit> {
    let mut failed = 0;
    for (i, path) in args.profiles.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let checked = Plan::load(path, &args.plan.overrides(None)).and_then(|plan| {
            if let Target::StandIn {
                workers,
                release,
                config,
            } = &plan.target
            {
                StandinConfig::load(config.as_deref(), release.as_deref(), *workers)?;
            }
            Ok(plan)
        });
        match checked {
            Ok(plan) => {
                print!("{}", crate::plan::describe(&plan));
                if args.preflight {
                    // A multi-tenant profile: each tenant's target and database, as its run
                    // would check them.
                    let mut each = Vec::new();
                    for t in &plan.tenants {
                        let mut o = args.plan.overrides(None);
                        o.tenant = Some(t.name.clone());
                        o.database = Some(t.database.clone());
                        each.push((format!("tenant {}: ", t.name), Plan::load(path, &o)));
                    }
                    if each.is_empty() {
                        each.push((String::new(), Ok(plan)));
                    }
                    for (who, plan) in each {
                        match plan
                            .map_err(anyhow::Error::from)
                            .and_then(|p| preflight(&p))
                        {
                            Ok(line) => println!("preflight {who}{line}"),
                            Err(e) => {
                                eprintln!("error: preflight {who}{}", super::exit::message(&e));
                                failed += 1;
                            }
                        }
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        eprintln!();
        return Err(UsageError(format!(
            "{failed} of {} profile(s) failed the check",
            args.profiles.len()
        ))
        .into());
    }
    Ok(Exit::Pass)
}
