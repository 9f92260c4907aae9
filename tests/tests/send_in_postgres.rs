//! `send_in` with the app's own PostgreSQL transactions, through the real worker binary
//! (`pg-worker`, which links `pg-shop`): a signal exists if and only if its transaction commits,
//! and a worker never sees a signal before the row it refers to.
//!
//! Needs the PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`) and, for the outbox
//! tests, `redis-server` (a private one per test). Each test has its own table and schema.

#[path = "support/pg_table.rs"]
mod pg_table;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use pg_shop::{OrderPlacedArgs, ORDER_PLACED};
use pg_table::Table;
use signalqueue::engine::SharedEngine;
use signalqueue::{Config, Envelope, Ref, Runtime};
use support::postgres::{app_client, Schema};
use support::redis::{available, RedisServer};
use support::{Running, Sandbox};

const WORKER: &str = env!("CARGO_BIN_EXE_pg-worker");

/// How many of the app's connections send at once.
const CLIENTS: i64 = 32;

/// A sandbox with `config`, and this process's runtime opened from the same file.
async fn sandbox(config: &str) -> (Sandbox, Runtime) {
    let sb = Sandbox::new(Some(config));
    let config = Config::from_file(&sb.file("signalqueue.toml")).expect("config");
    let runtime = Runtime::from_config(&config)
        .await
        .expect("open the queues");
    (sb, runtime)
}

fn start_worker(sb: &Sandbox, table: &Table, args: &[&str]) -> Running {
    let mut cmd = sb.command(WORKER, args);
    cmd.env("SQ_PG_TABLE", &table.name)
        .env("SQ_PG_URL", support::postgres::url());
    Running::spawn(cmd)
}

/// Inserts orders `ids` and sends `ORDER_PLACED` for each by reference with `send_in`, in the
/// transaction that inserts it; each transaction waits 0 to 50 ms before it ends, committed
/// when `commit(id)`, else rolled back. `CLIENTS` connections at once.
async fn place_orders(
    runtime: &Runtime,
    table: &str,
    ids: std::ops::Range<i64>,
    commit: fn(i64) -> bool,
) {
    let mut tasks = Vec::new();
    for k in 0..CLIENTS {
        let runtime = runtime.clone();
        let table = table.to_string();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = app_client().await;
            let insert =
                format!("INSERT INTO {table} (id, total_cents, status) VALUES ($1, $2, 'new')");
            runtime
                .scope(async {
                    for id in ids.filter(|id| id % CLIENTS == k) {
                        let tx = client.transaction().await.expect("begin");
                        tx.execute(insert.as_str(), &[&id, &(id * 10)])
                            .await
                            .expect("insert the order");
                        let _ = ORDER_PLACED
                            .send_in(&tx, Ref::from_key(id))
                            .await
                            .expect("send_in");
                        let pause = (id * 7919 % 51) as u64;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        if commit(id) {
                            tx.commit().await.expect("commit");
                        } else {
                            tx.rollback().await.expect("rollback");
                        }
                    }
                })
                .await
        }));
    }
    for task in tasks {
        task.await.expect("a sending task panicked");
    }
}

/// Waits (off the async threads) until the journal has `n` lines.
async fn wait_for_lines(sb: &Sandbox, n: usize) {
    let journal = sb.file("journal.txt");
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            let lines = std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .lines()
                .count();
            if lines >= n {
                break;
            }
            assert!(
                start.elapsed() < support::DEADLINE,
                "timed out waiting for {n} journal lines, have {lines}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .expect("waiting");
}

/// Every committed order was handled once with its row there; nothing for the rolled back.
fn assert_every_row_was_there(journal: &[String], committed: &BTreeSet<i64>, stderr: &str) {
    let gone: Vec<&String> = journal.iter().filter(|l| l.ends_with(" gone")).collect();
    assert!(
        gone.is_empty(),
        "receivers found no row {} times, e.g. {:?}",
        gone.len(),
        &gone[..gone.len().min(10)]
    );
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for line in journal {
        let id: i64 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unexpected journal line {line:?}"));
        assert_eq!(line, &format!("placed {id} {} new", id * 10));
        *seen.entry(id).or_default() += 1;
    }
    let handled: BTreeSet<i64> = seen.keys().copied().collect();
    let rolled_back: Vec<&i64> = handled.difference(committed).collect();
    assert!(
        rolled_back.is_empty(),
        "{} rolled-back orders were delivered, e.g. {:?}",
        rolled_back.len(),
        &rolled_back[..rolled_back.len().min(10)]
    );
    let missing: Vec<&i64> = committed.difference(&handled).collect();
    assert!(
        missing.is_empty(),
        "{} committed orders never handled, e.g. {:?}\n{stderr}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let twice: Vec<(&i64, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "handled more than once without any kill: {twice:?}"
    );
}

/// One in ten transactions is rolled back.
fn commit_nine_in_ten(id: i64) -> bool {
    id % 10 != 0
}

/// `n` orders placed while a worker drains (and, with `extra_relay`, a second relay process
/// shares the outbox with the worker's own: each row is still relayed once).
async fn every_row_is_there(
    config: String,
    table: Table,
    runtime: Runtime,
    sb: Sandbox,
    n: i64,
    extra_relay: bool,
) {
    let worker = start_worker(&sb, &table, &["run", "127.0.0.1:0"]);
    let relay = extra_relay.then(|| start_worker(&sb, &table, &["relay"]));
    place_orders(&runtime, &table.name, 1..n + 1, commit_nine_in_ten).await;
    let committed: BTreeSet<i64> = (1..n + 1).filter(|id| commit_nine_in_ten(*id)).collect();
    wait_for_lines(&sb, committed.len()).await;
    // Time for a stray delivery (a rolled-back signal, a duplicate) to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(relay) = relay {
        relay.wait_stderr("outbox relay started");
        relay.signal("TERM");
        relay.wait().ok();
    }
    worker.signal("TERM");
    let out = worker.wait().ok();
    assert_every_row_was_there(&sb.journal(), &committed, &out.stderr);
    let counts = runtime
        .queue("default")
        .expect("queue")
        .counts()
        .await
        .expect("counts");
    assert_eq!(
        (counts.pending, counts.in_flight, counts.dead),
        (0, 0, 0),
        "{counts:?}\n{config}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn into_the_queue_table_when_the_queue_is_in_the_apps_database() {
    let Some((table, _shop)) = Table::create().await else {
        return;
    };
    let schema = Schema::new();
    let config = format!("[queues.default]\nurl = \"{}\"\n", schema.url());
    let (sb, runtime) = sandbox(&config).await;
    every_row_is_there(config, table, runtime, sb, 2_000, false).await;
    drop(schema);
}

/// Through the outbox, relayed by the worker and by a standalone relay at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_outbox_when_the_queue_is_on_redis() {
    if !available("through_the_outbox_when_the_queue_is_on_redis") {
        return;
    }
    let Some((table, _shop)) = Table::create().await else {
        return;
    };
    let redis = RedisServer::start();
    let schema = Schema::new();
    let config = format!(
        "[queues.default]\nurl = \"{}\"\n[outbox]\nurl = \"{}\"\n",
        redis.url("redis"),
        schema.url()
    );
    let (sb, runtime) = sandbox(&config).await;
    every_row_is_there(config, table, runtime, sb, 2_000, true).await;
    drop(schema);
}

/// The signals in `queue`, by order id, as many times as each is there.
async fn ids_in(queue: &SharedEngine) -> BTreeMap<i64, usize> {
    let mut ids = BTreeMap::new();
    for entry in queue.pending(usize::MAX).await.expect("pending") {
        let envelope = Envelope::decode(&entry.payload).expect("an envelope");
        let args: OrderPlacedArgs =
            signalqueue::codec::decode(&envelope.args).expect("the arguments");
        *ids.entry(*args.instance.key()).or_default() += 1;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_again_and_again_loses_nothing() {
    if !available("a_relay_killed_again_and_again_loses_nothing") {
        return;
    }
    let Some((table, _shop)) = Table::create().await else {
        return;
    };
    let redis = RedisServer::start();
    let schema = Schema::new();
    const BATCH: usize = 50;
    let config = format!(
        "[queues.default]\nurl = \"{}\"\n[outbox]\nurl = \"{}\"\nbatch = {BATCH}\n",
        redis.url("redis"),
        schema.url()
    );
    let (sb, runtime) = sandbox(&config).await;
    const N: i64 = 3_000;
    let sending = {
        let runtime = runtime.clone();
        let name = table.name.clone();
        tokio::spawn(async move { place_orders(&runtime, &name, 1..N + 1, |_| true).await })
    };
    let mut kills: usize = 0;
    while !sending.is_finished() || kills < 3 {
        let relay = start_worker(&sb, &table, &["relay"]);
        tokio::time::sleep(Duration::from_millis(200 + 150 * (kills as u64 % 4))).await;
        relay.signal("KILL");
        let _ = relay.wait();
        kills += 1;
    }
    sending.await.expect("senders");
    let outbox = &runtime.outboxes()[0];
    assert!(
        outbox.stats().await.expect("stats").depth > 0 || kills > 0,
        "the storm should leave work for the last relay"
    );
    let relay = start_worker(&sb, &table, &["relay"]);
    // Started (its signal handlers installed) before it is asked to stop: the outbox may
    // already be empty if the last killed relay moved everything.
    relay.wait_stderr("outbox relay started");
    let start = Instant::now();
    while outbox.stats().await.expect("stats").depth > 0 {
        assert!(
            start.elapsed() < support::DEADLINE,
            "the outbox never emptied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    relay.signal("TERM");
    let out = relay.wait().ok();

    let ids = ids_in(runtime.queue("default").expect("queue")).await;
    let missing: Vec<i64> = (1..N + 1).filter(|id| !ids.contains_key(id)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}\n{}", out.stderr);
    let extra: usize = ids.values().map(|n| n - 1).sum();
    eprintln!("{kills} kills of the relay, {extra} duplicates");
    assert!(
        extra <= kills * BATCH,
        "{extra} duplicates after {kills} kills, more than a batch ({BATCH}) per kill"
    );
    drop(schema);
}

/// The tests' PostgreSQL as sqlx wants it.
async fn sqlx_pool() -> sqlx::PgPool {
    let url = std::env::var("SQ_PG_QUEUE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect with sqlx")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_transactions_and_connections() {
    let Some((table, _shop)) = Table::create().await else {
        return;
    };
    // The queue in the app's database: straight into its table, through sqlx.
    let schema = Schema::new();
    let config = format!("[queues.default]\nurl = \"{}\"\n", schema.url());
    let (_sb, runtime) = sandbox(&config).await;
    let queue = runtime.queue("default").expect("queue").clone();
    let pool = sqlx_pool().await;
    let insert = format!(
        "INSERT INTO {} (id, total_cents, status) VALUES ($1, 1, 'new')",
        table.name
    );
    runtime
        .scope(async {
            // A sqlx::Transaction, committed.
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query(&insert)
                .bind(1_i64)
                .execute(&mut *tx)
                .await
                .expect("row");
            let _ = ORDER_PLACED
                .send_in(&mut tx, Ref::from_key(1))
                .await
                .expect("send_in with &mut Transaction");
            let _ = ORDER_PLACED
                .send_in(&mut *tx, Ref::from_key(1))
                .await
                .expect("send_in with &mut PgConnection");
            tx.commit().await.expect("commit");
            // Rolled back: nothing.
            let mut tx = pool.begin().await.expect("begin");
            ORDER_PLACED
                .send_many_in(
                    &mut tx,
                    (2..5).map(|id| OrderPlacedArgs {
                        instance: Ref::from_key(id),
                    }),
                )
                .await
                .expect("send_many_in");
            tx.rollback().await.expect("rollback");
        })
        .await;
    let ids = ids_in(&queue).await;
    assert_eq!(
        ids,
        BTreeMap::from([(1, 2)]),
        "two sends for order 1, none rolled back"
    );

    // The queue elsewhere (in memory here): into the outbox, through sqlx, then relayed.
    let outbox_schema = Schema::new();
    let config = format!(
        "[queues.default]\nurl = \"memory://sqlx-{}\"\n[outbox]\nurl = \"{}\"\n",
        outbox_schema.name,
        outbox_schema.url()
    );
    let (_sb, runtime) = sandbox(&config).await;
    runtime
        .scope(async {
            let mut tx = pool.begin().await.expect("begin");
            let _ = ORDER_PLACED
                .send_in(&mut tx, Ref::from_key(7))
                .await
                .expect("send_in into the outbox");
            tx.commit().await.expect("commit");
        })
        .await;
    let outbox = &runtime.outboxes()[0];
    assert_eq!(outbox.stats().await.expect("stats").depth, 1);
    let moved = signalqueue::__private::relay_once(outbox, &runtime, 10)
        .await
        .expect("relay");
    assert_eq!(moved, 1);
    let ids = ids_in(runtime.queue("default").expect("queue")).await;
    assert_eq!(ids, BTreeMap::from([(7, 1)]));
    drop((schema, outbox_schema));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_on_another_database_is_refused_naming_both() {
    let Some((_table, _shop)) = Table::create().await else {
        return;
    };
    let schema = Schema::new();
    let config = format!("[queues.default]\nurl = \"{}\"\n", schema.url());
    let (_sb, runtime) = sandbox(&config).await;
    // The same server's `postgres` database: neither the queue nor an outbox is there.
    let (mut client, conn) = tokio_postgres::connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to the postgres database");
    tokio::spawn(conn);
    let err = runtime
        .scope(async {
            let tx = client.transaction().await.expect("begin");
            let err = ORDER_PLACED
                .send_in(&tx, Ref::from_key(1))
                .await
                .expect_err("refused");
            // The probe cannot fail, so the app's transaction is still usable.
            tx.execute("SELECT 1", &[])
                .await
                .expect("the transaction is intact");
            tx.rollback().await.expect("rollback");
            err
        })
        .await
        .to_string();
    for part in [
        "PostgreSQL database `postgres`",
        "does not hold queue `default`",
        &schema.name,
        "[outbox]",
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
    assert!(ids_in(runtime.queue("default").expect("queue"))
        .await
        .is_empty());
    drop(schema);
}

/// A delayed `send_in`, with tokio-postgres and with sqlx, into the queue's table and into the
/// outbox (the relay carries the due time): scheduled in the queue, not claimable, and its
/// envelope carries the due time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_send_in_stays_scheduled_in_the_queue_and_through_the_outbox() {
    let Some((_table, _shop)) = Table::create().await else {
        return;
    };
    let delay = signalqueue::SendOptions::new().delay(Duration::from_secs(3600));
    let due_after = std::time::SystemTime::now() + Duration::from_secs(3600);
    let pool = sqlx_pool().await;

    let schema = Schema::new();
    let config = format!("[queues.default]\nurl = \"{}\"\n", schema.url());
    let (_sb, runtime) = sandbox(&config).await;
    let mut client = app_client().await;
    runtime
        .scope(async {
            let tx = client.transaction().await.expect("begin");
            let _ = ORDER_PLACED
                .send_in_with(&tx, delay.clone(), Ref::from_key(1))
                .await
                .expect("send_in_with, tokio-postgres");
            tx.commit().await.expect("commit");
            let mut tx = pool.begin().await.expect("begin");
            ORDER_PLACED
                .send_many_in_with(
                    &mut tx,
                    delay.clone(),
                    [OrderPlacedArgs {
                        instance: Ref::from_key(2),
                    }],
                )
                .await
                .expect("send_many_in_with, sqlx");
            tx.commit().await.expect("commit");
        })
        .await;
    let colocated = runtime.queue("default").expect("queue").clone();

    let outbox_schema = Schema::new();
    let config = format!(
        "[queues.default]\nurl = \"memory://delayed-{}\"\n[outbox]\nurl = \"{}\"\n",
        outbox_schema.name,
        outbox_schema.url()
    );
    let (_sb2, relayed) = sandbox(&config).await;
    relayed
        .scope(async {
            let tx = client.transaction().await.expect("begin");
            let _ = ORDER_PLACED
                .send_in_with(&tx, delay.clone(), Ref::from_key(3))
                .await
                .expect("send_in_with into the outbox");
            tx.commit().await.expect("commit");
            let mut tx = pool.begin().await.expect("begin");
            let _ = ORDER_PLACED
                .send_in_with(&mut tx, delay.clone(), Ref::from_key(4))
                .await
                .expect("send_in_with into the outbox, sqlx");
            tx.commit().await.expect("commit");
        })
        .await;
    let outbox = &relayed.outboxes()[0];
    let moved = signalqueue::__private::relay_once(outbox, &relayed, 10)
        .await
        .expect("relay");
    assert_eq!(moved, 2);

    for queue in [&colocated, relayed.queue("default").expect("queue")] {
        let counts = queue.counts().await.expect("counts");
        assert_eq!((counts.pending, counts.scheduled), (0, 2), "{counts:?}");
        let early = queue
            .claim(10, Duration::from_secs(60), Duration::ZERO)
            .await
            .expect("claim");
        assert!(early.is_empty(), "not claimable before its time");
        for entry in queue.pending(10).await.expect("pending") {
            let due = Envelope::decode(&entry.payload)
                .expect("envelope")
                .scheduled_for
                .expect("a due time");
            assert!(due + Duration::from_millis(5) >= due_after);
        }
    }
    drop((schema, outbox_schema));
}

/// Commits one `ORDER_PLACED.send_in` with `runtime`, whose queue is not in the app's database.
async fn send_in_the_outbox(runtime: &Runtime, client: &mut tokio_postgres::Client, key: i64) {
    runtime
        .scope(async {
            let tx = client.transaction().await.expect("begin");
            let _ = ORDER_PLACED
                .send_in(&tx, Ref::from_key(key))
                .await
                .expect("send_in into the outbox");
            tx.commit().await.expect("commit");
        })
        .await
}

/// An outbox's inserts notify only while a relay waits (outbox step 2), and a waiting relay
/// is woken by the next one at once, not at its next look.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_inserts_notify_only_while_a_relay_waits() {
    if !support::postgres::available("outbox_inserts_notify_only_while_a_relay_waits").await {
        return;
    }
    let schema = Schema::new();
    let config = format!(
        "[queues.default]\nurl = \"memory://notify-{}\"\n[outbox]\nurl = \"{}\"\n",
        schema.name,
        schema.url()
    );
    let (_sb, runtime) = sandbox(&config).await;
    let queue = runtime.queue("default").expect("queue").clone();
    let outbox = runtime.outboxes()[0].clone();

    // Every notification on the outbox's channel, as it arrives.
    let (listener, mut connection) = support::postgres::url()
        .parse::<tokio_postgres::Config>()
        .expect("url")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (seen, mut notified) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if let tokio_postgres::AsyncMessage::Notification(_) = message {
                let _ = seen.send(());
            }
        }
    });
    listener
        .batch_execute(&format!("LISTEN \"{}.outbox\"", schema.name))
        .await
        .expect("listen");
    let count = |rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>| {
        let mut n = 0;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        n
    };
    let mut client = app_client().await;
    // No relay waits: the commit notifies nobody (and so queues behind no other commit).
    send_in_the_outbox(&runtime, &mut client, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        count(&mut notified),
        0,
        "an insert notified with no relay waiting"
    );

    // A relay that looks only every 5 s (the longest it waits on a mark) unless woken.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut options = signalqueue::__private::RelayOptions::default();
    options.idle_wait = Duration::from_secs(60);
    let relay = tokio::spawn(signalqueue::__private::run_relay(
        outbox,
        runtime.clone(),
        options,
        async move {
            let _ = stopped.await;
        },
    ));
    let relayed = |n: usize| {
        let queue = queue.clone();
        async move {
            let start = Instant::now();
            while queue.pending(10).await.expect("pending").len() < n {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "the relay did not move row {n}"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            start.elapsed()
        }
    };
    relayed(1).await;
    // The relay is waiting now, marked: the next commit notifies and wakes it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = count(&mut notified);
    send_in_the_outbox(&runtime, &mut client, 2).await;
    let took = relayed(2).await;
    assert!(
        took < Duration::from_secs(3),
        "the waiting relay took {took:?}: the commit did not wake it"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        count(&mut notified) >= 1,
        "the insert did not notify the waiting relay"
    );

    let _ = stop.send(());
    relay.await.expect("relay task");
    drop(listener);
    let _ = driver.await;
    drop(schema);
}

/// A queue schema without the function `send_in` (made before schema step 6, or with the
/// function dropped) still gets `send_in`'s rows, by the `INSERT` it used before; a delayed one
/// too, moved out of the claim's table by the trigger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_in_writes_without_the_schemas_function_too() {
    if !support::postgres::available("send_in_writes_without_the_schemas_function_too").await {
        return;
    }
    let schema = Schema::new();
    let config = format!("[queues.default]\nurl = \"{}\"\n", schema.url());
    let (_sb, runtime) = sandbox(&config).await;
    let queue = runtime.queue("default").expect("queue").clone();
    let mut client = app_client().await;
    client
        .batch_execute(&format!(
            "DROP FUNCTION \"{}\".send_in(text, bytea[], text, float8[])",
            schema.name
        ))
        .await
        .expect("drop the function");
    runtime
        .scope(async {
            let tx = client.transaction().await.expect("begin");
            let _ = ORDER_PLACED
                .send_in(&tx, Ref::from_key(1))
                .await
                .expect("send_in");
            let _ = ORDER_PLACED
                .send_in_with(
                    &tx,
                    signalqueue::SendOptions::new().delay(Duration::from_secs(3600)),
                    Ref::from_key(2),
                )
                .await
                .expect("send_in_with a delay");
            tx.commit().await.expect("commit");
        })
        .await;
    let counts = queue.counts().await.expect("counts");
    assert_eq!((counts.pending, counts.scheduled), (1, 1), "{counts:?}");
    assert_eq!(ids_in(&queue).await, BTreeMap::from([(1, 1), (2, 1)]));
    drop(schema);
}
