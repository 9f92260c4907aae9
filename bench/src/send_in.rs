//! What `send_in` adds to the app's own transaction. The app's transaction is `BEGIN`, one
//! prepared `INSERT` of one row into a table of the app's, `COMMIT`; measured alone and with
//! `NOOP.send_in(&tx, n)` before the commit (the queue on the same database, so the signal goes
//! straight into the queue's table). Each client is a plain connection of its own, as an app's
//! would be; the table lives in the target's private schema.
//!
//! The two kinds of transaction alternate on every connection, each timed on its own: this
//! machine's disk flush (the bulk of a one-row transaction) changes several-fold from one second
//! to the next, so only transactions run side by side compare.

use std::time::{Duration, Instant};

use crate::signals::NOOP;
use crate::target::{pg_connect, pg_error, Target};

/// How many of the app's connections run transactions at once in the concurrent measurement.
pub(crate) const CLIENTS: usize = 8;

/// Creates the app's table in `target`'s schema.
pub(crate) async fn prepare(target: &Target) -> Result<(), String> {
    let (server, schema) = target.postgres.as_ref().ok_or("not a PostgreSQL target")?;
    let client = pg_connect(server).await?;
    client
        .batch_execute(&format!(
            "CREATE TABLE \"{schema}\".app_rows (
                 id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 n    bigint NOT NULL,
                 note text   NOT NULL
             )"
        ))
        .await
        .map_err(|e| format!("cannot make the app's table: {}", pg_error(e)))
}

/// Runs `n` of the app's transactions from `clients` connections at once (`n / clients`
/// each), every other one with a `send_in`; returns the rate of each kind, transactions per
/// second: how many there were over the time the connections spent on that kind.
pub(crate) async fn transactions(
    target: &Target,
    clients: usize,
    n: u64,
) -> Result<(f64, f64), String> {
    let (server, schema) = target.postgres.clone().ok_or("not a PostgreSQL target")?;
    let per_client = n / clients as u64;
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(pg_connect(&server).await?);
    }
    let insert = format!("INSERT INTO \"{schema}\".app_rows (n, note) VALUES ($1, $2)");
    let mut tasks = tokio::task::JoinSet::new();
    for (c, mut client) in connections.into_iter().enumerate() {
        let runtime = target.runtime.clone();
        let insert = insert.clone();
        tasks.spawn(async move {
            runtime
                .scope(async {
                    let statement = client.prepare(&insert).await.map_err(pg_error)?;
                    // Time spent and transactions done: [app only, with send_in].
                    let mut spent = [Duration::ZERO; 2];
                    let mut done = [0u64; 2];
                    for i in 0..per_client {
                        let n = (c as u64 * per_client + i) as i64;
                        // Half the connections start with each kind.
                        let send_in = (i + c as u64) % 2 == 1;
                        let started = Instant::now();
                        let tx = client.transaction().await.map_err(pg_error)?;
                        tx.execute(&statement, &[&n, &"an order"])
                            .await
                            .map_err(pg_error)?;
                        if send_in {
                            let _ = NOOP
                                .send_in(&tx, n as u64)
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        tx.commit().await.map_err(pg_error)?;
                        spent[usize::from(send_in)] += started.elapsed();
                        done[usize::from(send_in)] += 1;
                    }
                    Ok::<_, String>((spent, done))
                })
                .await
        });
    }
    let mut spent = [Duration::ZERO; 2];
    let mut done = [0u64; 2];
    while let Some(finished) = tasks.join_next().await {
        let (s, d) = finished.map_err(|e| e.to_string())??;
        for k in 0..2 {
            spent[k] += s[k];
            done[k] += d[k];
        }
    }
    // Each connection runs one transaction at a time: a kind's rate is its count over its
    // share of the connections' time.
    let rate = |k: usize| done[k] as f64 * clients as f64 / spent[k].as_secs_f64().max(1e-9);
    Ok((rate(0), rate(1)))
}
