//! cli: command-line flags turned into typed options once (`args`), and the commands that
//! wire the stages together, one file each. Exit codes follow DESIGN.md.

mod args;
mod capacity;
mod capacity_report;
mod judge;
mod profile;
mod progress;
mod report;
mod run;
mod scale;
mod signals;
mod simulate;
mod standin;
mod verdict;

use std::process::ExitCode;

use clap::Parser;

pub use args::*;
pub(crate) use report::regenerate_report;

use crate::plan::{Plan, Target};
use crate::standin::StandinConfig;

/// Exit codes users' pipelines rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The gate passed (or warned without `--fail-on-warn`).
    Pass = 0,
    /// The gate failed.
    GateFailed = 1,
    /// Bad input or usage.
    BadInput = 2,
    /// The run was interrupted by a person or a signal; its artifacts are still written.
    Stopped = 3,
    /// The load generator could not keep its plan: neither passed nor failed.
    Inconclusive = 4,
    /// An internal or I/O failure (a task died, an artifact could not be written or read):
    /// never a pass; the artifacts are as complete as they can be.
    Internal = 5,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// The async runtime a command runs on; failing to start it is reported, not a panic.
fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        Exit::BadInput
    })
}

/// Creates the run folder `out/<id>/` before any work, so a late failure loses nothing.
fn create_run_dir(out: &std::path::Path, id: &str) -> Result<crate::result::RunDir, Exit> {
    crate::result::RunDir::create(out, id).map_err(|e| {
        eprintln!(
            "error: cannot create the run folder in {}: {e}",
            out.display()
        );
        Exit::BadInput
    })
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check(args),
        Command::Verdict(args) => verdict::verdict(args),
        Command::Standin(args) => standin::standin(args),
        Command::Profile(ProfileCommand::FromLog(args)) => profile::from_log(args),
        Command::Report(args) => report::report(args),
        Command::Capacity(args) => capacity::capacity(args),
        Command::Simulate(args) => simulate::simulate(args),
    };
    exit.into()
}

/// What a run checks before its load, alone: `Ok` says what was found.
fn preflight(plan: &Plan) -> Result<String, String> {
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
    let base = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
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
    let found = found.map_err(|e| e.to_string())?;
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

fn check(args: CheckArgs) -> Exit {
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
                            eprintln!("error: preflight: {e}");
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
        eprintln!(
            "\n{failed} of {} profile(s) failed the check",
            args.profiles.len()
        );
        Exit::BadInput
    } else {
        Exit::Pass
    }
}
