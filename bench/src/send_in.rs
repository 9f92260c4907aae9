//! What `send_in` adds to the app's own transaction. The app's transaction is `BEGIN`, one
//! prepared `INSERT` of one row into a table of the app's, `COMMIT`; measured alone and with
//! `NOOP.send_in(&tx, n)` before the commit (the queue on the same database, so the signal goes
//! straight into the queue's table). Each client is a plain connection of its own, as an app's
//! would be; the table lives in the target's private schema.

use std::time::Instant;

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
/// each), with a `send_in` in each when `send_in`; returns transactions per second.
pub(crate) async fn transactions(
    target: &Target,
    clients: usize,
    n: u64,
    send_in: bool,
) -> Result<f64, String> {
    let (server, schema) = target.postgres.clone().ok_or("not a PostgreSQL target")?;
    let per_client = n / clients as u64;
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(pg_connect(&server).await?);
    }
    let insert = format!("INSERT INTO \"{schema}\".app_rows (n, note) VALUES ($1, $2)");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (c, mut client) in connections.into_iter().enumerate() {
        let runtime = target.runtime.clone();
        let insert = insert.clone();
        tasks.spawn(async move {
            runtime
                .scope(async {
                    let statement = client.prepare(&insert).await.map_err(pg_error)?;
                    for i in 0..per_client {
                        let n = (c as u64 * per_client + i) as i64;
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
                    }
                    Ok::<(), String>(())
                })
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok((per_client * clients as u64) as f64 / started.elapsed().as_secs_f64())
}
