//! The command line as typed options: every flag, parsed and checked once (clap, derive).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::plan::Overrides;

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
    /// Build profiles from real traffic.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Regenerate a stored run's report.html (with its PNG charts) and summary.md from its
    /// artifacts; verdict.json and junit.xml are left as they are.
    Report(ReportArgs),
    /// Capacity planning: a report over measured runs, or the USL fit and Erlang C sizing on
    /// numbers from anywhere.
    Capacity(CapacityArgs),
    /// Run a profile against a simulated Odoo calibrated from a measured run.
    Simulate(SimulateArgs),
    /// Judge a change to production: its policy's evidence (runs, headroom, baseline,
    /// rollback plan) and the retail calendar's freezes; write change-record.md and .json.
    Gate(GateArgs),
    /// The runs kept in the results store, with their verdicts; or the trend page across
    /// releases (--trend).
    History(super::history::HistoryArgs),
    /// The results store: put run folders into it.
    #[command(subcommand)]
    Store(super::store::StoreCommand),
    /// Answer Flagger's pre-rollout webhook: a POST naming a profile runs it, one run at a
    /// time; 200 on pass, an error status otherwise.
    Serve(super::serve::ServeArgs),
    /// Merge the shards of one sharded run (`run --shard I/N`) into one run folder, and judge
    /// it by their gate.
    Merge(super::merge::MergeArgs),
    /// Kubernetes manifests for a sharded run.
    #[command(subcommand)]
    K8s(super::k8s::K8sCommand),
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The change (change.toml): release, change types, planned time, rollback plan, scope.
    #[arg(long, value_name = "FILE")]
    pub change: PathBuf,
    /// The policy (policy.toml): change type → risk class, and what each class needs.
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// The retail calendar (calendar.toml) the policy's freeze rules apply to; required when
    /// the change's class has freeze rules.
    #[arg(long, value_name = "FILE")]
    pub calendar: Option<PathBuf>,
    /// The load evidence: run folders (reports/<run-id>) and --scale parent folders.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub runs: Vec<PathBuf>,
    /// Why an emergency change deploys inside a freeze: lets an emergency-class change pass
    /// the freeze, and is recorded.
    #[arg(long, value_name = "REASON")]
    pub emergency: Option<String>,
    /// Folder for change-record.md and change-record.json (default: reports/change-<release>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Judge as of this instant (RFC 3339 with an offset, e.g. 2026-12-01T09:00:00Z) instead
    /// of now: to reproduce an earlier judgement. A planned time before it warns.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Exit 1 when the verdict is warn.
    #[arg(long)]
    pub fail_on_warn: bool,
    /// Pre-flight backup_freshness: the backup tool's status, saved by the pipeline
    /// (`pgbackrest info --output=json`, or `wal-g backup-list --json --detail`).
    #[arg(long, value_name = "FILE")]
    pub backup_status: Option<PathBuf>,
    /// Pre-flight config_review: the deployment's odoo.conf.
    #[arg(long, value_name = "FILE")]
    pub odoo_conf: Option<PathBuf>,
    /// Pre-flight config_review: Kubernetes manifests (YAML, several documents a file) holding
    /// the Odoo Deployment and its HorizontalPodAutoscaler.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub kubernetes: Vec<PathBuf>,
    /// Pre-flight config_review: Traefik's dynamic configuration (YAML, or TOML by extension).
    #[arg(long, value_name = "FILE")]
    pub traefik: Option<PathBuf>,
    /// Pre-flight config_review: capacity.json of `peakgate capacity` (workers needed at peak).
    #[arg(long, value_name = "FILE")]
    pub capacity: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder (reports/<run-id>).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// The baseline the run was compared with, to overlay its latency; `last-accepted`: the
    /// stored run verdict.json's `baseline_choice` names, from the results store.
    #[arg(long, value_name = "RUN")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Read an nginx or Traefik access log and write a profile whose arrival curve and mix
    /// reproduce its per-minute demand.
    FromLog(FromLogArgs),
}

#[derive(Debug, Args)]
pub struct FromLogArgs {
    /// The access log (nginx combined, Traefik CLF, or JSON lines).
    #[arg(value_name = "ACCESS_LOG")]
    pub log: PathBuf,
    /// Where to write the profile.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Multiply the demand (e.g. 3 for peak season).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,
    /// The profile's name (default: the output file's stem).
    #[arg(long)]
    pub name: Option<String>,
    /// The log's format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: crate::traffic::LogFormat,
    /// The scenarios folder (relative to the current folder); written as the profile's
    /// `scenarios_dir` relative to where the profile is written. Default: `../scenarios` next
    /// to the profile when it exists, else `./scenarios`.
    #[arg(long, value_name = "DIR")]
    pub scenarios_dir: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CapacityArgs {
    #[command(subcommand)]
    pub command: Option<CapacityCommand>,
    #[command(flatten)]
    pub report: CapacityReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum CapacityCommand {
    /// Fit the Universal Scalability Law to `concurrency,throughput` points from a CSV file.
    Fit(FitArgs),
    /// Erlang C: the workers an arrival rate and service time need for a target wait.
    Size(SizeArgs),
}

/// `peakgate capacity RUN...`: the report over measured runs.
#[derive(Debug, Args)]
pub struct CapacityReportArgs {
    /// Run folders: a stepped run (sub-folders with run.json), or several runs of one profile at
    /// different loads. capacity.json and capacity.md go to the first.
    #[arg(value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Size for this multiple of the profile's load (default: the heaviest run's rate scale).
    #[arg(long, value_name = "X", value_parser = parse_scale)]
    pub at_scale: Option<f64>,
    /// Erlang C target: requests wait at most this long for a worker...
    #[arg(long, value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub target_wait: Duration,
    /// ...with at least this probability.
    #[arg(long, value_name = "P", default_value_t = 0.95, value_parser = parse_probability)]
    pub service_level: f64,
    /// Safety margin on connections and clients (0.25 = 25% above the computed need).
    #[arg(long, value_name = "SHARE", default_value_t = 0.25)]
    pub margin: f64,
    /// Latency objectives the profile's peak must meet (`[SELECTOR:]STAT=DURATION`): the workers
    /// for them come from a simulation sweep calibrated from the lightest run.
    #[arg(long, value_name = "OBJECTIVE")]
    pub slo: Vec<crate::capacity::slo::Slo>,
    /// Print capacity.json on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    /// CSV with a header naming `concurrency` and `throughput` (per second).
    #[arg(long, value_name = "FILE")]
    pub points: PathBuf,
    /// Where to write the fit (default: FILE with extension .usl.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the fit as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SizeArgs {
    /// Requests per second: `12`, `12/s`, `720/min`, `43200/h`.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub arrival_rate: f64,
    /// Mean service time of a request (e.g. 250ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub service_time: Duration,
    /// The wait a request may have for a worker (e.g. 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub target_wait: Duration,
    /// The share of requests that must wait at most --target-wait (0 < P < 1).
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub service_level: f64,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn parse_rate(s: &str) -> Result<f64, String> {
    let (n, per) = s.split_once('/').unwrap_or((s, "s"));
    let div = match per.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" | "hour" => 3600.0,
        other => {
            return Err(format!(
                "`{s}`: unknown unit `/{other}` (use /s, /min or /h)"
            ));
        }
    };
    match n.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x / div),
        _ => Err(format!("`{s}` is not a rate above 0 (e.g. 12/s)")),
    }
}

pub(super) fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err(format!(
            "`{s}` must be a probability between 0 and 1 (e.g. 0.9)"
        )),
    }
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The profile to simulate (its stages, mix, seed and limits).
    #[arg(long, short, value_name = "FILE")]
    pub profile: PathBuf,
    /// The measured run whose per-step histograms (latency.hlog) give the service times.
    #[arg(long, value_name = "RUN_DIR")]
    pub from: PathBuf,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Odoo HTTP workers to simulate (default: the profile's stand-in workers).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), )]
    pub workers: Option<u32>,
    /// Database connections the workers share (default: never short).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub db_maxconn: Option<u32>,
    /// Workers of the calibration run, to estimate the queueing inside its figures
    /// (default: the profile's stand-in workers).
    #[arg(long, value_name = "N")]
    pub calibration_workers: Option<usize>,
    /// Odoo's request log of the calibration run (werkzeug lines with Odoo's query count,
    /// query time and remaining time), for service times without the wait for a worker
    /// (default: RUN_DIR/odoo.log, which runs on the built-in stand-in write).
    #[arg(long, value_name = "FILE")]
    pub odoo_log: Option<PathBuf>,
    /// Where service times come from: `auto` (Odoo's log where it names the step, else the
    /// measured latency less the run's mean wait), `odoo-log`, `latency-less-wait`, or
    /// `latency` (as measured, queueing included).
    #[arg(long, value_name = "SOURCE", default_value = "auto", value_parser = parse_service_times)]
    pub service_times: crate::simulate::calibrate::ServiceTimes,
    /// Find the smallest value meeting every --slo: `workers=4..32` or `db-maxconn=2..16`.
    #[arg(long, value_name = "KEY=FROM..TO", value_parser = parse_sweep)]
    pub sweep: Option<Sweep>,
    /// A latency objective `[SELECTOR:]STAT=DURATION` (selector: a step, a scenario, or `*` for
    /// every step, the default), e.g. `p95=800ms`. Repeatable.
    #[arg(long, value_name = "OBJECTIVE")]
    pub slo: Vec<crate::capacity::slo::Slo>,
    /// Folder the simulated run's folder is created in.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Only the run folder's path on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_service_times(s: &str) -> Result<crate::simulate::calibrate::ServiceTimes, String> {
    use crate::simulate::calibrate::ServiceTimes;
    match s {
        "auto" => Ok(ServiceTimes::Auto),
        "odoo-log" => Ok(ServiceTimes::OdooLog),
        "latency-less-wait" => Ok(ServiceTimes::LatencyLessWait),
        "latency" => Ok(ServiceTimes::Latency),
        other => Err(format!(
            "`{other}` is not one of auto, odoo-log, latency-less-wait, latency"
        )),
    }
}

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepKey {
    Workers,
    DbMaxconn,
}

impl SweepKey {
    pub fn name(self) -> &'static str {
        match self {
            SweepKey::Workers => "workers",
            SweepKey::DbMaxconn => "db-maxconn",
        }
    }
}

/// `--sweep KEY=FROM..TO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub key: SweepKey,
    pub from: usize,
    pub to: usize,
}

pub(super) fn parse_sweep(s: &str) -> Result<Sweep, String> {
    let bad = || {
        format!("`{s}`: a sweep reads workers=FROM..TO or db-maxconn=FROM..TO, e.g. workers=4..32")
    };
    let (key, range) = s.split_once('=').ok_or_else(bad)?;
    let key = match key.trim() {
        "workers" => SweepKey::Workers,
        "db-maxconn" | "db_maxconn" => SweepKey::DbMaxconn,
        _ => return Err(bad()),
    };
    let (a, b) = range.split_once("..").ok_or_else(bad)?;
    let from: usize = a.trim().parse().map_err(|_| bad())?;
    let to: usize = b
        .trim()
        .trim_start_matches('=')
        .parse()
        .map_err(|_| bad())?;
    if from == 0 || to < from {
        return Err(format!(
            "`{s}`: the range must start at 1 or more and not run backwards"
        ));
    }
    Ok(Sweep { key, from, to })
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
    /// The Odoo database to log in to, over the profile's `[target] database` (default: the
    /// one database the server lists).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
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
    /// `last-accepted`: the results store's newest accepted run of the same profile, target
    /// and tenant.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
    /// Exit 1 when the verdict is warn (default: only fail exits 1).
    #[arg(long)]
    pub fail_on_warn: bool,
    /// Run the profile at each of these rate multipliers in turn (e.g. 0.5,1,1.5,2), judge
    /// each, stop after the first that fails, and report the headroom.
    #[arg(long, value_name = "X,Y,...", value_delimiter = ',', value_parser = parse_scale)]
    pub scale: Vec<f64>,
    /// Log every exchange with the target (kind, status, answer shape) to this file, one JSON
    /// object a line: what the differential tests compare.
    #[arg(long, value_name = "FILE", hide = true)]
    pub wire_log: Option<PathBuf>,
    /// Run shard I of N (0-based): the plan's journeys I, I+N, I+2N... (closed model: its
    /// terminals), drawn as in the single run, for `peakgate merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::plan::shard::Shard>,
    /// Start the load at this wall-clock instant (RFC 3339, e.g. 2026-12-01T17:00:00Z), or at
    /// the next whole multiple of a period (`every:1m`): the shards of a run start together.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<crate::plan::shard::StartAt>,
}

#[derive(Debug, Args)]
pub struct VerdictArgs {
    /// The run folder (reports/<run-id>).
    #[arg(value_name = "RUN")]
    pub run: PathBuf,
    /// A run folder of the accepted release to compare with; `last-accepted`: the results
    /// store's newest accepted run of the same profile, target and tenant.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
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
    /// Also check the target as a run would before its load (connect, version, database,
    /// login), without sending any load: a pipeline's first step. Exit 2 on any failure.
    #[arg(long)]
    pub preflight: bool,
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
    /// A database to host (repeat for several tenants; default: the config's `database`).
    /// Each has its own records and sessions; all share the workers.
    #[arg(long = "database", value_name = "NAME")]
    pub databases: Vec<String>,
    /// A stand-in config file read over the built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Release variant to simulate (see --list-releases).
    #[arg(long, value_name = "VARIANT")]
    pub release: Option<String>,
    /// Print the known release variants and exit.
    #[arg(long)]
    pub list_releases: bool,
    /// `memory` (no dependencies) or `postgres` (real SQL; needs --pg-url).
    #[arg(long, default_value = "memory", value_parser = ["memory", "postgres"])]
    pub backend: String,
    /// Write Odoo's request log here (appended): a `werkzeug` line per request with Odoo's
    /// query count, query time and remaining time, what `peakgate simulate --odoo-log` reads.
    /// Memory backend only.
    #[arg(long, value_name = "FILE")]
    pub access_log: Option<PathBuf>,
    /// PostgreSQL database of the postgres backend, created and seeded when missing.
    #[arg(
        long,
        value_name = "URL",
        env = "PEAKGATE_STANDIN_PG_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/peakgate_standin"
    )]
    pub pg_url: String,
    /// Postgres backend: keep sessions in this Redis too, as session_redis does.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// Connections in each worker's pool, like Odoo's --db_maxconn.
    #[arg(long, default_value_t = 8)]
    pub db_maxconn: usize,
    /// Cron threads, like Odoo's --max-cron-threads.
    #[arg(long, default_value_t = 2)]
    pub max_cron_threads: usize,
    /// Drop and recreate the postgres backend's database first.
    #[arg(long)]
    pub reset: bool,
    /// Products to seed in a new database (the first 1% are the hot ones).
    #[arg(long, default_value_t = 2000)]
    pub seed_products: i32,
    /// Stores (warehouses) to seed in a new database.
    #[arg(long, default_value_t = 3)]
    pub seed_warehouses: i32,
    /// Factor on Odoo's retry back-off of uniform(0, 2**try) s; 1 is Odoo's own.
    #[arg(long, default_value_t = 1.0)]
    pub retry_backoff_scale: f64,
    /// How long a request waits for a pooled connection before Odoo's PoolError.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub pool_timeout: Duration,
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}); try 30s, 2m, 1h30m"))
}

pub(super) fn parse_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("`{s}` must be a number above 0")),
    }
}

impl PlanArgs {
    pub(super) fn overrides(&self, release: Option<String>) -> Overrides {
        Overrides {
            target: self.target.clone(),
            release,
            duration: self.duration,
            rate_scale: self.rate_scale,
            seed: self.seed,
            allow_production: self.allow_production,
            standin_release: self.standin_release.clone(),
            gate: self.gate.clone(),
            database: self.database.clone(),
            server_version: None,
            tenant: None,
            secrets_elsewhere: false,
        }
    }
}
