//! cli: command-line flags turned into typed options once (`args`), and the commands that
//! wire the stages together, one file each. Exit codes follow DESIGN.md.

mod annotate;
mod args;
mod capacity;
mod capacity_report;
mod check;
mod exit;
mod gate;
mod history;
mod judge;
mod k8s;
mod merge;
mod profile;
mod report;
mod run;
mod scale;
mod serve;
mod simulate;
mod standin;
mod store;
mod tenants;
mod verdict;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

pub use args::*;
pub use exit::{Exit, InputError, UsageError, for_error};
pub(crate) use report::regenerate_report;

use crate::session::Shutdown;

/// The async runtime of a command, with the process's one [`Shutdown`] listening on it.
fn runtime(grace: Option<Duration>) -> anyhow::Result<(tokio::runtime::Runtime, Shutdown)> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let shutdown = {
        let _entered = runtime.enter();
        Shutdown::listen(grace)
    };
    Ok((runtime, shutdown))
}

/// Creates the run folder `out/<id>/` before any work, so a late failure loses nothing. An
/// `--out` that is a file is the user's input to mend (exit 2), not a failure to write.
fn create_run_dir(out: &std::path::Path, id: &str) -> anyhow::Result<crate::result::RunDir> {
    if out.exists() && !out.is_dir() {
        return Err(exit::InputError {
            flag: "--out",
            source: anyhow::anyhow!(
                "{} is a file: --out takes the folder run folders are created in",
                out.display()
            ),
        }
        .into());
    }
    crate::result::RunDir::create(out, id)
        .with_context(|| format!("cannot create the run folder {}", out.join(id).display()))
}

/// Parses the command line and runs the command; returns the process exit code. Every
/// command's error is said here, once, and mapped to its exit code by [`for_error`].
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => {
            runtime(Some(args.grace)).and_then(|(rt, stop)| run::run(args, &rt, &stop))
        }
        Command::Check(args) => check::check(args),
        Command::Verdict(args) => verdict::verdict(args),
        Command::Standin(args) => {
            runtime(None).and_then(|(rt, stop)| standin::standin(args, &rt, &stop))
        }
        Command::Profile(ProfileCommand::FromLog(args)) => profile::from_log(args),
        Command::Report(args) => report::report(args),
        Command::Capacity(args) => capacity::capacity(args),
        Command::Simulate(args) => simulate::simulate(args),
        Command::Gate(args) => gate::gate(args),
        Command::History(args) => history::history(args),
        Command::Store(command) => store::store(command),
        Command::Serve(args) => runtime(None).and_then(|(rt, stop)| serve::serve(args, &rt, &stop)),
        Command::Merge(args) => merge::merge(args),
        Command::K8s(command) => k8s::k8s(command),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {}", exit::message(&e));
            for_error(&e).into()
        }
    }
}
