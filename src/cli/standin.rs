//! `peakgate standin`: the built-in Odoo-compatible target, served until a stop signal
//! (SIGINT, SIGTERM or SIGHUP).

use super::{Exit, StandinArgs, UsageError};
use crate::session::Shutdown;
use crate::standin::StandinConfig;

pub fn standin(
    args: StandinArgs,
    runtime: &tokio::runtime::Runtime,
    stop: &Shutdown,
) -> anyhow::Result<Exit> {
    let mut config = StandinConfig::load(
        args.config.as_deref(),
        args.release.as_deref(),
        args.workers,
    )?;
    // `--database` names the databases hosted: the first replaces the config's own.
    if let Some(first) = args.databases.first() {
        config.database = first.clone();
    }
    if args.databases.len() > 1 && args.backend == "postgres" {
        return Err(UsageError(
            "--database more than once: only the memory backend hosts several databases".into(),
        )
        .into());
    }
    if args.list_releases {
        for (name, description) in &config.variants {
            println!("{name:<18} {description}");
        }
        return Ok(Exit::Pass);
    }
    // The PostgreSQL backend does not count its queries: its lines would say 0.
    if args.access_log.is_some() && args.backend == "postgres" {
        return Err(UsageError(
            "--access-log: the postgres backend does not count its queries yet, so it cannot write Odoo's query fields; use the memory backend".into(),
        )
        .into());
    }
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let (release, workers, login) = (config.release.clone(), config.workers, config.login.clone());
        let database = if args.databases.is_empty() {
            config.database.clone()
        } else {
            args.databases.join(", ")
        };
        let backend = if args.backend == "postgres" {
            if args.db_maxconn == 0 || args.seed_products < 5 || args.seed_warehouses < 1 {
                return Err(UsageError("--db-maxconn must be ≥ 1, --seed-products ≥ 5, --seed-warehouses ≥ 1".into()).into());
            }
            let opts = crate::standin::pg::PgOptions {
                url: args.pg_url.clone(),
                redis_url: args.redis_url.clone(),
                db_maxconn: args.db_maxconn,
                max_cron_threads: args.max_cron_threads,
                reset: args.reset,
                products: args.seed_products,
                warehouses: args.seed_warehouses,
                backoff_scale: args.retry_backoff_scale.max(0.0),
                pool_timeout: args.pool_timeout,
            };
            eprintln!("preparing {} (first start seeds the retail data set)", crate::secrets::redact_url(&args.pg_url));
            crate::standin::Backend::Postgres(
                crate::standin::pg::PgBackend::open(config, opts, shutdown.clone()).await?,
            )
        } else {
            crate::standin::Backend::memory(config, &args.databases)
        };
        let access_log = match &args.access_log {
            None => None,
            Some(path) => Some(crate::standin::AccessLog::create(path, &database).map_err(
                |e| UsageError(format!("--access-log {}: {e}", path.display())),
            )?),
        };
        let server = crate::standin::start_with(backend, args.listen, shutdown.clone(), access_log)
            .await
            .map_err(|e| UsageError(format!("cannot listen on {}: {e}", args.listen)))?;
        println!(
            "peakgate stand-in listening on {} (backend {}, release {release}, {workers} workers, database {database}, login {login})",
            server.url(),
            args.backend
        );
        stop.stopping().cancelled().await;
        // The access log's last lines are flushed here: losing them is peakgate's failure.
        server.stop().await.map_err(anyhow::Error::msg)?;
        Ok(Exit::Pass)
    })
}
