//! The engine contract, run against `postgres://` on the PostgreSQL at 127.0.0.1:5432 (trust
//! auth, database `test`; `SQ_PG_URL` overrides), plus what only PostgreSQL shows: the schema
//! and its migrations, inserts made by hand as another language would make them, waking
//! through `LISTEN`/`NOTIFY`, and a server crash and restart under a live engine (on a private
//! server, see `support/postgres_server.rs`).
//!
//! Every fixture uses a schema of its own (`sq_test_<ulid>`), dropped at the end even when the
//! test fails, so tests never share state. Without a reachable PostgreSQL the tests say so and
//! pass, unless `SIGNALQUEUE_REQUIRE_POSTGRES=1`.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/postgres_server.rs"]
mod postgres_server;

use std::time::{Duration, Instant, SystemTime};

use signalqueue::engine::{self, Colocation, EngineError, EngineOptions, Section, SharedEngine};
use signalqueue::Error;

use contract::{claim_all, counts, item, items, texts, tokens, LONG_LEASE};
use postgres_server::PostgresServer;

/// The server the tests use, without `?schema=`.
fn server_url() -> String {
    std::env::var("SQ_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` with `?schema=` (or `&schema=`) appended.
fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}schema={schema}")
}

/// A connection of our own, as another program would have.
async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = url
        .parse::<tokio_postgres::Config>()?
        .connect_timeout(Duration::from_secs(5))
        .connect(tokio_postgres::NoTls)
        .await?;
    tokio::spawn(connection);
    Ok(client)
}

/// One private schema on the test server; dropped with everything in it at the end.
struct Pg {
    schema: String,
    url: String,
}

impl Pg {
    /// A fresh schema name (created by the first engine opened on it), or `None` with a loud
    /// note when PostgreSQL is not reachable and not required.
    async fn new() -> Option<Pg> {
        if let Err(e) = connect(&server_url()).await {
            if std::env::var("SIGNALQUEUE_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (SIGNALQUEUE_REQUIRE_POSTGRES=1): {e}");
            }
            eprintln!(
                "\n*** SKIPPED: no PostgreSQL at `{}` ({e}); set SQ_PG_URL, or \
                 SIGNALQUEUE_REQUIRE_POSTGRES=1 to make this a failure ***\n",
                server_url()
            );
            return None;
        }
        let schema = format!(
            "sq_test_{}",
            signalqueue::EnvelopeId::new().to_string().to_lowercase()
        );
        let url = with_schema(&server_url(), &schema);
        Some(Pg { schema, url })
    }

    /// A connection of our own to the server, as another program would have.
    async fn client(&self) -> tokio_postgres::Client {
        connect(&server_url()).await.expect("connect")
    }

    /// `SCHEMA.TABLE`, quoted.
    fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        // The test's runtime may be unwinding: drop the schema from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(client) = connect(&server_url()).await {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .await;
                }
            })
        })
        .join();
    }
}

impl contract::Fixture for Pg {
    async fn open(&self, options: EngineOptions) -> SharedEngine {
        engine::open(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }
}

contract::engine_contract_tests!(optional: Pg::new);

/// Options for queue `default` that never poll within a test: only a notification, or the
/// engine's own sleep until a due time, can end a wait early.
/// A claim of up to 10 entries already waiting (up to two minutes) when the test goes on;
/// answers with what it got and when it returned.
fn waiting_claim(
    engine: &SharedEngine,
) -> tokio::task::JoinHandle<(Vec<signalqueue::engine::Claimed>, SystemTime)> {
    let engine = engine.clone();
    tokio::spawn(async move {
        let got = engine
            .claim(10, LONG_LEASE, Duration::from_secs(120))
            .await
            .expect("claim");
        (got, SystemTime::now())
    })
}

fn no_polling() -> EngineOptions {
    let mut options = EngineOptions::new("default");
    options.poll_interval = Duration::from_secs(600);
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_forms_and_redaction() {
    let Some(pg) = Pg::new().await else { return };
    // Trust authentication ignores the password, so a URL with one opens too.
    let secret = server_url().replacen("postgres@", "postgres:s3cret@", 1);
    assert!(secret.contains(":s3cret@"), "{secret}");
    let engine = engine::open(
        &with_schema(&secret, &pg.schema),
        EngineOptions::new("default"),
    )
    .await
    .expect("open");
    assert_eq!(engine.kind(), "postgres");
    let shown = engine.describe();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("postgres:***@"), "{shown}");
    engine.ping().await.expect("ping");

    let other = engine::open(
        &with_schema(
            &server_url().replacen("postgres://", "postgresql://", 1),
            &pg.schema,
        ),
        EngineOptions::new("default"),
    )
    .await
    .expect("open postgresql://");
    other
        .enqueue(&[item("via-postgresql")])
        .await
        .expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 0, 0));

    let refused = |result: Result<SharedEngine, Error>| match result {
        Ok(_) => panic!("expected the URL to be refused"),
        Err(e) => e.to_string(),
    };
    let err =
        refused(engine::open(&with_schema(&secret, "no-dash"), EngineOptions::new("q")).await);
    assert!(err.contains("not a plain identifier"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // Without the TLS feature `require` is refused at once; with it, the test server's
    // certificate is not trusted (or it has no TLS at all). Either way: no password shown.
    let err = refused(
        engine::open(
            &format!("{secret}?sslmode=require"),
            EngineOptions::new("q"),
        )
        .await,
    );
    if cfg!(not(feature = "postgres-tls")) {
        assert!(err.contains("feature `postgres-tls`"), "{err}");
    }
    assert!(!err.contains("s3cret"), "{err}");
    let err = refused(engine::open(&format!("{secret}?pool=3"), EngineOptions::new("q")).await);
    assert!(err.contains("unknown parameter `pool`"), "{err}");

    // Nobody listens on a fresh port: unavailable, quickly, and without the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("probe")
        .local_addr()
        .expect("addr")
        .port();
    let started = Instant::now();
    match engine::open(
        &format!("postgres://app:s3cret@127.0.0.1:{port}/test"),
        EngineOptions::new("q"),
    )
    .await
    {
        Err(Error::Engine(e @ EngineError::Unavailable { .. })) => {
            let err = e.to_string();
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("app:***@"), "{err}");
        }
        Err(e) => panic!("expected Unavailable, got {e}"),
        Ok(_) => panic!("nothing listens there"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_safe_to_race() {
    let Some(pg) = Pg::new().await else { return };
    // Eight processes starting at once on an empty database.
    let mut opens = tokio::task::JoinSet::new();
    for i in 0..8 {
        let url = pg.url.clone();
        opens.spawn(async move { engine::open(&url, EngineOptions::new(format!("q{i}"))).await });
    }
    let mut engines = Vec::new();
    while let Some(opened) = opens.join_next().await {
        engines.push(
            opened
                .expect("task")
                .expect("every concurrent open succeeds"),
        );
    }
    let client = pg.client().await;
    let rows = client
        .query(
            &format!(
                "SELECT component, version, instance FROM {}",
                pg.table("migrations")
            ),
            &[],
        )
        .await
        .expect("read migrations");
    assert_eq!(rows.len(), 1, "one row: the `queue` component");
    let component: String = rows[0].get(0);
    let version: i32 = rows[0].get(1);
    let instance: String = rows[0].get(2);
    assert_eq!(component, "queue");
    assert_eq!(version, 7);
    for engine in &engines {
        assert_eq!(
            engine.colocation(),
            Some(Colocation::Postgres {
                schema: pg.schema.clone(),
                instance: instance.clone(),
            })
        );
    }
    // Opening again changes nothing (and would fail if it ran a step twice).
    let again = contract::Fixture::open(&pg, EngineOptions::new("default")).await;
    again
        .enqueue(&[item("after-reopen")])
        .await
        .expect("enqueue");
    let rows = client
        .query(
            &format!("SELECT version, instance FROM {}", pg.table("migrations")),
            &[],
        )
        .await
        .expect("read migrations");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i32>(0), 7);
    assert_eq!(rows[0].get::<_, String>(1), instance);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let Some(pg) = Pg::new().await else { return };
    drop(contract::Fixture::open(&pg, EngineOptions::new("default")).await);
    pg.client()
        .await
        .execute(
            &format!("UPDATE {} SET version = 1000", pg.table("migrations")),
            &[],
        )
        .await
        .expect("pretend a newer build migrated");
    let err = match engine::open(&pg.url, EngineOptions::new("default")).await {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("newer than this build"), "{err}");
    assert!(err.contains("upgrade signalqueue"), "{err}");
    assert!(err.contains("version 1000"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_insert_is_claimed_and_wakes_a_waiting_claim() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let client = pg.client().await;
    let insert = format!(
        "INSERT INTO {} (queue, payload) VALUES ($1, $2)",
        pg.table("entries")
    );

    // As another language would enqueue: one INSERT, nothing else.
    client
        .execute(&insert, &[&"default", &b"by-hand".as_slice()])
        .await
        .expect("insert by hand");
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 0, 0));
    let got = claim_all(&engine, 10).await;
    assert_eq!(texts(&got), ["by-hand"]);
    assert_eq!(got[0].deliveries, 1);
    assert_eq!(engine.ack(&tokens(&got)).await.expect("ack"), [true]);

    let claimer = engine.clone();
    let waiting = tokio::spawn(async move {
        claimer
            .claim(10, LONG_LEASE, Duration::from_secs(120))
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another queue's insert notifies too; the claim looks, finds nothing, waits on.
    client
        .execute(&insert, &[&"another-queue", &b"not-mine".as_slice()])
        .await
        .expect("insert by hand");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !waiting.is_finished(),
        "the claim returned without an entry"
    );

    let sent = Instant::now();
    client
        .execute(&insert, &[&"default", &b"wake".as_slice()])
        .await
        .expect("insert by hand");
    let got = waiting.await.expect("claim task").expect("claim");
    let woke_after = sent.elapsed();
    assert_eq!(texts(&got), ["wake"]);
    assert!(
        woke_after < Duration::from_secs(3),
        "the claim took {woke_after:?} to see the insert: the NOTIFY did not wake it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_or_retry_through_another_handle_wakes_a_waiting_claim() {
    let Some(pg) = Pg::new().await else { return };
    // Two handles, as two processes: the worker's own wake-ups do not reach the claimer, only
    // the NOTIFY of the release or retry can.
    let worker = contract::Fixture::open(&pg, no_polling()).await;
    let claimer = contract::Fixture::open(&pg, no_polling()).await;
    worker.enqueue(&items("held", 2)).await.expect("enqueue");
    let held = claim_all(&worker, 10).await;
    assert_eq!(texts(&held), ["held-0", "held-1"]);

    for (i, how) in ["release", "retry"].into_iter().enumerate() {
        let waiting = {
            let claimer = claimer.clone();
            tokio::spawn(
                async move { claimer.claim(1, LONG_LEASE, Duration::from_secs(120)).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "{how}: the claim returned early");
        let sent = Instant::now();
        if how == "release" {
            worker
                .release(std::slice::from_ref(&held[i].token))
                .await
                .expect("release");
        } else {
            assert!(worker
                .retry(&held[i].token, b"held-1-again", SystemTime::now())
                .await
                .expect("retry"));
        }
        let got = waiting.await.expect("claim task").expect("claim");
        let woke_after = sent.elapsed();
        assert_eq!(got.len(), 1, "{how}");
        assert!(
            woke_after < Duration::from_secs(3),
            "{how}: the claim took {woke_after:?}: no notification woke it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_retry_is_claimed_without_waiting_for_the_poll_interval() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    engine.enqueue(&[item("again")]).await.expect("enqueue");
    let first = contract::claim_one(&engine, LONG_LEASE).await;
    let due = SystemTime::now() + Duration::from_secs(1);
    assert!(engine
        .retry(&first.token, b"again-2", due)
        .await
        .expect("retry"));
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 1, 0, 0));
    let started = Instant::now();
    let got = engine
        .claim(10, LONG_LEASE, Duration::from_secs(120))
        .await
        .expect("claim");
    assert_eq!(texts(&got), ["again-2"]);
    assert_eq!(got[0].deliveries, 2);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the due retry took {:?}: the claim slept for its poll interval",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocation_names_the_schema_and_its_instance() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, EngineOptions::new("default")).await;
    let instance: String = pg
        .client()
        .await
        .query_one(
            &format!(
                "SELECT instance FROM {} WHERE component = 'queue'",
                pg.table("migrations")
            ),
            &[],
        )
        .await
        .expect("read the instance")
        .get(0);
    assert!(!instance.is_empty());
    assert_eq!(
        engine.colocation(),
        Some(Colocation::Postgres {
            schema: pg.schema.clone(),
            instance,
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_handle_works_again_after_the_server_crashes_and_restarts() {
    const N: usize = 200;
    let Some(mut server) = PostgresServer::start() else {
        return;
    };
    let url = server.url("sq_restart");
    let mut options = EngineOptions::new("default");
    options.poll_interval = Duration::from_millis(200);
    let engine = engine::open(&url, options.clone()).await.expect("open");
    let mut waiting_options = options.clone();
    waiting_options.queue = "waiting".into();
    let waiter = engine::open(&url, waiting_options).await.expect("open");

    for batch in items("before", N).chunks(50) {
        engine.enqueue(batch).await.expect("enqueue");
    }
    assert_eq!(
        engine.counts().await.expect("counts"),
        counts(N as u64, 0, 0, 0)
    );

    // A claim that waits across the crash and the restart.
    let claimer = waiter.clone();
    let waiting = tokio::spawn(async move {
        claimer
            .claim(10, LONG_LEASE, Duration::from_secs(120))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.kill();
    // While the server is down calls fail, as unavailable, and do not hang.
    let started = Instant::now();
    let down = engine.enqueue(&[item("while-down")]).await;
    assert!(
        matches!(&down, Err(e) if e.is_unavailable()),
        "expected Unavailable, got {down:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        !waiting.is_finished(),
        "the waiting claim ended: {:?}",
        waiting
    );

    server.restart();
    // The same handle, not reopened, works again once the pool has fresh connections.
    let deadline = Instant::now() + contract::EVENTUALLY;
    let counted = loop {
        match engine.counts().await {
            Ok(c) => break c,
            Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the engine did not come back: {e}\n{}", server.log()),
        }
    };
    assert_eq!(
        counted,
        counts(N as u64, 0, 0, 0),
        "everything enqueued before the crash is kept"
    );
    engine
        .enqueue(&items("after", 3))
        .await
        .expect("enqueue after the restart");
    let claimed = claim_all(&engine, 64).await;
    assert_eq!(claimed.len(), N + 3);
    let payloads = texts(&claimed);
    let expected: Vec<String> = (0..N)
        .map(|i| format!("before-{i}"))
        .chain((0..3).map(|i| format!("after-{i}")))
        .collect();
    assert_eq!(payloads, expected, "in order, nothing lost, nothing twice");
    assert!(engine
        .ack(&tokens(&claimed))
        .await
        .expect("ack")
        .into_iter()
        .all(|acked| acked));

    waiter
        .enqueue(&[item("for-the-waiter")])
        .await
        .expect("enqueue");
    let got = waiting
        .await
        .expect("claim task")
        .expect("the waiting claim");
    assert_eq!(texts(&got), ["for-the-waiter"]);
}

#[cfg(feature = "postgres-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_speaks_tls_and_verifies_the_server() {
    let Some(server) = PostgresServer::start_tls() else {
        return;
    };
    // The server refuses TCP connections without TLS (pg_hba.conf `hostnossl ... reject`).
    let plain = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=disable",
        server.port()
    );
    match engine::open(&plain, EngineOptions::new("default")).await {
        Ok(_) => panic!("the server must refuse a connection without TLS"),
        Err(e) => assert!(e.to_string().contains("no encryption"), "{e}"),
    }
    // Its certificate is self-signed: not trusted unless the URL says so.
    let untrusted = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=require",
        server.port()
    );
    assert!(engine::open(&untrusted, EngineOptions::new("default"))
        .await
        .is_err());

    let url = format!("{untrusted}&sslrootcert={}", server.certificate().display());
    let mut options = no_polling();
    options.queue = "tls".into();
    let engine = engine::open(&url, options).await.expect("open over TLS");
    let claimer = engine.clone();
    // The wake-up connection speaks TLS too: an enqueue by another handle wakes the claim.
    let waiting = tokio::spawn(async move {
        claimer
            .claim(10, LONG_LEASE, Duration::from_secs(120))
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut other_options = no_polling();
    other_options.queue = "tls".into();
    let other = engine::open(&url, other_options)
        .await
        .expect("open over TLS");
    let sent = Instant::now();
    other.enqueue(&[item("over-tls")]).await.expect("enqueue");
    let got = waiting.await.expect("claim task").expect("claim");
    assert_eq!(texts(&got), ["over-tls"]);
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
}

/// A delayed send is a lease nobody holds, ending at its due time: a claim that was waiting
/// before it was sent is woken by its insert, sleeps until it is due (not for the poll
/// interval), and takes it then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_send_is_claimed_at_its_time_by_a_claim_already_waiting() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let waiting = waiting_claim(&engine);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let due = SystemTime::now() + Duration::from_secs(1);
    engine
        .enqueue(&[contract::delayed("later", due)])
        .await
        .expect("enqueue");
    let (got, at) = waiting.await.expect("claim task");
    assert_eq!(texts(&got), ["later"]);
    assert_eq!(got[0].deliveries, 1);
    assert!(
        at + Duration::from_millis(50) >= due,
        "claimed before its time"
    );
    let late = at.duration_since(due).unwrap_or_default();
    assert!(
        late < Duration::from_secs(5),
        "claimed {late:?} after its time: the claim slept for its poll interval"
    );
}

/// What builds before schema step 3 created: steps 1 and 2, as they were (a delayed entry a
/// lease nobody holds, `fence = 0`; unleased entries in `entries_ready`, leases in
/// `entries_leased`).
const SCHEMA_AT_STEP_2: &str = r#"
    CREATE SCHEMA {schema};
    CREATE TABLE {schema}.migrations (
        component text PRIMARY KEY, version int NOT NULL, instance text NOT NULL);
    INSERT INTO {schema}.migrations VALUES ('queue', 2, '01JOLDINSTANCE0000000000000');
    CREATE TABLE {schema}.entries (
        id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue        text        NOT NULL,
        payload      bytea       NOT NULL,
        available_at timestamptz NOT NULL DEFAULT now(),
        lease_until  timestamptz,
        fence        bigint      NOT NULL DEFAULT 0,
        deliveries   int         NOT NULL DEFAULT 0,
        enqueued_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX entries_ready ON {schema}.entries (queue, id) WHERE lease_until IS NULL;
    CREATE INDEX entries_leased ON {schema}.entries (queue, lease_until)
        WHERE lease_until IS NOT NULL;
    CREATE TABLE {schema}.dead (
        id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue   text        NOT NULL,
        payload bytea       NOT NULL,
        reason  text        NOT NULL,
        died_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX dead_by_queue ON {schema}.dead (queue, id);
    CREATE INDEX dead_by_age ON {schema}.dead (queue, died_at);
    CREATE FUNCTION {schema}.notify_entries() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.entries', queue)
        FROM (SELECT DISTINCT queue FROM inserted) AS queues;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER entries_notify AFTER INSERT ON {schema}.entries
        REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_entries();
    CREATE TABLE {schema}.ticks (
        queue text NOT NULL, schedule text NOT NULL, tick timestamptz NOT NULL,
        PRIMARY KEY (queue, schedule, tick));
    -- Ready; a delayed send already due; one due in an hour; a retry due in an hour; a claim.
    INSERT INTO {schema}.entries (queue, payload) VALUES ('default', 'ready');
    INSERT INTO {schema}.entries (queue, payload, available_at, lease_until)
        VALUES ('default', 'due', now() - interval '1 s', now() - interval '1 s');
    INSERT INTO {schema}.entries (queue, payload, available_at, lease_until)
        VALUES ('default', 'later', now() + interval '1 h', now() + interval '1 h');
    INSERT INTO {schema}.entries (queue, payload, available_at, fence, deliveries)
        VALUES ('default', 'retry', now() + interval '1 h', 3, 1);
    INSERT INTO {schema}.entries (queue, payload, lease_until, fence, deliveries)
        VALUES ('default', 'claimed', now() + interval '1 h', 5, 1);
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_made_by_an_earlier_build_upgrades_in_place() {
    let Some(pg) = Pg::new().await else { return };
    let client = pg.client().await;
    client
        .batch_execute(&SCHEMA_AT_STEP_2.replace("{schema}", &format!("\"{}\"", pg.schema)))
        .await
        .expect("make a schema as an earlier build did");
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let version: i32 = client
        .query_one(
            &format!("SELECT version FROM {}", pg.table("migrations")),
            &[],
        )
        .await
        .expect("read migrations")
        .get(0);
    assert_eq!(version, 7);
    // The same entries in the same states: the delayed ones are scheduled, the claim is kept.
    assert_eq!(engine.counts().await.expect("counts"), counts(2, 2, 1, 0));
    // The delayed ones (the one already due included) now wait out of the claim's table
    // (step 5).
    let moved: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {}", pg.table("delayed")),
            &[],
        )
        .await
        .expect("read delayed")
        .get(0);
    assert_eq!(
        moved, 3,
        "the delayed entries were not moved out of `entries`"
    );
    // Browsed in the same sections; the claim made before step 7 has no recorded holder.
    let browse = engine.browse().expect("browse");
    let listed = |section| async move {
        let page = browse.page(section, None, 10).await.expect("page");
        texts_of(&page.entries)
    };
    assert_eq!(listed(Section::Pending).await, ["ready", "due"]);
    assert_eq!(listed(Section::Scheduled).await, ["later", "retry"]);
    let held = browse
        .page(Section::InFlight, None, 10)
        .await
        .expect("page")
        .entries;
    assert_eq!(texts_of(&held), ["claimed"]);
    let holder = held[0].holder.clone().expect("holder");
    assert_eq!((holder.worker, holder.since), (None, None));
    assert!(holder.lease_until > SystemTime::now() + Duration::from_secs(3000));
    let got = engine
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&got), ["ready", "due"]);
    assert_eq!(got[1].deliveries, 1);
    // Both claims recorded their holder: "due", moved from `delayed` and claimed by the same
    // statement, as well as "ready".
    for claimed in &got {
        let found = browse
            .find(&claimed.token.key)
            .await
            .expect("find")
            .expect("found");
        assert_eq!(found.section, Section::InFlight);
        let holder = found.holder.expect("holder");
        assert_eq!(
            holder.worker.as_deref(),
            Some(signalqueue::engine::consumer_id())
        );
        assert!(holder.since.is_some());
    }
    assert_eq!(engine.ack(&tokens(&got)).await.expect("ack"), [true, true]);
    let waiting: Vec<String> = engine
        .pending(10)
        .await
        .expect("pending")
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert_eq!(waiting, ["later", "retry"]);
    // Rows written the old way by a program not yet upgraded are still claimed, when due.
    client
        .execute(
            &format!(
                "INSERT INTO {} (queue, payload, available_at, lease_until)
                 VALUES ('default', 'old-writer', now(), now())",
                pg.table("entries")
            ),
            &[],
        )
        .await
        .expect("insert as an earlier build");
    let got = engine
        .claim(10, LONG_LEASE, Duration::from_secs(5))
        .await
        .expect("claim");
    assert_eq!(texts(&got), ["old-writer"]);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 2, 2, 0));
    // A claim from now on records its holder.
    let found = browse
        .find(&got[0].token.key)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.section, Section::InFlight);
    let holder = found.holder.expect("holder");
    assert_eq!(
        holder.worker.as_deref(),
        Some(signalqueue::engine::consumer_id())
    );
}

/// The payloads of listed entries, as strings, in order.
fn texts_of(listed: &[signalqueue::engine::Listed]) -> Vec<String> {
    listed
        .iter()
        .map(|l| String::from_utf8_lossy(&l.payload).into_owned())
        .collect()
}

/// How many notifications the schema's channel carries while `during` runs.
async fn notifications_during(pg: &Pg, during: impl std::future::Future<Output = ()>) -> usize {
    use futures_util::StreamExt;
    let (client, mut connection) = server_url()
        .parse::<tokio_postgres::Config>()
        .expect("url")
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send(n.payload().to_string());
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN \"{}.entries\"", pg.schema))
        .await
        .expect("listen");
    during.await;
    // A notification is delivered at its transaction's commit; give it time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(client);
    let _ = driver.await;
    let mut seen = 0;
    while rx.try_recv().is_ok() {
        seen += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_notify_only_while_a_claim_waits() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let client = pg.client().await;
    let insert = format!(
        "INSERT INTO {} (queue, payload) VALUES ('default', 'x')",
        pg.table("entries")
    );
    // Nobody has waited: an insert commits without notifying (and so without queueing
    // behind other notifying commits).
    let quiet = notifications_during(&pg, async {
        client.execute(&insert, &[]).await.expect("insert");
    })
    .await;
    assert_eq!(quiet, 0, "an insert notified with no claim waiting");
    let got = claim_all(&engine, 10).await;
    assert_eq!(got.len(), 1);
    // A claim waits: the next insert, by another program, notifies and wakes it.
    let waiting = waiting_claim(&engine);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let woken = notifications_during(&pg, async {
        client.execute(&insert, &[]).await.expect("insert");
    })
    .await;
    assert_eq!(woken, 1, "an insert did not notify the waiting claim");
    let got = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the waiting claim was woken, not left to its 600 s poll")
        .expect("claim task")
        .0;
    assert_eq!(texts(&got), ["x"]);
    // Busy again, the engine takes its mark back: inserts stop notifying.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = notifications_during(&pg, async {
        client.execute(&insert, &[]).await.expect("insert");
    })
    .await;
    assert_eq!(busy, 0, "an insert notified while no claim waited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_that_may_only_insert_can_send_and_wake_a_waiting_claim() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let role = format!("{}_inserter", pg.schema);
    let client = pg.client().await;
    client
        .batch_execute(&format!(
            "CREATE ROLE \"{role}\";
             GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\";
             GRANT INSERT ON {entries} TO \"{role}\";",
            schema = pg.schema,
            entries = pg.table("entries"),
        ))
        .await
        .expect("make a role that may only insert");
    let waiting = waiting_claim(&engine);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The trigger reads `sleepers`, which this role may not: it runs as the tables' owner.
    let inserted = client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE \"{role}\";
             INSERT INTO {} (queue, payload) VALUES ('default', 'from-a-narrow-role');
             COMMIT;",
            pg.table("entries")
        ))
        .await;
    let cleanup = client
        .batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE \"{role}\";"))
        .await;
    inserted.expect("a role with INSERT on entries alone can send");
    cleanup.expect("drop the role");
    let got = tokio::time::timeout(Duration::from_secs(60), waiting)
        .await
        .expect("the waiting claim was woken, not left to its 600 s poll")
        .expect("claim task")
        .0;
    assert_eq!(texts(&got), ["from-a-narrow-role"]);
}

/// How many rows `table` of the test's schema holds.
async fn rows_in(pg: &Pg, table: &str) -> i64 {
    pg.client()
        .await
        .query_one(&format!("SELECT count(*) FROM {}", pg.table(table)), &[])
        .await
        .expect("count rows")
        .get(0)
}

/// Another language's one `INSERT` with a future `available_at` (nothing else: no `delayed`
/// flag) is a delayed send: counted by the command as one row, kept out of the claim's table
/// until due, scheduled meanwhile, and claimed at its time by a claim already waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_insert_due_later_waits_out_of_the_claims_table() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let waiting = waiting_claim(&engine);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let due = SystemTime::now() + Duration::from_millis(1500);
    let written = pg
        .client()
        .await
        .execute(
            &format!(
                "INSERT INTO {} (queue, payload, available_at)
                 VALUES ('default', 'by-hand-later', now() + interval '1.5 s')",
                pg.table("entries")
            ),
            &[],
        )
        .await
        .expect("insert by hand");
    assert_eq!(written, 1, "the inserting program is told of its row");
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 1, 0, 0));
    assert_eq!(
        (rows_in(&pg, "entries").await, rows_in(&pg, "delayed").await),
        (0, 1)
    );
    let (got, at) = waiting.await.expect("claim task");
    assert_eq!(texts(&got), ["by-hand-later"]);
    assert!(
        at + Duration::from_millis(50) >= due,
        "claimed before its time"
    );
    assert!(
        at.duration_since(due).unwrap_or_default() < Duration::from_secs(5),
        "the waiting claim slept past the due time"
    );
    assert_eq!(
        (rows_in(&pg, "entries").await, rows_in(&pg, "delayed").await),
        (1, 0)
    );
    assert_eq!(engine.ack(&tokens(&got)).await.expect("ack"), [true]);
}

/// A retry due later leaves the claim's table under its key, is listed and counted as
/// scheduled, keeps its place in the FIFO once due, and is purged with the pending entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_due_later_waits_out_of_the_claims_table() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    engine
        .enqueue(&[item("first"), item("second")])
        .await
        .expect("enqueue");
    let got = engine
        .claim(1, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&got), ["first"]);
    let later = SystemTime::now() + Duration::from_secs(3600);
    assert!(engine
        .retry(&got[0].token, b"first-again", later)
        .await
        .expect("retry"));
    assert_eq!(
        (rows_in(&pg, "entries").await, rows_in(&pg, "delayed").await),
        (1, 1)
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 1, 0, 0));
    let listed = engine.pending(10).await.expect("pending");
    let keys: Vec<&str> = listed.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1], got[0].token.key, "the retry keeps its key");
    assert_eq!(listed[1].payload, b"first-again");
    // Due now: moved back by the next claim, ahead of the entry sent after it.
    pg.client()
        .await
        .execute(
            &format!("UPDATE {} SET available_at = now()", pg.table("delayed")),
            &[],
        )
        .await
        .expect("make it due");
    // A busy engine moves due entries at most every 10 ms: let that pass since the last claim.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let got = engine
        .claim(10, LONG_LEASE, Duration::from_secs(5))
        .await
        .expect("claim");
    assert_eq!(texts(&got), ["first-again", "second"]);
    assert_eq!(got[0].deliveries, 2, "the retry's deliveries are kept");
    assert!(engine
        .retry(&got[0].token, b"first-later", later)
        .await
        .expect("retry"));
    engine.release(&tokens(&got[1..])).await.expect("release");
    assert_eq!(engine.purge_pending().await.expect("purge"), 2);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));
}

/// Browsing reads both tables of schema step 5 as `counts` does: rows of `delayed` not yet due
/// are scheduled, due ones not yet moved by a claim are pending (after the ready entries, by
/// due time), and so are the rows a build of step 4 still flags `delayed` in `entries`; `find`,
/// `delete` and `run_now` reach every one of them by its key, and `run_now` moves a row of
/// `delayed` into `entries`, where any claim takes it, with its holder recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_reads_the_delayed_table_and_rows_of_step_4() {
    let Some(pg) = Pg::new().await else { return };
    let engine = contract::Fixture::open(&pg, no_polling()).await;
    let browse = engine.browse().expect("browse");
    let hour = Duration::from_secs(3600);
    engine
        .enqueue(&[
            item("ready"),
            contract::delayed("later", SystemTime::now() + hour),
            contract::delayed("soon", SystemTime::now() + Duration::from_millis(300)),
            item("legacy-due"),
            item("legacy-later"),
            contract::delayed("gone", SystemTime::now() + hour),
        ])
        .await
        .expect("enqueue");
    // What a build of step 4 leaves when it retries in place: flagged `delayed` in `entries`.
    pg.client()
        .await
        .batch_execute(&format!(
            "UPDATE {t} SET delayed = true, available_at = now() - interval '1 s'
                 WHERE payload = 'legacy-due';
             UPDATE {t} SET delayed = true, available_at = now() + interval '2 h'
                 WHERE payload = 'legacy-later';",
            t = pg.table("entries")
        ))
        .await
        .expect("rows as a build of step 4 leaves them");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // "soon" is due, but no claim ran to move it.
    assert_eq!(
        (rows_in(&pg, "entries").await, rows_in(&pg, "delayed").await),
        (3, 3)
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 3, 0, 0));
    for limit in [1, 2, 10] {
        let pending = contract::browse_all(browse, Section::Pending, limit).await;
        assert_eq!(
            texts_of(&pending),
            ["ready", "legacy-due", "soon"],
            "pending, pages of {limit}"
        );
        let scheduled = contract::browse_all(browse, Section::Scheduled, limit).await;
        assert_eq!(
            texts_of(&scheduled),
            ["later", "gone", "legacy-later"],
            "scheduled, pages of {limit}"
        );
    }
    let scheduled = contract::browse_all(browse, Section::Scheduled, 10).await;
    let pending = contract::browse_all(browse, Section::Pending, 10).await;
    let key_of = |listed: &[signalqueue::engine::Listed], payload: &str| {
        contract::listed_with(listed, payload).key.clone()
    };
    let section_of = |key: String| async move {
        browse
            .find(&key)
            .await
            .expect("find")
            .map(|listed| listed.section)
    };
    assert_eq!(
        section_of(key_of(&scheduled, "later")).await,
        Some(Section::Scheduled)
    );
    assert_eq!(
        section_of(key_of(&pending, "soon")).await,
        Some(Section::Pending)
    );

    // Deleted from `delayed`, by section.
    let gone = key_of(&scheduled, "gone");
    let soon = key_of(&pending, "soon");
    assert_eq!(
        browse
            .delete(Section::Pending, std::slice::from_ref(&gone))
            .await
            .expect("delete"),
        0,
        "not pending"
    );
    assert_eq!(
        browse
            .delete(Section::Scheduled, &[gone.clone(), soon.clone()])
            .await
            .expect("delete"),
        1,
        "only `gone` is scheduled"
    );
    assert_eq!(
        browse
            .delete(Section::Pending, &[soon])
            .await
            .expect("delete"),
        1
    );
    assert_eq!(section_of(gone).await, None);
    assert_eq!(engine.counts().await.expect("counts"), counts(2, 2, 0, 0));

    // Run now: the row of `delayed` moves into `entries` under its key; the flagged one is
    // made due in place.
    let later = key_of(&scheduled, "later");
    let legacy_later = key_of(&scheduled, "legacy-later");
    assert_eq!(
        browse
            .run_now(&[later.clone(), legacy_later.clone()])
            .await
            .expect("run_now"),
        2
    );
    assert_eq!(
        (rows_in(&pg, "entries").await, rows_in(&pg, "delayed").await),
        (4, 0)
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(4, 0, 0, 0));
    let pending = contract::browse_all(browse, Section::Pending, 1).await;
    assert_eq!(
        texts_of(&pending),
        ["ready", "later", "legacy-due", "legacy-later"],
        "`later` by its id among the ready ones, the flagged ones by due time"
    );
    // Claims take them from `entries`, and record their holder on each.
    let got = engine
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim");
    let mut claimed = texts(&got);
    claimed.sort();
    assert_eq!(claimed, ["later", "legacy-due", "legacy-later", "ready"]);
    for key in [later, legacy_later] {
        let found = browse.find(&key).await.expect("find").expect("found");
        assert_eq!(found.section, Section::InFlight);
        assert_eq!(
            found.holder.and_then(|h| h.worker).as_deref(),
            Some(signalqueue::engine::consumer_id())
        );
    }
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 4, 0));
}
