//! cli: command-line flags turned into typed options once, and the commands that wire the
//! stages together. Exit codes follow DESIGN.md.

mod judge;
mod progress;
mod run;
mod scale;
mod verdict;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::plan::{Overrides, Plan, Target};
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
    /// The run was aborted or interrupted; its artifacts are still written.
    Stopped = 3,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Load tests and capacity simulation for retail Odoo releases.
#[derive(Debug, Parser)]
#[command(name = "peakgate", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a profile's load against a target (the built-in stand-in when none is given) and
    /// write the run's artifacts to `reports/<run-id>/`.
    Run(RunArgs),
    /// Validate profiles and the scenarios they use, and print each plan.
    Check(CheckArgs),
    /// Judge a stored run again from its artifacts (run.json, latency.hlog, gate.json) and
    /// write verdict.json, junit.xml and summary.md.
    Verdict(VerdictArgs),
    /// Serve the built-in Odoo-compatible stand-in until ctrl-c.
    Standin(StandinArgs),
}

/// Flags that change a profile's plan.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// Drive this Odoo (e.g. http://staging:8069) instead of the profile's target.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Stretch or cut the plan's stages to last this long (e.g. 30s, 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Multiply every arrival rate (or terminal count) by this factor.
    #[arg(long, value_name = "X", value_parser = parse_scale)]
    pub rate_scale: Option<f64>,
    /// Seed of the arrival times, the scenario mix and the journeys' data.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Accept a profile whose environment is not a pre-production one.
    #[arg(long)]
    pub allow_production: bool,
    /// Release variant of the built-in stand-in (when no target is given), over the
    /// profile's `[standin] release`; see `peakgate standin --list-releases`.
    #[arg(long, value_name = "VARIANT")]
    pub standin_release: Option<String>,
    /// A file with a `[gate]` section merged over the profile's (same-named checks replace).
    #[arg(long, value_name = "FILE")]
    pub gate: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The profile to run (profiles/*.toml).
    #[arg(long, short, value_name = "FILE")]
    pub profile: PathBuf,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Label of the release under test, recorded in the artifacts.
    #[arg(long, value_name = "LABEL")]
    pub release: Option<String>,
    /// Folder the run folder is created in.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// After a stop (ctrl-c), how long in-flight journeys may finish.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub grace: Duration,
    /// No live progress, and only the run folder's path on stdout.
    #[arg(long, short)]
    pub quiet: bool,
    /// A run folder of the accepted release: compare this run with it step by step.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Exit 1 when the verdict is warn (default: only fail exits 1).
    #[arg(long)]
    pub fail_on_warn: bool,
    /// Run the profile at each of these rate multipliers in turn (e.g. 0.5,1,1.5,2), judge
    /// each, stop after the first that fails, and report the headroom.
    #[arg(long, value_name = "X,Y,...", value_delimiter = ',', value_parser = parse_scale)]
    pub scale: Vec<f64>,
}

#[derive(Debug, Args)]
pub struct VerdictArgs {
    /// The run folder (reports/<run-id>).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// A run folder of the accepted release to compare with.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// A `[gate]` file merged over the gate the run was judged with (its gate.json).
    #[arg(long, value_name = "FILE")]
    pub gate: Option<PathBuf>,
    /// Exit 1 when the verdict is warn.
    #[arg(long)]
    pub fail_on_warn: bool,
    /// Write the verdict files here instead of into the run folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Profiles to check.
    #[arg(required = true, value_name = "PROFILE")]
    pub profiles: Vec<PathBuf>,
    #[command(flatten)]
    pub plan: PlanArgs,
}

#[derive(Debug, Args)]
pub struct StandinArgs {
    /// Address to listen on; port 0 picks a free port (printed on start).
    #[arg(long, default_value = "127.0.0.1:8069")]
    pub listen: SocketAddr,
    /// HTTP workers: requests served at once, like Odoo's --workers.
    #[arg(long)]
    pub workers: Option<usize>,
    /// A stand-in config file read over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Release variant to simulate (see --list-releases).
    #[arg(long, value_name = "VARIANT")]
    pub release: Option<String>,
    /// Print the known release variants and exit.
    #[arg(long)]
    pub list_releases: bool,
    /// Storage backend; `memory` is the only one in this build.
    #[arg(long, default_value = "memory", value_parser = ["memory"])]
    pub backend: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try 30s, 2m, 1h30m"))
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{s}` must be a number above 0")),
    }
}

impl PlanArgs {
    fn overrides(&self, release: Option<String>) -> Overrides {
        Overrides {
            target: self.target.clone(),
            release,
            duration: self.duration,
            rate_scale: self.rate_scale,
            seed: self.seed,
            allow_production: self.allow_production,
            standin_release: self.standin_release.clone(),
            gate: self.gate.clone(),
        }
    }
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check(args),
        Command::Verdict(args) => verdict::verdict(args),
        Command::Standin(args) => standin(args),
    };
    exit.into()
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
            Ok(plan) => print!("{}", crate::plan::describe(&plan)),
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

fn standin(args: StandinArgs) -> Exit {
    let config = match StandinConfig::load(
        args.config.as_deref(),
        args.release.as_deref(),
        args.workers,
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::BadInput;
        }
    };
    if args.list_releases {
        for (name, description) in &config.variants {
            println!("{name:<18} {description}");
        }
        return Exit::Pass;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::BadInput;
        }
    };
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let (release, workers, login) = (config.release.clone(), config.workers, config.login.clone());
        let database = config.database.clone();
        let server = match crate::standin::start(config, args.listen, shutdown.clone()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return Exit::BadInput;
            }
        };
        println!(
            "peakgate stand-in listening on {} (release {release}, {workers} workers, database {database}, login {login})",
            server.url()
        );
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping the stand-in");
        server.stop().await;
        Exit::Pass
    })
}
