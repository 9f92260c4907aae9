//! Rows of a real PostgreSQL sent by reference (`pg-shop`): receivers see the row as it is
//! when they run, a deleted row is delivered as `None` or skipped as the signal says. In
//! process (`send_now`) here; through the two-line `pg-worker` binary in the worker tests.
//!
//! Needs the PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`; `SQ_PG_URL`
//! overrides). Without one the tests say so and pass, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`.
//! Each run creates a table of its own and drops it at the end, even when a test fails.

use pg_shop::{Order, PgShop, ORDER_PAID, ORDER_PLACED};
use signalqueue::{Ref, Sender};

fn url() -> String {
    std::env::var("SQ_PG_URL").unwrap_or_else(|_| pg_shop::DEFAULT_URL.into())
}

/// This run's table, dropped when the test ends (also on a panic).
struct Table {
    name: String,
}

impl Table {
    /// Creates a table with a name of its own, or `None` (with a loud note) when PostgreSQL is
    /// not reachable and not required.
    async fn create() -> Option<(Table, PgShop)> {
        let name = format!(
            "sq_orders_{}",
            signalqueue::EnvelopeId::new().to_string().to_lowercase()
        );
        match PgShop::connect(&url(), &name).await {
            Ok(shop) => {
                shop.create_table().await.expect("create the test table");
                Some((Table { name }, shop))
            }
            Err(e) if std::env::var("SIGNALQUEUE_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
                eprintln!(
                    "\n*** SKIPPED: no PostgreSQL at `{}` ({e}); set SQ_PG_URL, or \
                     SIGNALQUEUE_REQUIRE_POSTGRES=1 to make this a failure ***\n",
                    url()
                );
                None
            }
            Err(e) => panic!("PostgreSQL is required (SIGNALQUEUE_REQUIRE_POSTGRES=1): {e}"),
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let name = self.name.clone();
        // The test's runtime may be unwinding: drop the table from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(shop) = PgShop::connect(&url(), &name).await {
                    let _ = shop.drop_table().await;
                }
            })
        })
        .join();
    }
}

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
