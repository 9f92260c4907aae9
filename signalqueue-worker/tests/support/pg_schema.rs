//! A schema of one test's own on the shared PostgreSQL server, dropped when the test ends.

use super::POSTGRES;

/// A fresh schema; dropped (with everything in it) when this is dropped.
pub struct Schema(pub String);

impl Schema {
    /// Creates `PREFIX_ULID`; `None`, after saying so loudly, when the server cannot be reached
    /// and `SIGNALQUEUE_REQUIRE_POSTGRES=1` does not make that a failure.
    pub async fn create(prefix: &str) -> Option<Schema> {
        let name = format!(
            "{prefix}_{}",
            signalqueue::EnvelopeId::new().to_string().to_lowercase()
        );
        match tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("CREATE SCHEMA {name}"))
                    .await
                    .expect("create the schema");
                Some(Schema(name))
            }
            Err(e) if std::env::var("SIGNALQUEUE_REQUIRE_POSTGRES").as_deref() != Ok("1") => {
                eprintln!("\n*** SKIPPED: no PostgreSQL at {POSTGRES} ({e}) ***\n");
                None
            }
            Err(e) => panic!("PostgreSQL is required (SIGNALQUEUE_REQUIRE_POSTGRES=1): {e}"),
        }
    }

    /// The first column of the first row of `sql`, where `SCHEMA` stands for this schema.
    pub async fn query_count(&self, sql: &str) -> i64 {
        let (client, conn) = tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let sql = sql.replace("SCHEMA", &self.0);
        client
            .query_one(sql.as_str(), &[])
            .await
            .expect(&sql)
            .get(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0);
        // On a thread of its own: a test's runtime may be shutting down when this runs.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    if let Ok((client, conn)) =
                        tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(conn);
                        let _ = client.batch_execute(&sql).await;
                    }
                })
        })
        .join();
    }
}
