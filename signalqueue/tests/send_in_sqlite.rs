//! `send_in` with a rusqlite transaction: straight into the queue when the app's file is the
//! queue's, into the file's outbox (then relayed) when the queue is elsewhere, nothing on a
//! rollback, and a clear refusal when the file holds neither.

use std::time::{Duration, SystemTime};

use signalqueue::__private::relay_once;
use signalqueue::engine::{self, EngineOptions, SharedEngine};
use signalqueue::outbox::Outbox;
use signalqueue::{async_signal, Envelope, Runtime, SendOptions};

/// Sent when an order row is saved.
#[async_signal(providing_args = [order_id: i64])]
pub static ORDER_SAVED: OrderSaved;

fn app_schema(conn: &rusqlite::Connection) {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")
        .expect("app schema");
}

async fn sqlite_queue(path: &std::path::Path) -> SharedEngine {
    engine::open(
        &format!("sqlite://{}", path.display()),
        EngineOptions::new("default"),
    )
    .await
    .expect("open the queue")
}

async fn claimed_names(queue: &SharedEngine) -> Vec<String> {
    let claimed = queue
        .claim(100, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("claim");
    claimed
        .iter()
        .map(|c| Envelope::decode(&c.payload).expect("an envelope").signal)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn into_the_queue_when_the_file_is_the_queues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    let queue = sqlite_queue(&path).await;
    let runtime = Runtime::builder().queue("default", queue.clone()).build();
    let mut conn = rusqlite::Connection::open(&path).expect("the app's connection");
    app_schema(&conn);

    runtime
        .scope(async {
            let tx = conn.transaction().expect("begin");
            tx.execute("INSERT INTO orders (id) VALUES (1)", [])
                .expect("row");
            let sent = ORDER_SAVED.send_in(&tx, 1).await.expect("send_in");
            assert!(matches!(sent, signalqueue::Sent::Queued(_)));
            // Not visible to a worker before the commit (a read: the app holds the write lock).
            assert!(queue.pending(10).await.expect("pending").is_empty());
            tx.commit().expect("commit");

            let tx = conn.transaction().expect("begin");
            tx.execute("INSERT INTO orders (id) VALUES (2)", [])
                .expect("row");
            ORDER_SAVED
                .send_many_in(
                    &tx,
                    [
                        OrderSavedArgs { order_id: 2 },
                        OrderSavedArgs { order_id: 3 },
                    ],
                )
                .await
                .expect("send_many_in");
            tx.rollback().expect("rollback");
        })
        .await;

    assert_eq!(claimed_names(&queue).await, [OrderSaved::NAME]);
}

#[tokio::test(flavor = "current_thread")]
async fn into_the_outbox_then_relayed_when_the_queue_is_elsewhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = dir.path().join("app.db");
    let outbox = Outbox::open(&format!("sqlite://{}", app.display()))
        .await
        .expect("open the outbox");
    let queue = sqlite_queue(&dir.path().join("queue.db")).await;
    let runtime = Runtime::builder()
        .queue("default", queue.clone())
        .outbox(outbox.clone())
        .build();
    let mut conn = rusqlite::Connection::open(&app).expect("the app's connection");
    app_schema(&conn);

    runtime
        .scope(async {
            let tx = conn.transaction().expect("begin");
            let _ = ORDER_SAVED.send_in(&tx, 7).await.expect("send_in");
            tx.rollback().expect("rollback");
            let tx = conn.transaction().expect("begin");
            let _ = ORDER_SAVED.send_in(&tx, 8).await.expect("send_in");
            let _ = ORDER_SAVED.send_in(&tx, 9).await.expect("send_in");
            tx.commit().expect("commit");
        })
        .await;
    assert_eq!(outbox.stats().await.expect("stats").depth, 2);
    assert_eq!(queue.counts().await.expect("counts").pending, 0);

    let moved = relay_once(&outbox, &runtime, 100).await.expect("relay");
    assert_eq!(moved, 2);
    assert_eq!(outbox.stats().await.expect("stats").depth, 0);
    let claimed = queue
        .claim(10, Duration::from_secs(60), Duration::ZERO)
        .await
        .expect("claim");
    let ids: Vec<i64> = claimed
        .iter()
        .map(|c| {
            let envelope = Envelope::decode(&c.payload).expect("envelope");
            signalqueue::codec::decode::<OrderSavedArgs>(&envelope.args)
                .expect("args")
                .order_id
        })
        .collect();
    assert_eq!(ids, [8, 9], "oldest first, the rolled-back one never");
}

#[tokio::test(flavor = "current_thread")]
async fn a_file_with_neither_queue_nor_outbox_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = sqlite_queue(&dir.path().join("queue.db")).await;
    let runtime = Runtime::builder().queue("default", queue.clone()).build();
    let app = dir.path().join("other.db");
    let mut conn = rusqlite::Connection::open(&app).expect("the app's connection");
    app_schema(&conn);
    let err = runtime
        .scope(async {
            let tx = conn.transaction().expect("begin");
            let err = ORDER_SAVED.send_in(&tx, 1).await.expect_err("refused");
            tx.commit().expect("the transaction is still usable");
            err
        })
        .await
        .to_string();
    assert!(err.contains("does not hold queue `default`"), "{err}");
    assert!(
        err.contains("other.db"),
        "names the transaction's file: {err}"
    );
    assert!(err.contains("queue.db"), "names the queue: {err}");
    assert!(err.contains("[outbox]"), "says what to do: {err}");
    assert_eq!(queue.counts().await.expect("counts").pending, 0);
}

/// A delayed `send_in` is written as the engine writes a delayed send, whether into the
/// queue's table or into the outbox (whose relay carries the due time into the queue): the
/// entry is scheduled, not claimable, and its envelope has the due time.
#[tokio::test(flavor = "current_thread")]
async fn a_delayed_send_in_stays_scheduled_in_the_queue_and_through_the_outbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let own = dir.path().join("own.db");
    let app = dir.path().join("app.db");
    let colocated = sqlite_queue(&own).await;
    let elsewhere = sqlite_queue(&dir.path().join("queue.db")).await;
    let outbox = Outbox::open(&format!("sqlite://{}", app.display()))
        .await
        .expect("open the outbox");
    let delay = SendOptions::new().delay(Duration::from_secs(3600));
    let due_after = SystemTime::now() + Duration::from_secs(3600);

    let runtime = Runtime::builder()
        .queue("default", colocated.clone())
        .build();
    let mut conn = rusqlite::Connection::open(&own).expect("the app's connection");
    runtime
        .scope(async {
            let tx = conn.transaction().expect("begin");
            let _ = ORDER_SAVED
                .send_in_with(&tx, delay.clone(), 1)
                .await
                .expect("send_in_with");
            ORDER_SAVED
                .send_many_in_with(&tx, delay.clone(), [OrderSavedArgs { order_id: 2 }])
                .await
                .expect("send_many_in_with");
            tx.commit().expect("commit");
        })
        .await;

    let runtime = Runtime::builder()
        .queue("default", elsewhere.clone())
        .outbox(outbox.clone())
        .build();
    let mut conn = rusqlite::Connection::open(&app).expect("the app's connection");
    runtime
        .scope(async {
            let tx = conn.transaction().expect("begin");
            let _ = ORDER_SAVED
                .send_in_with(&tx, delay.clone(), 3)
                .await
                .expect("send_in_with");
            tx.commit().expect("commit");
        })
        .await;
    assert_eq!(relay_once(&outbox, &runtime, 100).await.expect("relay"), 1);

    for (queue, n) in [(&colocated, 2), (&elsewhere, 1)] {
        let counts = queue.counts().await.expect("counts");
        assert_eq!((counts.pending, counts.scheduled), (0, n), "{counts:?}");
        assert!(claimed_names(queue).await.is_empty(), "not before its time");
        for entry in queue.pending(10).await.expect("pending") {
            let due = Envelope::decode(&entry.payload)
                .expect("envelope")
                .scheduled_for
                .expect("a due time");
            assert!(due + Duration::from_millis(5) >= due_after);
        }
    }
}
