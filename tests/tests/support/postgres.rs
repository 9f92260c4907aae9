//! The PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`; `SQ_PG_URL` overrides), a
//! table of orders or a schema private to one test, dropped when it ends; and private servers
//! for tests that crash and restart one.
//!
//! The private server is the engine tests' helper
//! (`signalqueue/tests/support/postgres_server.rs`), compiled in here too rather than copied:
//! `initdb` and `pg_ctl` in a temp directory, on a free loopback port, as the `postgres` user
//! when the tests run as root.

#[path = "../../../signalqueue/tests/support/postgres_server.rs"]
mod server;

// Only the test crates that crash a server use it.
#[allow(unused_imports)]
pub(crate) use server::PostgresServer;

use pg_shop::PgShop;

/// The libpq connection string of the tests' PostgreSQL.
pub fn url() -> String {
    std::env::var("SQ_PG_URL").unwrap_or_else(|_| pg_shop::DEFAULT_URL.into())
}

/// This run's table, dropped when the test ends (also on a panic).
pub struct Table {
    /// The table's name.
    pub name: String,
}

impl Table {
    /// Creates a table with a name of its own, or `None` (with a loud note) when PostgreSQL is
    /// not reachable and not required.
    pub async fn create() -> Option<(Table, PgShop)> {
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

/// Whether the tests' PostgreSQL answers. When it does not, says so loudly on stderr, naming
/// `test`, so a skipped test is never mistaken for a passing one; with
/// `SIGNALQUEUE_REQUIRE_POSTGRES=1` (CI) that is a panic instead.
pub async fn available(test: &str) -> bool {
    match tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
        Ok(_) => true,
        Err(e) if std::env::var("SIGNALQUEUE_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
            eprintln!(
                "\n*** SKIPPED {test}: no PostgreSQL at `{}` ({}); set SQ_PG_URL, or \
                 SIGNALQUEUE_REQUIRE_POSTGRES=1 to make this a failure ***\n",
                url(),
                with_cause(&e)
            );
            false
        }
        Err(e) => panic!(
            "PostgreSQL is required (SIGNALQUEUE_REQUIRE_POSTGRES=1): {}",
            with_cause(&e)
        ),
    }
}

/// tokio-postgres's message and its cause ("Connection refused"), which its `Display` leaves
/// out.
fn with_cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The tests' PostgreSQL as a queue URL (`SQ_PG_QUEUE_URL` overrides), in schema `schema`.
pub fn queue_url(schema: &str) -> String {
    let base = std::env::var("SQ_PG_QUEUE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    format!("{base}?schema={schema}")
}

/// A schema name private to one test (for a queue, an outbox or both), dropped with everything
/// in it when the test ends (also on a panic).
pub struct Schema {
    /// The schema's name.
    pub name: String,
}

impl Schema {
    /// A fresh name; the schema itself is created by the engine or outbox that uses it.
    pub fn new() -> Schema {
        Schema {
            name: format!(
                "sq_test_{}",
                signalqueue::EnvelopeId::new().to_string().to_lowercase()
            ),
        }
    }

    /// This schema as a queue or outbox URL.
    pub fn url(&self) -> String {
        queue_url(&self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name);
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                }
            })
        })
        .join();
    }
}

/// A connection of the app's own, as a web handler would hold one.
pub async fn app_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the tests' PostgreSQL");
    tokio::spawn(conn);
    client
}
