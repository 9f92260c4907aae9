//! The engine contract, run against `sqlite://` on a temporary file, plus what only a file can
//! show: two opens of one file (as two processes), reopening after a drop, queues sharing a file.

#[path = "support/contract.rs"]
mod contract;

use std::time::Duration;

use signalqueue::engine::{self, Counts, EngineOptions, SharedEngine};
use tempfile::TempDir;

use contract::{claim_all, counts, item, items, texts, tokens, LONG_LEASE};

/// One database file in a private temporary directory (removed when the test ends). Every
/// `open` is a separate connection, as another process would have.
struct Sqlite {
    dir: TempDir,
    url: String,
}

impl Sqlite {
    fn new() -> Sqlite {
        let dir = tempfile::tempdir().expect("tempdir");
        // An absolute path, so the URL has the third slash: `sqlite:///tmp/.../queue.db`.
        let url = format!("sqlite://{}", dir.path().join("queue.db").display());
        Sqlite { dir, url }
    }
}

impl contract::Fixture for Sqlite {
    async fn open(&self, options: EngineOptions) -> SharedEngine {
        engine::open(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", self.url))
    }
}

async fn fixture() -> Sqlite {
    Sqlite::new()
}

contract::engine_contract_tests!(fixture);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_names_the_file() {
    let db = Sqlite::new();
    let engine = contract::Fixture::open(&db, EngineOptions::new("default")).await;
    assert_eq!(engine.kind(), "sqlite");
    assert_eq!(engine.describe(), db.url);
    assert!(db.url.starts_with("sqlite:///"), "{}", db.url);
    assert!(db.dir.path().join("queue.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_opens_of_one_file_share_the_queue() {
    let db = Sqlite::new();
    let sender = contract::Fixture::open(&db, EngineOptions::new("default")).await;
    let worker = contract::Fixture::open(&db, EngineOptions::new("default")).await;

    sender.enqueue(&items("shared", 3)).await.expect("enqueue");
    assert_eq!(worker.counts().await.expect("counts"), counts(3, 0, 0, 0));
    let claimed = claim_all(&worker, 2).await;
    assert_eq!(texts(&claimed), ["shared-0", "shared-1", "shared-2"]);
    assert_eq!(sender.counts().await.expect("counts"), counts(0, 0, 3, 0));
    // Either handle may finish a claim: the token, not the connection, owns it.
    assert_eq!(
        sender.ack(&tokens(&claimed)).await.expect("ack"),
        [true, true, true]
    );
    assert_eq!(worker.counts().await.expect("counts"), Counts::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_survive_reopening_the_file() {
    let db = Sqlite::new();
    let options = EngineOptions::new("default");
    let engine = contract::Fixture::open(&db, options.clone()).await;
    engine.enqueue(&items("kept", 3)).await.expect("enqueue");
    // One of them in flight when the process "dies": it comes back after its lease.
    let claimed = engine
        .claim(1, Duration::from_millis(300), Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(texts(&claimed), ["kept-0"]);
    let first = claimed[0].clone();
    engine
        .dead_letter(
            &engine
                .claim(1, LONG_LEASE, Duration::ZERO)
                .await
                .expect("claim")[0]
                .token,
            b"kept-1",
            "kept dead",
        )
        .await
        .expect("dead_letter");
    drop(engine);

    let reopened = contract::Fixture::open(&db, options).await;
    let pending = reopened.pending(10).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].payload, b"kept-2");
    let dead = reopened.dead(10).await.expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"kept-1");
    assert_eq!(dead[0].reason, "kept dead");

    let mut got = Vec::new();
    while got.len() < 2 {
        let more = reopened
            .claim(10, LONG_LEASE, contract::EVENTUALLY)
            .await
            .expect("claim");
        assert!(!more.is_empty(), "entries were lost across the reopen");
        got.extend(more);
    }
    let again = got
        .iter()
        .find(|c| c.token.key == first.token.key)
        .expect("the in-flight entry comes back after its lease");
    assert_eq!(again.deliveries, 2);
    assert_ne!(again.token.fence, first.token.fence);
    let mut payloads = texts(&got);
    payloads.sort();
    assert_eq!(payloads, ["kept-0", "kept-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queues_in_one_file_are_separate() {
    let db = Sqlite::new();
    let default = contract::Fixture::open(&db, EngineOptions::new("default")).await;
    let emails = contract::Fixture::open(&db, EngineOptions::new("emails")).await;

    default
        .enqueue(&[item("for-default")])
        .await
        .expect("enqueue");
    emails.enqueue(&items("mail", 2)).await.expect("enqueue");
    assert_eq!(default.counts().await.expect("counts"), counts(1, 0, 0, 0));
    assert_eq!(emails.counts().await.expect("counts"), counts(2, 0, 0, 0));

    let got = claim_all(&emails, 10).await;
    assert_eq!(texts(&got), ["mail-0", "mail-1"]);
    // A token of one queue does nothing in another, even with the right key and fence.
    assert_eq!(
        default.ack(&tokens(&got)).await.expect("ack"),
        [false, false]
    );
    assert!(emails
        .dead_letter(&got[0].token, &got[0].payload, "bounced")
        .await
        .expect("dead_letter"));
    assert!(default.dead(10).await.expect("dead").is_empty());
    assert_eq!(default.replay_dead(None).await.expect("replay"), 0);
    assert_eq!(default.purge_pending().await.expect("purge"), 1);
    assert_eq!(emails.counts().await.expect("counts"), counts(0, 0, 1, 1));
    assert_eq!(
        emails.ack(&[got[1].token.clone()]).await.expect("ack"),
        [true]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_url_is_relative_to_the_working_directory() {
    // The working directory is process-wide, so this test only reads it, and names a file
    // that cannot collide: it checks where a relative URL lands without changing directory.
    let name = format!("sq-relative-{}.db", signalqueue::EnvelopeId::new());
    let engine = engine::open(&format!("sqlite://{name}"), EngineOptions::new("default"))
        .await
        .expect("open");
    let expected = std::env::current_dir().expect("cwd").join(&name);
    let exists = expected.exists();
    drop(engine);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", expected.display()));
    }
    assert!(exists, "expected the file at {}", expected.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_wakes_waiting_claims_of_the_same_process() {
    // A poll interval longer than the wait: only the in-process wake-up can end the claim
    // before its wait runs out, even when sender and claimer opened the file separately.
    let db = Sqlite::new();
    let mut options = EngineOptions::new("default");
    options.poll_interval = Duration::from_secs(600);
    let claimer = contract::Fixture::open(&db, options.clone()).await;
    let sender = contract::Fixture::open(&db, options).await;
    let wait = Duration::from_secs(60);
    let started = std::time::Instant::now();
    let waiting = tokio::spawn(async move { claimer.claim(10, LONG_LEASE, wait).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sender.enqueue(&[item("wake")]).await.expect("enqueue");
    let got = waiting.await.expect("claim task").expect("claim");
    assert_eq!(texts(&got), ["wake"]);
    assert!(
        started.elapsed() < wait,
        "the claim was not woken by the enqueue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_land_once_each_in_order_per_sender() {
    // 64 tasks sending at once share commits (group commit); every signal must still land
    // exactly once, and each task's signals in the order it sent them.
    const TASKS: usize = 64;
    const EACH: usize = 40;
    let db = Sqlite::new();
    let engine = contract::Fixture::open(&db, EngineOptions::new("default")).await;
    let mut sends = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let engine = engine.clone();
        sends.spawn(async move {
            for i in 0..EACH {
                // Some batches of two, to mix batch sizes within a group.
                let batch = if i % 5 == 0 {
                    vec![
                        item(format!("{t:02}-{i:02}a")),
                        item(format!("{t:02}-{i:02}b")),
                    ]
                } else {
                    vec![item(format!("{t:02}-{i:02}"))]
                };
                engine.enqueue(&batch).await.expect("enqueue");
            }
        });
    }
    while let Some(done) = sends.join_next().await {
        done.expect("sender task");
    }
    let claimed = claim_all(&engine, 256).await;
    let got = texts(&claimed);
    let per_task = EACH + EACH / 5;
    assert_eq!(got.len(), TASKS * per_task, "nothing lost, nothing twice");
    for t in 0..TASKS {
        let prefix = format!("{t:02}-");
        let mine: Vec<&String> = got.iter().filter(|p| p.starts_with(&prefix)).collect();
        let mut sorted = mine.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(mine.len(), per_task, "task {t}: {mine:?}");
        assert_eq!(mine, sorted, "task {t}'s signals out of order or twice");
    }
}

/// Set in the environment of the second process that
/// `a_retry_reaches_a_claimer_in_another_process` starts: the queue's URL and name, and the
/// file the child creates once it waits.
const CHILD_URL: &str = "SQ_TEST_CHILD_URL";
const CHILD_QUEUE: &str = "SQ_TEST_CHILD_QUEUE";
const CHILD_READY: &str = "SQ_TEST_CHILD_READY";
/// Both processes' poll interval: a worker's, as `tests/tests/rollout_worker.rs` configures it.
const POLL: Duration = Duration::from_millis(50);

/// The other process of `a_retry_reaches_a_claimer_in_another_process`, which runs this test
/// binary again with only this test and the variables above; without them it does nothing. It
/// waits, claim after claim as an idle worker does, acknowledges the first entry it gets and
/// prints how many deliveries it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_claimer() {
    let (Ok(url), Ok(queue), Ok(ready)) = (
        std::env::var(CHILD_URL),
        std::env::var(CHILD_QUEUE),
        std::env::var(CHILD_READY),
    ) else {
        return;
    };
    let engine = engine::open(&url, EngineOptions::new(queue).with_poll_interval(POLL))
        .await
        .expect("open");
    std::fs::write(ready, b"").expect("ready file");
    let c = contract::claim_like_an_idle_worker(&engine).await;
    assert_eq!(engine.ack(&[c.token]).await.expect("ack"), [true]);
    println!("child claimed it at delivery {}", c.deliveries);
}

/// Two processes on one file, idle but for one entry that this one keeps giving back (as an
/// older release does in a rolling deploy): the other must get it, soon. Another process
/// hears of the retry only as a commit to the file, a moment after it was written, while this
/// one claims again at once; had both then looked every poll interval from there, this one
/// would have looked first at every due time and won the entry back every time (in-process
/// handles share their wake-ups, so the contract's `retries_reach_other_claimers` cannot show
/// this).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_reaches_a_claimer_in_another_process() {
    const ROUNDS: u32 = 20;
    let db = Sqlite::new();
    let options = EngineOptions::new("default").with_poll_interval(POLL);
    let giver = contract::Fixture::open(&db, options.clone()).await;
    giver.enqueue(&[item("given-back")]).await.expect("enqueue");
    let mut mine = claim_all(&giver, 1).await.remove(0);

    let ready = db.dir.path().join("child-ready");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_claimer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_URL, &db.url)
        .env(CHILD_QUEUE, &options.queue)
        .env(CHILD_READY, &ready)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the other process");
    while !ready.exists() {
        assert!(
            child.try_wait().expect("child").is_none(),
            "the other process ended early"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut rounds = 0;
    let mut theirs = false;
    while rounds < ROUNDS && !theirs {
        rounds += 1;
        let not_before = std::time::SystemTime::now() + Duration::from_millis(200);
        assert!(giver
            .retry(&mine.token, b"given-back", not_before)
            .await
            .expect("retry"));
        // Claims again at once, as a worker's claim loop does; 2 s is well past the due time,
        // so nothing claimed means the other process has it.
        match giver
            .claim(1, LONG_LEASE, Duration::from_secs(2))
            .await
            .expect("claim")
            .pop()
        {
            Some(again) => mine = again,
            None => theirs = true,
        }
    }
    if !theirs {
        let _ = child.kill();
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("the other process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        theirs && stdout.contains(&format!("child claimed it at delivery {}", rounds + 1)),
        "the process that gave the entry back claimed it again first {rounds} times in a row; \
         the other process waiting on the file said:\n{stdout}"
    );
    assert_eq!(giver.counts().await.expect("counts"), Counts::default());
}
