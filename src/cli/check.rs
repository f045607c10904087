//! `peakgate check`: validates profiles and prints each plan; with `--preflight`, also checks
//! the target each one drives (connect, version, login, database) and nothing else.

use anyhow::Context;

use super::{CheckArgs, Exit, UsageError};
use crate::plan::{Plan, Target};
use crate::standin::StandinConfig;

/// What a run checks before its load, alone: `Ok` says what was found.
fn preflight(plan: &Plan) -> anyhow::Result<String> {
    let Target::Odoo {
        url,
        database,
        password_env,
        login,
        password,
    } = &plan.target
    else {
        return Ok("the built-in stand-in: started by the run itself, nothing to check".into());
    };
    let base = url::Url::parse(url).map_err(|e| UsageError(format!("{url}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let creds = password.as_ref().map(|p| crate::plan::Credentials {
        database: String::new(),
        login: login.clone(),
        password: p.clone(),
    });
    let found = runtime.block_on(async {
        let client =
            crate::odoo::OdooClient::http_capped(&base, plan.load.timeout(), 2, plan.load.max_body);
        crate::target::preflight::check(
            &client,
            plan.declared_version.as_deref(),
            creds.as_ref(),
            database.as_deref(),
            password_env,
        )
        .await
    });
    let found = found?;
    let db = found
        .database
        .as_deref()
        .unwrap_or("(not checked: no password)");
    let who = if creds.is_some() {
        format!("login {login} ok")
    } else {
        format!("login not checked (set {password_env})")
    };
    Ok(format!(
        "{url}: Odoo {}, database {db}, {who}",
        found.version.serie()
    ))
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
                    match preflight(&plan) {
                        Ok(line) => println!("preflight {line}"),
                        Err(e) => {
                            eprintln!("error: preflight: {}", super::exit::message(&e));
                            failed += 1;
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
