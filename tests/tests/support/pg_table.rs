//! A table of `pg_shop` orders private to one test, dropped when it ends. Included with
//! `#[path]` by the tests that use `pg_shop` only, so that the others do not link it.

use pg_shop::PgShop;

use crate::support::postgres::url;

/// This run's table, dropped when the test ends (also on a panic).
pub(crate) struct Table {
    /// The table's name.
    pub(crate) name: String,
}

impl Table {
    /// Creates a table with a name of its own, or `None` (with a loud note) when PostgreSQL is
    /// not reachable and not required.
    pub(crate) async fn create() -> Option<(Table, PgShop)> {
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
