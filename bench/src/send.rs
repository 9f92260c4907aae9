//! `send` throughput: one task awaiting each send, 64 tasks sending at once, and `send_many`
//! in batches of 1000. Plus two references that say where the floor is: the same
//! one-at-a-time send on a single-threaded runtime, and the raw `redis` crate pushing one
//! payload at a time on a multiplexed connection.

use std::time::Instant;

use crate::signals::{NoopArgs, NOOP};
use crate::target::{Kind, Servers, Target};

/// How many tasks send at once in the concurrent measurement.
pub(crate) const TASKS: usize = 64;

/// The batch size of `send_many`.
pub(crate) const BATCH: usize = 1000;

/// Sends `n` signals one after another, each awaited; returns signals per second.
pub(crate) async fn sequential(target: &Target, n: u64) -> Result<f64, String> {
    target
        .runtime
        .scope(async {
            let started = Instant::now();
            for i in 0..n {
                let _ = NOOP.send(i).await.map_err(|e| e.to_string())?;
            }
            Ok(n as f64 / started.elapsed().as_secs_f64())
        })
        .await
}

/// [`sequential`] on a fresh single-threaded runtime (on a thread of its own, with its own
/// engine connection), where a send's wake-ups stay on one thread.
pub(crate) fn sequential_current_thread(
    kind: Kind,
    servers: Servers,
    n: u64,
) -> Result<f64, String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let target = Target::fresh(kind, &servers).await?;
            let rate = sequential(&target, n).await;
            target.cleanup().await?;
            rate
        })
    })
    .join()
    .map_err(|_| "the single-threaded sender panicked".to_string())?
}

/// Sends `n` signals from [`TASKS`] tasks at once; returns signals per second.
pub(crate) async fn concurrent(target: &Target, n: u64) -> Result<f64, String> {
    let per_task = n / TASKS as u64;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS as u64 {
        let runtime = target.runtime.clone();
        tasks.spawn(async move {
            runtime
                .scope(async {
                    for i in 0..per_task {
                        let _ = NOOP
                            .send(t * per_task + i)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok::<(), String>(())
                })
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok((per_task * TASKS as u64) as f64 / started.elapsed().as_secs_f64())
}

/// Sends `n` signals with `send_many`, [`BATCH`] at a time; returns signals per second.
pub(crate) async fn batched(target: &Target, n: u64) -> Result<f64, String> {
    target
        .runtime
        .scope(async {
            let started = Instant::now();
            load(n, |batch| async move {
                NOOP.send_many(batch.map(|n| NoopArgs { n }))
                    .await
                    .map(|_| ())
            })
            .await?;
            Ok(n as f64 / started.elapsed().as_secs_f64())
        })
        .await
}

/// Calls `send` with the numbers `0..n` in batches of [`BATCH`]: how backlogs are loaded.
pub(crate) async fn load<F, Fut>(n: u64, mut send: F) -> Result<(), String>
where
    F: FnMut(std::ops::Range<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<(), signalqueue::Error>>,
{
    let mut from = 0;
    while from < n {
        let to = (from + BATCH as u64).min(n);
        send(from..to).await.map_err(|e| e.to_string())?;
        from = to;
    }
    Ok(())
}

/// The raw `redis` crate: one task awaiting each `RPUSH` of a payload the size of an encoded
/// `bench.noop` on a multiplexed connection. What a send costs with no signalqueue in it.
pub(crate) async fn raw_redis_sequential(redis_url: &str, n: u64) -> Result<f64, String> {
    let client = redis::Client::open(redis_url).map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let key = format!(
        "sqbench-raw-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let payload = [b'x'; 48];
    let started = Instant::now();
    for _ in 0..n {
        redis::cmd("RPUSH")
            .arg(&key)
            .arg(&payload[..])
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    Ok(rate)
}
