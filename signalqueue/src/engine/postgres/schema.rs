//! The tables in a PostgreSQL schema, and the migrations that create and upgrade them.
//!
//! One schema (`signalqueue` unless the URL says `?schema=`) holds everything. Its table
//! `migrations` records, for each component sharing the schema (`queue` for this engine,
//! `outbox` for the outbox of `send_in`), how many steps of it were applied and a random id made
//! when the component was first created. A component's steps are only ever appended to, never
//! edited, so a database made by any earlier build upgrades on open.

use tokio_postgres::GenericClient;

/// The component name of the engine's own tables in `migrations`.
pub(crate) const QUEUE_COMPONENT: &str = "queue";

/// The steps of the `queue` component. `{schema}` is replaced by the quoted schema name.
pub(crate) const QUEUE_STEPS: &[&str] = &[
    // Step 1.
    r#"
    CREATE TABLE {schema}.entries (
        -- An identity, never reused, so a stale claim token never matches a later entry.
        id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        queue        text        NOT NULL,
        payload      bytea       NOT NULL,
        -- From when the entry may be claimed (a retry's `not_before`), when not leased.
        available_at timestamptz NOT NULL DEFAULT now(),
        -- When the current lease ends; NULL when nobody holds the entry.
        lease_until  timestamptz,
        -- Bumped at every claim; a token must present the current one.
        fence        bigint      NOT NULL DEFAULT 0,
        deliveries   int         NOT NULL DEFAULT 0,
        enqueued_at  timestamptz NOT NULL DEFAULT now()
    );
    -- The claim walks the unleased entries of one queue in id order; partial, so entries in
    -- flight are not in its way.
    CREATE INDEX entries_ready ON {schema}.entries (queue, id) WHERE lease_until IS NULL;
    -- Expired leases, and the earliest lease end a waiting claim sleeps until.
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
    -- Whoever inserts (this engine, `send_in` inside an app's transaction, another language's
    -- INSERT), idle workers are told at commit: once per statement and queue, on the channel
    -- `SCHEMA.entries`, with the queue's name as the payload.
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
    "#,
    // Step 2: the ticks of periodic signals enqueued (`ticks.rs`), so that each is enqueued
    // once: the primary key is what two workers asking for one tick collide on. Bounded to
    // about the latest `TICKS_KEPT` of each schedule.
    r#"
    CREATE TABLE {schema}.ticks (
        queue    text        NOT NULL,
        schedule text        NOT NULL,
        tick     timestamptz NOT NULL,
        PRIMARY KEY (queue, schedule, tick)
    );
    "#,
    // Step 3: notify only while a worker waits (`idle.rs`). A transaction that notifies
    // commits one WAL flush after every other notifying one, so with the trigger of step 1
    // every app transaction using `send_in` waited for all the others'. Workers about to wait
    // mark themselves in `sleepers`; the trigger takes its queue's lock shared (never waiting
    // for another insert), then notifies if a mark is there. Its snapshot may predate a mark
    // outside READ COMMITTED, so there it always notifies.
    r#"
    CREATE TABLE {schema}.sleepers (
        queue      text        NOT NULL,
        sleeper    text        NOT NULL,
        generation bigint      NOT NULL,
        until      timestamptz NOT NULL,
        PRIMARY KEY (queue, sleeper)
    );
    -- SECURITY DEFINER: a role allowed only to INSERT into `entries` (another program, an
    -- app's `send_in`) need not be granted `sleepers` too.
    CREATE OR REPLACE FUNCTION {schema}.notify_entries() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog AS $$
    DECLARE
        channel text := TG_TABLE_SCHEMA || '.entries';
        q text;
    BEGIN
        FOR q IN SELECT DISTINCT queue FROM inserted LOOP
            PERFORM pg_advisory_xact_lock_shared(hashtext(channel), hashtext(q));
            IF current_setting('transaction_isolation') <> 'read committed'
               OR EXISTS (SELECT 1 FROM {schema}.sleepers AS s
                          WHERE s.queue = q AND s.until > now()) THEN
                PERFORM pg_notify(channel, q);
            END IF;
        END LOOP;
        RETURN NULL;
    END
    $$;
    "#,
    // Step 4: a claim that moves no index entry. Step 1 kept unleased entries in a partial
    // index on `lease_until IS NULL` and leases in another on `lease_until`, so every claim
    // changed an indexed column: a new entry in each index (and the primary key) for every row
    // claimed, dead ones left at the head of the claim's index. Now the claim's index holds
    // every entry that is not delayed, leased or not, in id order, and a claim changes no
    // indexed column: with room on the page (fillfactor 50) it is a HOT update, in place,
    // touching no index. In-flight entries stay in the claim's way (the claim steps over them:
    // as many as the workers of the queue run at once); an ended lease is found in the same
    // walk, oldest entry first. Delayed entries (a delayed send, a retry with a delay) are out
    // of the way in `entries_delayed`, by due time, and leave it when claimed. Entries written
    // by an earlier build (a delayed one as a lease nobody holds, `fence = 0`) are still
    // claimed correctly, when due.
    r#"
    ALTER TABLE {schema}.entries ADD COLUMN delayed boolean NOT NULL DEFAULT false;
    UPDATE {schema}.entries SET delayed = true, available_at = lease_until, lease_until = NULL
        WHERE fence = 0 AND lease_until IS NOT NULL;
    UPDATE {schema}.entries SET delayed = true WHERE lease_until IS NULL AND available_at > now();
    DROP INDEX {schema}.entries_ready;
    DROP INDEX {schema}.entries_leased;
    CREATE INDEX entries_queue ON {schema}.entries (queue, id) WHERE NOT delayed;
    CREATE INDEX entries_delayed ON {schema}.entries (queue, available_at) WHERE delayed;
    ALTER TABLE {schema}.entries SET (fillfactor = 50);
    "#,
    // Step 5: delayed entries in a table of their own. Step 4 kept them out of the claim's
    // index, but not out of its heap: a million of them made `entries` (fillfactor 50) about
    // 250 MB, past a default `shared_buffers`, and the pages of the ready rows were evicted
    // and read back at every claim (`docs/benchmarks.md`, `scheduled_1m`). Now they wait in
    // `delayed`, ids drawn from the same sequence as `entries` (so a key never changes and
    // FIFO by id still holds), and a claim moves the due ones into `entries` in its own
    // statement. Inserts into `entries` with a future `available_at` (another language's
    // INSERT, `send_in`, a build of step 4 still running) are moved by a row trigger after the
    // insert, so the inserter's row count and RETURNING stay as they were; the engine's own
    // enqueue writes delayed rows into `delayed` directly. Inserts into `delayed` notify like
    // inserts into `entries`, so a waiting claim learns of an earlier due time. `delayed` and
    // `entries_delayed` stay on `entries` for rows a build of step 4 retries with a delay.
    r#"
    CREATE TABLE {schema}.delayed (
        id           bigint      PRIMARY KEY,
        queue        text        NOT NULL,
        payload      bytea       NOT NULL,
        available_at timestamptz NOT NULL,
        fence        bigint      NOT NULL DEFAULT 0,
        deliveries   int         NOT NULL DEFAULT 0,
        enqueued_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX delayed_due ON {schema}.delayed (queue, available_at);
    DO $$ BEGIN
        EXECUTE format('ALTER TABLE {schema}.delayed ALTER COLUMN id SET DEFAULT nextval(%L::regclass)',
                       pg_get_serial_sequence('{schema}.entries', 'id'));
    END $$;
    WITH moved AS (DELETE FROM {schema}.entries WHERE delayed AND lease_until IS NULL
                   RETURNING id, queue, payload, available_at, fence, deliveries, enqueued_at)
    INSERT INTO {schema}.delayed (id, queue, payload, available_at, fence, deliveries, enqueued_at)
    SELECT id, queue, payload, available_at, fence, deliveries, enqueued_at FROM moved;
    CREATE TRIGGER delayed_notify AFTER INSERT ON {schema}.delayed
        REFERENCING NEW TABLE AS inserted
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.notify_entries();
    -- SECURITY DEFINER, as `notify_entries`: a role allowed only to INSERT into `entries`.
    CREATE FUNCTION {schema}.move_delayed() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog AS $$
    BEGIN
        DELETE FROM {schema}.entries WHERE id = NEW.id;
        INSERT INTO {schema}.delayed (id, queue, payload, available_at, fence, deliveries, enqueued_at)
        VALUES (NEW.id, NEW.queue, NEW.payload, NEW.available_at, NEW.fence, NEW.deliveries,
                NEW.enqueued_at);
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER entries_move_delayed AFTER INSERT ON {schema}.entries
        FOR EACH ROW WHEN (NEW.available_at > now() AND NEW.lease_until IS NULL)
        EXECUTE FUNCTION {schema}.move_delayed();
    "#,
    // Step 6: `send_in`'s insert as a function. Sent as a statement of its own, the
    // `INSERT ... SELECT FROM unnest(..) WHERE EXISTS (..)` was parsed and planned at every
    // `send_in` (it runs on the app's connection, where no statement of ours stays prepared),
    // about as much server time as the app's whole one-row transaction; a call is planned in
    // microseconds. Not SECURITY DEFINER: it needs what the insert needed, `SELECT` on
    // `migrations` and `INSERT` on `entries` (a delayed row is moved by the trigger of step 5).
    // Returns how many rows it wrote: 0 when the schema is not the instance `inst`.
    r#"
    CREATE FUNCTION {schema}.send_in(q text, payloads bytea[], inst text, due float8[])
    RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
        written bigint;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM {schema}.migrations
                       WHERE component = 'queue' AND instance = inst) THEN
            RETURN 0;
        END IF;
        INSERT INTO {schema}.entries (queue, payload, available_at)
        SELECT q, p, coalesce(to_timestamp(d / 1000.0), now())
        FROM unnest(payloads, due) WITH ORDINALITY AS t(p, d, n)
        ORDER BY n;
        GET DIAGNOSTICS written = ROW_COUNT;
        RETURN written;
    END
    $$;
    "#,
    // Step 7: browsing (`browse.rs`). A claim records who made it and when, beside its lease:
    // two columns no index holds, so a claim stays a HOT update. Their values mean something
    // only while the lease runs. Nullable without a default: added without rewriting the table.
    // Only on `entries`: a row of `delayed` is never claimed there, the claim that takes it
    // writes it into `entries` with its holder (`claim.rs`).
    r#"
    ALTER TABLE {schema}.entries ADD COLUMN claimed_by text, ADD COLUMN claimed_at timestamptz;
    "#,
];

/// Why [`migrate`] failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrationError {
    /// PostgreSQL refused a statement, or the connection broke.
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// The database was migrated by a newer build of signalqueue.
    #[error("the `{component}` tables of schema `{schema}` are at version {found}, newer than this build of signalqueue knows ({known}); upgrade signalqueue in this program")]
    Newer {
        /// The schema.
        schema: String,
        /// The component (`queue`, `outbox`).
        component: String,
        /// The version recorded in `migrations`.
        found: i32,
        /// How many steps this build has.
        known: usize,
    },
    /// The schema name cannot be used.
    #[error("{0}")]
    BadSchema(String),
}

/// `schema` as a quoted SQL identifier.
pub(crate) fn quoted(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// The `LISTEN`/`NOTIFY` channel on which inserts into `schema.entries` are announced.
pub(crate) fn channel(schema: &str) -> String {
    format!("{schema}.entries")
}

/// Brings `component` of `schema` up to `steps.len()` steps; returns the component's instance
/// id (made at random when the component was first created, the same ever after).
///
/// Everything happens in one transaction (a savepoint, when `client` is a transaction already)
/// holding an advisory lock derived from the schema's name, so processes starting together on
/// an empty database wait for each other instead of all creating the tables. It creates the
/// schema and its `migrations` table if missing, reads the component's version, refuses one
/// newer than `steps` ([`MigrationError::Newer`]: "upgrade signalqueue"), applies the missing
/// steps in order and records the new version. Each step is SQL, possibly several statements,
/// in which `{schema}` stands for the quoted schema name. Append steps; never edit one.
pub(crate) async fn migrate<C: GenericClient>(
    client: &mut C,
    schema: &str,
    component: &str,
    steps: &[&str],
) -> Result<String, MigrationError> {
    super::url::check_schema(schema).map_err(MigrationError::BadSchema)?;
    let name = quoted(schema);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_key(schema)])
        .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {name};
         CREATE TABLE IF NOT EXISTS {name}.migrations (
             component text PRIMARY KEY,
             version   int  NOT NULL,
             instance  text NOT NULL
         );"
    ))
    .await?;
    let row = tx
        .query_opt(
            &format!("SELECT version, instance FROM {name}.migrations WHERE component = $1"),
            &[&component],
        )
        .await?;
    let (version, instance) = match row {
        Some(row) => (row.get::<_, i32>(0), row.get::<_, String>(1)),
        None => (0, ulid::Ulid::new().to_string()),
    };
    let applied = usize::try_from(version).unwrap_or(0);
    if applied > steps.len() {
        return Err(MigrationError::Newer {
            schema: schema.to_string(),
            component: component.to_string(),
            found: version,
            known: steps.len(),
        });
    }
    for step in &steps[applied..] {
        tx.batch_execute(&step.replace("{schema}", &name)).await?;
    }
    let target = i32::try_from(steps.len()).unwrap_or(i32::MAX);
    tx.execute(
        &format!(
            "INSERT INTO {name}.migrations (component, version, instance) VALUES ($1, $2, $3)
             ON CONFLICT (component) DO UPDATE SET version = excluded.version"
        ),
        &[&component, &target, &instance],
    )
    .await?;
    tx.commit().await?;
    Ok(instance)
}

/// The advisory lock key of a schema's migrations: FNV-1a of a fixed prefix and the name, so
/// every build (and every component) agrees on it without asking the server.
fn lock_key(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "signalqueue.migrate.".bytes().chain(schema.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_by_schema_and_never_change() {
        assert_ne!(lock_key("signalqueue"), lock_key("signalqueue2"));
        // Every build must take the same lock, or two versions could migrate at once: the
        // key of a schema is fixed forever.
        assert_eq!(lock_key("signalqueue"), 6_790_084_362_329_801_802);
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
