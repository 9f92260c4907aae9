//! Rows of a real PostgreSQL sent by reference (`pg-shop`): receivers see the row as it is
//! when they run, a deleted row is delivered as `None` or skipped as the signal says, and a
//! store that fails is retried then dead-lettered. In process (`send_now`), and through the
//! two-line `pg-worker` binary on a SQLite queue in a temp directory.
//!
//! Needs the PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`; `SQ_PG_URL`
//! overrides). Without one the tests say so and pass, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`.
//! Each run creates a table of its own and drops it at the end, even when a test fails.

#[path = "support/pg_table.rs"]
mod pg_table;
mod support;

use pg_shop::{Order, PgShop, ORDER_PAID, ORDER_PLACED};
use pg_table::Table;
use signalqueue::{Config, Ref, Runtime, Sender};
use support::postgres::url;
use support::Sandbox;

const WORKER: &str = env!("CARGO_BIN_EXE_pg-worker");

fn order(id: i64, total_cents: i64, status: &str) -> Order {
    Order {
        id,
        total_cents,
        status: status.into(),
    }
}

fn lines(prefix: &str) -> Vec<String> {
    pg_shop::journal()
        .into_iter()
        .filter(|l| l.starts_with(prefix))
        .collect()
}

#[tokio::test]
async fn send_now_loads_rows_from_postgres() {
    let Some((table, shop)) = Table::create().await else {
        return;
    };
    // This process's store: the run's table (a worker gets it from `SQ_PG_TABLE`).
    let name = table.name.clone();
    signalqueue::mapping::stores::provide(move || {
        let name = name.clone();
        async move { PgShop::connect(&url(), &name).await }
    });

    // Sent with the row as it was; the receiver sees it as it is.
    let first = order(1, 100, "new");
    shop.save(&first).await.unwrap();
    let reference = Ref::new(&first);
    shop.save(&order(1, 250, "paid")).await.unwrap();
    let report = ORDER_PLACED.send_now(reference).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(lines("placed 1 "), ["placed 1 250 paid"]);

    // Deleted before handling: `deliver` (the default) runs with `None`...
    shop.save(&order(2, 5, "new")).await.unwrap();
    shop.delete(2).await.unwrap();
    let report = ORDER_PLACED.send_now(Ref::from_key(2)).await;
    assert!(
        report.is_success() && report.skipped.is_empty(),
        "{report:?}"
    );
    assert_eq!(lines("placed 2 "), ["placed 2 gone"]);

    // ... and `skip` runs nothing, naming the row.
    let report = ORDER_PAID.send_now(Ref::from_key(2)).await;
    assert!(report.outcomes.is_empty(), "{report:?}");
    assert_eq!(
        report
            .skipped
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>(),
        ["`instance` (pgshop.order with pk 2) no longer exists"]
    );
    assert!(lines("paid 2").is_empty());

    shop.save(&order(3, 30, "paid")).await.unwrap();
    let report = ORDER_PAID.send_now(Ref::from_key(3)).await;
    assert!(
        report.is_success() && report.skipped.is_empty(),
        "{report:?}"
    );
    assert_eq!(lines("paid 3 "), ["paid 3 30 paid"]);

    assert_eq!(Sender::of::<Order>().as_str(), "pgshop.order");
    drop(table);
}

/// A sandbox whose queue is a SQLite file named by absolute path, shared by this process
/// (sending) and the worker (handling); retries are quick and few.
async fn sandbox() -> (Sandbox, Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("signalqueue.db");
    let config = format!(
        "[queues.default]\nurl = \"sqlite://{}\"\ninterval_ms = 50\n\
         [worker]\nretries = 1\nretry_base_ms = 20\nretry_max_ms = 100\n",
        db.display()
    );
    std::fs::write(dir.path().join("signalqueue.toml"), config).expect("write config");
    let sb = Sandbox { dir };
    let config = Config::from_file(&sb.file("signalqueue.toml")).expect("config");
    let runtime = Runtime::from_config(&config).await.expect("open the queue");
    (sb, runtime)
}

fn run_worker(sb: &Sandbox, table: &str) -> support::Out {
    sb.run_env(
        WORKER,
        &["run", "127.0.0.1:0", "--halt-when-exhausted"],
        &[("SQ_PG_TABLE", table), ("SQ_PG_URL", &url())],
    )
}

#[tokio::test]
async fn the_worker_loads_each_row_just_before_its_receivers_run() {
    let Some((table, shop)) = Table::create().await else {
        return;
    };
    let (sb, runtime) = sandbox().await;
    runtime
        .scope(async {
            // Updated after the send: the worker sees the update.
            shop.save(&order(1, 100, "new")).await.unwrap();
            let _ = ORDER_PLACED.send(Ref::from_key(1)).await.unwrap();
            shop.save(&order(1, 999, "shipped")).await.unwrap();
            // Deleted after the send: `deliver` runs with `None`, `skip` runs nothing.
            shop.save(&order(2, 20, "new")).await.unwrap();
            let _ = ORDER_PLACED.send(Ref::from_key(2)).await.unwrap();
            shop.save(&order(3, 30, "paid")).await.unwrap();
            let _ = ORDER_PAID.send(Ref::from_key(3)).await.unwrap();
            shop.delete(2).await.unwrap();
            shop.delete(3).await.unwrap();
            // Present: runs.
            shop.save(&order(4, 40, "paid")).await.unwrap();
            let _ = ORDER_PAID.send(Ref::from_key(4)).await.unwrap();
        })
        .await;

    let out = run_worker(&sb, &table.name).ok();
    let mut journal = sb.journal();
    journal.sort();
    assert_eq!(
        journal,
        ["paid 4 40 paid", "placed 1 999 shipped", "placed 2 gone"],
        "{}",
        out.stderr
    );
    let skipped: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("a referenced row is gone"))
        .collect();
    assert_eq!(skipped.len(), 1, "{}", out.stderr);
    assert!(
        skipped[0].contains("signal=pgshop.order_paid"),
        "{}",
        skipped[0]
    );
    assert!(
        skipped[0].contains("`instance` (pgshop.order with pk 3) no longer exists"),
        "{}",
        skipped[0]
    );
    let counts = sb.engine("default").await.counts().await.unwrap();
    assert_eq!((counts.pending, counts.dead), (0, 0), "{counts:?}");
    drop(table);
}

#[tokio::test]
async fn a_store_that_fails_is_retried_then_dead_lettered_with_its_error() {
    // PostgreSQL must be there (so that the failure is the table's, not the server's), but
    // the worker is pointed at a table that does not exist: every load fails.
    let Some((table, shop)) = Table::create().await else {
        return;
    };
    shop.save(&order(1, 10, "new")).await.unwrap();
    let (sb, runtime) = sandbox().await;
    let _ = runtime
        .scope(ORDER_PLACED.send(Ref::from_key(1)))
        .await
        .unwrap();

    let missing_table = format!("{}_missing", table.name);
    let out = run_worker(&sb, &missing_table).ok();
    assert!(sb.journal().is_empty(), "{:?}", sb.journal());
    assert_eq!(
        out.stderr
            .matches("cannot load the signal's references")
            .count(),
        2,
        "the first attempt and one retry:\n{}",
        out.stderr
    );
    let dead = sb.engine("default").await.dead(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let reason = &dead[0].reason;
    for part in [
        "gave up after 2 attempts",
        "pg_shop::on_placed",
        "loading the signal's references failed",
        "loading `instance` (pgshop.order with pk 1)",
        "does not exist",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    drop(table);
}
