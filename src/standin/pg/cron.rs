//! Cron threads: like Odoo's, each polls `ir_cron` for a due job it can lock
//! (`FOR UPDATE SKIP LOCKED`), runs it in its transaction, and moves `nextcall` on by the
//! job's interval from where it was, so a cron that cannot keep up falls further behind.

use std::time::Duration;

use tokio_postgres::NoTls;
use tokio_postgres::config::Config as PgConfig;
use tokio_util::sync::CancellationToken;

/// How often an idle cron thread looks for due jobs.
const POLL: Duration = Duration::from_millis(500);

/// Runs one cron thread until `shutdown`; reconnects after errors.
pub async fn run(cfg: PgConfig, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Ok((mut client, conn)) = cfg.connect(NoTls).await {
            let conn = tokio::spawn(async move {
                let _ = conn.await;
            });
            loop {
                let ran = tokio::select! {
                    r = run_due_job(&mut client) => r,
                    _ = shutdown.cancelled() => break,
                };
                let pause = if matches!(ran, Ok(true)) {
                    Duration::ZERO
                } else {
                    POLL
                };
                if ran.is_err() && client.is_closed() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            conn.abort();
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Runs one due job, if any; `Ok(true)` when one ran.
async fn run_due_job(client: &mut tokio_postgres::Client) -> Result<bool, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let Some(job) = tx
        .query_opt(
            "SELECT id, job, interval_s FROM ir_cron WHERE active AND nextcall <= (now() at time zone 'utc') ORDER BY priority, nextcall LIMIT 1 FOR UPDATE SKIP LOCKED",
            &[],
        )
        .await?
    else {
        tx.rollback().await?;
        return Ok(false);
    };
    let (id, kind): (i32, String) = (job.get(0), job.get(1));
    match kind.as_str() {
        // Procurement: top up every quant that ran low (touches the rows POS sync locks).
        "replenish" => {
            tx.execute(super::calls::REPLENISH_SQL, &[]).await?;
        }
        // Invoice the paid POS orders of the last minutes into one journal entry.
        "invoice_batch" => {
            tx.execute(
                "WITH batch AS (UPDATE pos_order SET state = 'invoiced' WHERE state = 'paid' AND created_at < (now() at time zone 'utc') - interval '2 seconds' RETURNING amount_total)
                 INSERT INTO account_move (journal_id, ref, state, date, amount_total)
                 SELECT j.id, 'POS batch', 'posted', current_date, coalesce(sum(b.amount_total), 0) FROM account_journal j, batch b WHERE j.code = 'INV' GROUP BY j.id",
                &[],
            )
            .await?;
        }
        _ => {}
    }
    tx.execute(
        "UPDATE ir_cron SET lastcall = now() at time zone 'utc', nextcall = nextcall + make_interval(secs => interval_s) WHERE id = $1",
        &[&id],
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}
