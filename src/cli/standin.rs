//! `peakgate standin`: the built-in Odoo-compatible target, served until ctrl-c.

use super::{Exit, StandinArgs};
use crate::standin::StandinConfig;

pub fn standin(args: StandinArgs) -> Exit {
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
    // The PostgreSQL backend does not count its queries: its lines would say 0.
    if args.access_log.is_some() && args.backend == "postgres" {
        eprintln!(
            "error: --access-log: the postgres backend does not count its queries yet, so it cannot write Odoo's query fields; use the memory backend"
        );
        return Exit::BadInput;
    }
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(exit) => return exit,
    };
    runtime.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let (release, workers, login) = (config.release.clone(), config.workers, config.login.clone());
        let database = config.database.clone();
        let backend = if args.backend == "postgres" {
            if args.db_maxconn == 0 || args.seed_products < 5 || args.seed_warehouses < 1 {
                eprintln!("error: --db-maxconn must be ≥ 1, --seed-products ≥ 5, --seed-warehouses ≥ 1");
                return Exit::BadInput;
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
            match crate::standin::pg::PgBackend::open(config, opts, shutdown.clone()).await {
                Ok(pg) => crate::standin::Backend::Postgres(pg),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::BadInput;
                }
            }
        } else {
            crate::standin::Backend::Memory(Box::new(crate::standin::odoo::Odoo::new(config)))
        };
        let access_log = match &args.access_log {
            None => None,
            Some(path) => match crate::standin::AccessLog::create(path, &database) {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("error: --access-log {}: {e}", path.display());
                    return Exit::BadInput;
                }
            },
        };
        let server = match crate::standin::start_with(backend, args.listen, shutdown.clone(), access_log).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen on {}: {e}", args.listen);
                return Exit::BadInput;
            }
        };
        println!(
            "peakgate stand-in listening on {} (backend {}, release {release}, {workers} workers, database {database}, login {login})",
            server.url(),
            args.backend
        );
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("stopping the stand-in");
        match server.stop().await {
            Ok(()) => Exit::Pass,
            Err(e) => {
                eprintln!("error: {e}");
                Exit::Internal
            }
        }
    })
}
