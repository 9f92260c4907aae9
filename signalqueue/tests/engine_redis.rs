//! The Redis engines (`redis://`, `redis-set://`) against real, private `redis-server`s: the
//! shared engine contract for both, then what is particular to Redis.

#[path = "support/contract.rs"]
mod contract;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::collections::BTreeSet;
use std::slice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use signalqueue::engine::{EngineError, EngineOptions, Outgoing, Section, SharedEngine};
use signalqueue::{Envelope, EnvelopeId, Payload};

use crate::contract::{claim_all, claim_one, counts, item, items, texts, tokens, LONG_LEASE};
use crate::redis_server::{Persistence, RedisServer};

/// How long an operation on an unreachable Redis may take before it must have failed. The
/// engine's own bound is 5 s; the rest is slack for a loaded machine.
const FAILS_WITHIN: Duration = Duration::from_secs(20);

/// Opens handles of one engine kind (`redis` or `redis-set`) onto one private server.
struct Fixture {
    server: Arc<RedisServer>,
    scheme: &'static str,
}

impl contract::Fixture for Fixture {
    async fn open(&self, options: EngineOptions) -> SharedEngine {
        signalqueue::engine::open(&self.server.url(self.scheme), options)
            .await
            .expect("open the redis engine")
    }
}

async fn list_fixture() -> Fixture {
    Fixture {
        server: Arc::new(RedisServer::start()),
        scheme: "redis",
    }
}

async fn set_fixture() -> Fixture {
    Fixture {
        server: Arc::new(RedisServer::start()),
        scheme: "redis-set",
    }
}

mod list {
    crate::contract::engine_contract_tests!(super::list_fixture);
}

mod set {
    crate::contract::engine_contract_tests!(super::set_fixture);
}

/// A queue name no other test uses.
fn queue(name: &str) -> EngineOptions {
    EngineOptions::new(format!("{name}-{}", EnvelopeId::new()))
}

async fn open(url: &str, options: EngineOptions) -> SharedEngine {
    signalqueue::engine::open(url, options)
        .await
        .expect("open the redis engine")
}

/// A plain connection for looking at (and writing to) Redis behind the engine's back.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    fresh_connection(&server.url("redis"))
        .await
        .expect("raw connection")
}

async fn all_keys(server: &RedisServer) -> BTreeSet<String> {
    let mut conn = raw(server).await;
    redis::cmd("KEYS")
        .arg("*")
        .query_async::<Vec<String>>(&mut conn)
        .await
        .expect("KEYS")
        .into_iter()
        .collect()
}

fn envelope(signal: &str, sender: Option<&str>, args: &[u8]) -> Outgoing {
    let envelope = Envelope::new(
        signal,
        sender.map(str::to_string),
        Payload::Bincode(args.to_vec()),
    );
    Outgoing::new(envelope.id, envelope.encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_and_descriptions_hide_passwords() {
    let server = RedisServer::start();
    server.command(&["CONFIG", "SET", "requirepass", "s3cret"]);
    for (scheme, kind) in [("redis", "redis"), ("redis-set", "redis-set")] {
        let url = format!("{scheme}://:s3cret@127.0.0.1:{}/0", server.port());
        let engine = open(&url, queue("describe")).await;
        assert_eq!(engine.kind(), kind);
        let shown = engine.describe();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains(&server.port().to_string()), "{shown}");
        // The password in the URL is what lets the engine in.
        engine.ping().await.expect("ping with the password");
        engine.enqueue(&[item("x")]).await.expect("enqueue");
        let got = claim_one(&engine, LONG_LEASE).await;
        assert_eq!(engine.ack(&[got.token]).await.expect("ack"), [true]);
    }
    let wrong = format!("redis://:wrong@127.0.0.1:{}/0", server.port());
    let engine = open(&wrong, queue("describe")).await;
    let err = engine
        .enqueue(&[item("x")])
        .await
        .expect_err("bad password");
    assert!(!err.to_string().contains("wrong"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queue_names_and_urls_fail_at_open() {
    let err = signalqueue::engine::open("redis://127.0.0.1:1/0", EngineOptions::new("a}b"))
        .await
        .expect_err("a brace breaks the hash tag");
    assert!(err.to_string().contains("hash tag"), "{err}");
    let err = signalqueue::engine::open("redis://:pw@127.0.0.1:notaport/0", queue("url"))
        .await
        .expect_err("a bad port");
    assert!(err.to_string().contains("HOST:PORT"), "{err}");
    assert!(!err.to_string().contains(":pw@"), "{err}");
    signalqueue::engine::open("redis://127.0.0.1:1/0?protocol=resp3", queue("url"))
        .await
        .expect("RESP3 is what the engine speaks anyway");
}

/// The `resp=` of every client of `server` but the one asking (`CLIENT LIST`).
async fn protocols(server: &RedisServer) -> Vec<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut raw(server).await)
        .await
        .expect("CLIENT LIST");
    list.lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("resp=")))
        .map(str::to_string)
        .collect()
}

/// The engine speaks RESP3 unless asked for RESP2 (for what cannot speak RESP3, such as some
/// proxies), and works the same either way: every reply it reads is the same in RESP2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_asked_for_resp2_works() {
    let server = RedisServer::start();
    let engine = open(&server.url("redis"), queue("resp3")).await;
    engine.counts().await.expect("counts");
    assert_eq!(protocols(&server).await, ["3"], "the default is RESP3");
    drop(engine);
    for resp2 in ["resp2", "2"] {
        let url = format!("{}?protocol={resp2}", server.url("redis"));
        let engine = open(&url, queue(&format!("resp2-{resp2}"))).await;
        engine
            .enqueue(&[envelope("t.a", None, &[1]), envelope("t.b", None, &[2])])
            .await
            .expect("send");
        assert_eq!(engine.counts().await.expect("counts").pending, 2);
        let got = engine
            .claim(10, Duration::from_secs(30), Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(got.len(), 2);
        let tokens: Vec<_> = got.iter().map(|c| c.token.clone()).collect();
        assert_eq!(engine.ack(&tokens).await.expect("ack"), [true, true]);
        assert_eq!(engine.counts().await.expect("counts").in_flight, 0);
        assert!(
            protocols(&server).await.contains(&"2".to_string()),
            "?protocol={resp2} was not used"
        );
    }
}

/// `redis-set://`: identical pending content collapses; other content (a different sender)
/// does not; once claimed, the same content may wait again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_set_collapses_identical_pending_signals() {
    let server = RedisServer::start();
    let engine = open(&server.url("redis-set"), queue("dedup")).await;

    let first = envelope("shop.order_paid", Some("shop.Order"), &[1, 2, 3]);
    // Same signal, sender and arguments; another id and time.
    let same = envelope("shop.order_paid", Some("shop.Order"), &[1, 2, 3]);
    assert_ne!(first.payload, same.payload);
    engine
        .enqueue(slice::from_ref(&first))
        .await
        .expect("enqueue");
    engine
        .enqueue(slice::from_ref(&same))
        .await
        .expect("enqueue");
    // Within one batch too.
    engine
        .enqueue(&[same.clone(), first.clone()])
        .await
        .expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 0, 0));

    let other_sender = envelope("shop.order_paid", Some("shop.Refund"), &[1, 2, 3]);
    let other_args = envelope("shop.order_paid", Some("shop.Order"), &[9]);
    engine
        .enqueue(&[other_sender.clone(), other_args.clone()])
        .await
        .expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(3, 0, 0, 0));

    // Garbage is keyed by its raw bytes.
    engine
        .enqueue(&[item("garbage"), item("garbage")])
        .await
        .expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(4, 0, 0, 0));

    let claimed = claim_all(&engine, 10).await;
    assert_eq!(claimed.len(), 4);
    assert_eq!(
        claimed[0].payload, first.payload,
        "the first one sent is kept"
    );
    assert_eq!(claimed[1].payload, other_sender.payload);
    assert_eq!(claimed[2].payload, other_args.payload);
    assert_eq!(claimed[3].payload, b"garbage");

    // Claimed, so no longer pending: the same content waits again.
    engine
        .enqueue(slice::from_ref(&same))
        .await
        .expect("enqueue");
    engine.enqueue(&[item("garbage")]).await.expect("enqueue");
    assert_eq!(engine.counts().await.expect("counts"), counts(2, 0, 4, 0));
    // The first claim is unaffected and finishes normally.
    assert_eq!(engine.ack(&tokens(&claimed)).await.expect("ack"), [true; 4]);
    let again = claim_all(&engine, 10).await;
    assert_eq!(again[0].payload, same.payload);
    assert_eq!(again[1].payload, b"garbage");
    assert_eq!(engine.ack(&tokens(&again)).await.expect("ack"), [true; 2]);
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));
}

/// Bytes pushed by hand with one `RPUSH` (garbage, or a JSON envelope from another language)
/// are claimed like anything else, and garbage is dead-lettered with its exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_pushed_entries_are_claimed_and_dead_lettered_intact() {
    let server = RedisServer::start();
    let mut conn = raw(&server).await;
    for scheme in ["redis", "redis-set"] {
        let options = queue("hand");
        let pending_key = format!("{{sq:{}}}:pending", options.queue);
        let engine = open(&server.url(scheme), options).await;
        let json = br#"{"v":1,"signal":"demo.hello","args":{"name":"world"}}"#.to_vec();
        // Looks like one of the engine's own references, but names nothing stored.
        let fake_ref = b"\0sq:id:999999".to_vec();
        let garbage = vec![b'h', b'e', b'l', b'l', b'o', 0, 0xFF];
        for payload in [&garbage, &json, &fake_ref] {
            redis::cmd("RPUSH")
                .arg(&pending_key)
                .arg(&payload[..])
                .query_async::<i64>(&mut conn)
                .await
                .expect("RPUSH by hand");
        }
        assert_eq!(engine.counts().await.expect("counts"), counts(3, 0, 0, 0));

        let claimed = claim_all(&engine, 10).await;
        let payloads: Vec<&[u8]> = claimed.iter().map(|c| &c.payload[..]).collect();
        assert_eq!(
            payloads,
            [&garbage[..], &json[..], &fake_ref[..]],
            "{scheme}"
        );
        let decoded = Envelope::decode(&claimed[1].payload).expect("the JSON envelope decodes");
        assert_eq!(decoded.signal, "demo.hello");
        assert!(Envelope::decode(&claimed[0].payload).is_err());

        for c in [&claimed[0], &claimed[2]] {
            assert!(engine
                .dead_letter(&c.token, &c.payload, "not a signalqueue envelope")
                .await
                .expect("dead_letter"));
        }
        assert_eq!(
            engine.ack(&[claimed[1].token.clone()]).await.expect("ack"),
            [true]
        );
        let dead = engine.dead(10).await.expect("dead");
        let dead_payloads: Vec<&[u8]> = dead.iter().map(|d| &d.payload[..]).collect();
        assert_eq!(dead_payloads, [&garbage[..], &fake_ref[..]], "{scheme}");
        assert!(dead
            .iter()
            .all(|d| d.reason == "not a signalqueue envelope"));
        assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 2));
    }
}

/// Every key the engines write carries the queue's hash tag, and once everything is
/// acknowledged only the id counter is left: nothing grows with the number of signals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_carry_the_hash_tag_and_nothing_is_left_after_acks() {
    let server = RedisServer::start();
    for scheme in ["redis", "redis-set"] {
        let options = queue("layout");
        let tag = format!("{{sq:{}}}:", options.queue);
        let engine = open(&server.url(scheme), options).await;

        engine.enqueue(&items("layout", 50)).await.expect("enqueue");
        let claimed = claim_all(&engine, 7).await;
        assert_eq!(claimed.len(), 50);
        // Every state at once: in flight, scheduled, retried now, released, dead.
        let later = std::time::SystemTime::now() + LONG_LEASE;
        assert!(engine
            .retry(&claimed[0].token, b"again", later)
            .await
            .expect("retry"));
        assert!(engine
            .retry(&claimed[1].token, b"now", std::time::SystemTime::now())
            .await
            .expect("retry"));
        engine
            .release(slice::from_ref(&claimed[2].token))
            .await
            .expect("release");
        assert!(engine
            .dead_letter(&claimed[3].token, &claimed[3].payload, "dead")
            .await
            .expect("dead_letter"));
        engine.enqueue(&items("more", 5)).await.expect("enqueue");

        let keys = all_keys(&server).await;
        let mine: Vec<_> = keys.iter().filter(|k| k.starts_with(&tag)).collect();
        assert!(mine.len() >= 6, "expected the queue's keys, got {keys:?}");
        for key in &keys {
            assert!(key.starts_with("{sq:"), "a key without a hash tag: {key}");
        }

        // Finish everything: the rest of the first claims, and whatever comes back.
        assert_eq!(
            engine.ack(&tokens(&claimed[4..])).await.expect("ack"),
            vec![true; 46]
        );
        assert_eq!(engine.purge_dead().await.expect("purge_dead"), 1);
        let scheduled = engine.pending(100).await.expect("pending");
        assert_eq!(scheduled.len(), 8, "now, released, 5 more, scheduled");
        let rest = claim_all(&engine, 100).await;
        assert_eq!(rest.len(), 7, "all but the scheduled retry");
        assert_eq!(
            engine.ack(&tokens(&rest)).await.expect("ack"),
            vec![true; 7]
        );
        assert_eq!(engine.purge_pending().await.expect("purge"), 1);
        assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));

        let left: Vec<_> = all_keys(&server)
            .await
            .into_iter()
            .filter(|k| k.starts_with(&tag))
            .collect();
        let in_flight_keys = ["entries", "holders", "leases"].map(|k| format!("{tag}{k}"));
        let mut expected: Vec<String> = in_flight_keys.to_vec();
        expected.push(format!("{tag}seq"));
        assert_eq!(
            left, expected,
            "{scheme}: only the counter stays, and the keys of what is in flight hold their guard"
        );
        // Nothing grows: one member each, the guard, however many signals went through.
        let mut conn = raw(&server).await;
        for key in &in_flight_keys {
            let kind: String = redis::cmd("TYPE")
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("TYPE");
            let len: usize = redis::cmd(if kind == "zset" { "ZCARD" } else { "HLEN" })
                .arg(key)
                .query_async(&mut conn)
                .await
                .expect("length");
            assert_eq!(len, 1, "{scheme}: {key} holds more than its guard");
        }
    }
}

/// The keys of what is in flight (a few dozen entries, below Redis's listpack thresholds) are
/// kept out of Redis's compact encodings, which are searched from their start at every write:
/// a skiplist and hash tables from the first claim on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_keys_are_never_listpacks() {
    let server = RedisServer::start();
    let options = queue("encoding");
    let tag = format!("{{sq:{}}}:", options.queue);
    let engine = open(&server.url("redis"), options).await;
    engine
        .enqueue(&items("encoding", 3))
        .await
        .expect("enqueue");
    let claimed = claim_all(&engine, 2).await;
    assert_eq!(claimed.len(), 3);
    let mut conn = raw(&server).await;
    for (key, encoding) in [
        ("leases", "skiplist"),
        ("entries", "hashtable"),
        ("holders", "hashtable"),
    ] {
        let got: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(format!("{tag}{key}"))
            .query_async(&mut conn)
            .await
            .expect("OBJECT ENCODING");
        assert_eq!(got, encoding, "{key}");
    }
    // The guard is nobody's entry: not counted, listed or found.
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 3, 0));
    let browse = engine.browse().expect("browse");
    let listed = contract::browse_all(browse, Section::InFlight, 2).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let guard = format!("\0sq:guard:{}", "-".repeat(64));
    assert!(browse.find(&guard).await.expect("find").is_none());
    assert_eq!(
        engine.ack(&tokens(&claimed)).await.expect("ack"),
        [true, true, true]
    );
    assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));
    assert!(contract::browse_all(browse, Section::InFlight, 2)
        .await
        .is_empty());
}

/// The pending section is the pending list, read by position: a page starts after wherever the
/// cursor's entry is now, so claims from the head meanwhile make it skip nothing. An entry
/// shown without an id yet (pushed by hand, as another language sends) is given one, which
/// stays its key: its claim carries that key, and the holder is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pages_follow_the_list_and_hand_pushed_entries_keep_their_key() {
    let server = RedisServer::start();
    for scheme in ["redis", "redis-set"] {
        let options = queue("browse-list");
        let pending = format!("{{sq:{}}}:pending", options.queue);
        let engine = open(&server.url(scheme), options).await;
        let browse = engine.browse().expect("browse");
        engine.enqueue(&items("p", 4)).await.expect("enqueue");
        let mut conn = raw(&server).await;
        for i in 4..6 {
            redis::cmd("RPUSH")
                .arg(&pending)
                .arg(format!("p-{i}"))
                .query_async::<()>(&mut conn)
                .await
                .expect("push by hand");
        }

        let first = browse.page(Section::Pending, None, 2).await.expect("page");
        assert_eq!(texts_of(&first.entries), ["p-0", "p-1"], "{scheme}");
        // Both shown entries are claimed before the next page is asked for.
        let claimed = engine
            .claim(2, LONG_LEASE, Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(texts(&claimed), ["p-0", "p-1"]);
        let second = browse
            .page(Section::Pending, first.next.as_deref(), 2)
            .await
            .expect("page");
        assert_eq!(
            texts_of(&second.entries),
            ["p-2", "p-3"],
            "{scheme}: no skip"
        );
        let third = browse
            .page(Section::Pending, second.next.as_deref(), 2)
            .await
            .expect("page");
        assert_eq!(texts_of(&third.entries), ["p-4", "p-5"], "{scheme}");
        assert!(third.next.is_none());

        // The hand-pushed entry keeps the key its page gave it, through its claim.
        let key = third.entries[0].key.clone();
        let found = browse.find(&key).await.expect("find").expect("found");
        assert_eq!(
            (found.section, found.payload.as_slice()),
            (Section::Pending, b"p-4".as_slice())
        );
        assert_eq!(counts_now(&engine).await, counts(4, 0, 2, 0));
        let rest = claim_all(&engine, 10).await;
        assert_eq!(texts(&rest), ["p-2", "p-3", "p-4", "p-5"]);
        assert_eq!(rest[2].token.key, key);
        assert_eq!(rest[2].deliveries, 1);
        let held = browse.find(&key).await.expect("find").expect("found");
        assert_eq!(held.section, Section::InFlight);
        let holder = held.holder.expect("holder");
        assert_eq!(
            holder.worker.as_deref(),
            Some(signalqueue::engine::consumer_id())
        );
        assert_eq!(
            engine.ack(&tokens(&rest)).await.expect("ack"),
            vec![true; 4]
        );
        assert_eq!(
            engine.ack(&tokens(&claimed)).await.expect("ack"),
            vec![true; 2]
        );
        assert_eq!(counts_now(&engine).await, counts(0, 0, 0, 0));
    }
}

/// A claim made by a build that recorded no holders (its claim script knew no `holders` key)
/// is still found and browsed in flight, with its lease and no holder, and finishes as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_without_a_recorded_holder_are_still_browsed() {
    let server = RedisServer::start();
    let options = queue("browse-old-claim");
    let holders = format!("{{sq:{}}}:holders", options.queue);
    let engine = open(&server.url("redis"), options).await;
    let browse = engine.browse().expect("browse");
    engine.enqueue(&items("old", 2)).await.expect("enqueue");
    let claimed = claim_all(&engine, 10).await;
    let mut conn = raw(&server).await;
    let recorded: usize = redis::cmd("HLEN")
        .arg(&holders)
        .query_async(&mut conn)
        .await
        .expect("HLEN");
    assert_eq!(
        recorded, 3,
        "the claim records both holders (and the guard)"
    );
    redis::cmd("DEL")
        .arg(&holders)
        .query_async::<()>(&mut conn)
        .await
        .expect("forget the holders, as an older build never wrote them");

    let found = browse
        .find(&claimed[1].token.key)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.section, Section::InFlight);
    let holder = found.holder.expect("holder");
    assert_eq!((holder.worker, holder.since), (None, None));
    assert!(holder.lease_until > std::time::SystemTime::now() + LONG_LEASE / 2);
    let page = browse
        .page(Section::InFlight, None, 10)
        .await
        .expect("page");
    assert_eq!(texts_of(&page.entries), ["old-0", "old-1"]);
    assert_eq!(
        engine.ack(&tokens(&claimed)).await.expect("ack"),
        [true, true]
    );
    assert!(browse
        .find(&claimed[0].token.key)
        .await
        .expect("find")
        .is_none());
}

/// The payloads of listed entries, as strings, in order.
fn texts_of(listed: &[signalqueue::engine::Listed]) -> Vec<String> {
    listed
        .iter()
        .map(|l| String::from_utf8_lossy(&l.payload).into_owned())
        .collect()
}

async fn counts_now(engine: &SharedEngine) -> signalqueue::engine::Counts {
    engine.counts().await.expect("counts")
}

/// A worker killed with -9 leaves its claims leased; after the lease they go to whoever claims
/// next (here a new engine, as after a restart), with the delivery counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_a_dead_worker_come_back_after_the_lease() {
    let server = RedisServer::start();
    let options = queue("killed");
    let url = server.url("redis");
    let lease = Duration::from_millis(500);
    {
        let doomed = open(&url, options.clone()).await;
        doomed.enqueue(&items("killed", 20)).await.expect("enqueue");
        let taken = doomed
            .claim(20, lease, Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(taken.len(), 20);
        // Dropped without a word, as a killed process would be.
    }
    let successor = open(&url, options).await;
    let mut back = Vec::new();
    let deadline = Instant::now() + contract::EVENTUALLY;
    while back.len() < 20 && Instant::now() < deadline {
        back.extend(
            successor
                .claim(20, LONG_LEASE, contract::EVENTUALLY)
                .await
                .expect("claim"),
        );
    }
    let mut got = texts(&back);
    got.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("killed-{i}")).collect();
    want.sort();
    assert_eq!(got, want);
    assert!(back.iter().all(|c| c.deliveries == 2));
    assert_eq!(
        successor.ack(&tokens(&back)).await.expect("ack"),
        vec![true; 20]
    );
}

/// Nothing listens: the engine still opens (it connects on first use), and every call fails
/// with `Unavailable` within a bound instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_fails_fast_and_clearly() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let engine = open(&format!("redis://127.0.0.1:{port}/0"), queue("down")).await;
    let started = Instant::now();
    let err = engine
        .enqueue(&[item("lost?")])
        .await
        .expect_err("nothing listens");
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );
    assert!(err.is_unavailable(), "{err:?}");
    let started = Instant::now();
    let err = engine
        .claim(10, LONG_LEASE, Duration::from_secs(60))
        .await
        .expect_err("nothing listens");
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );
    assert!(err.is_unavailable(), "{err:?}");
}

/// Redis killed and restarted (AOF, fsync always) under a live engine: sends fail within a
/// bound while it is down, the same engine works again afterwards without being reopened, and
/// every entry whose `enqueue` returned `Ok` and that was not acknowledged is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_nothing_acknowledged_and_the_engine_reconnects() {
    let mut server = RedisServer::start_with(Persistence::AofAlways);
    for scheme in ["redis", "redis-set"] {
        let options = queue("restart");
        let engine = open(&server.url(scheme), options).await;
        let mut sent: BTreeSet<String> = BTreeSet::new();
        let batch = items(&format!("{scheme}-before"), 100);
        engine.enqueue(&batch).await.expect("enqueue");
        sent.extend(
            batch
                .iter()
                .map(|o| String::from_utf8_lossy(&o.payload).into_owned()),
        );

        // Some acknowledged, some left in flight under a short lease, the rest pending.
        let claimed = engine
            .claim(20, Duration::from_secs(2), Duration::ZERO)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 20);
        assert_eq!(
            engine.ack(&tokens(&claimed[..10])).await.expect("ack"),
            vec![true; 10]
        );
        for c in &claimed[..10] {
            sent.remove(&String::from_utf8_lossy(&c.payload).into_owned());
        }

        server.kill();
        let started = Instant::now();
        let err = engine
            .enqueue(&[item("while-down")])
            .await
            .expect_err("Redis is down");
        assert!(
            started.elapsed() < FAILS_WITHIN,
            "took {:?}",
            started.elapsed()
        );
        assert!(err.is_unavailable(), "{err:?}");
        let err = engine
            .claim(10, LONG_LEASE, Duration::from_secs(1))
            .await
            .expect_err("Redis is down");
        assert!(matches!(err, EngineError::Unavailable { .. }), "{err:?}");

        server.restart();
        // The same engine, not reopened: it reconnects by itself (allowing for a few failures
        // while it notices).
        let deadline = Instant::now() + contract::EVENTUALLY;
        let after = item(format!("{scheme}-after"));
        loop {
            match engine.enqueue(slice::from_ref(&after)).await {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline => {
                    assert!(e.is_unavailable(), "{e:?}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("the engine did not reconnect: {e}"),
            }
        }
        sent.insert(format!("{scheme}-after"));

        // Everything sent and not acknowledged comes out (the 10 in flight once their lease
        // ends), nothing acknowledged comes back.
        let mut got = BTreeSet::new();
        let deadline = Instant::now() + contract::EVENTUALLY;
        while got.len() < sent.len() && Instant::now() < deadline {
            let claimed = engine
                .claim(100, LONG_LEASE, Duration::from_secs(5))
                .await
                .expect("claim after the restart");
            assert_eq!(
                engine.ack(&tokens(&claimed)).await.expect("ack"),
                vec![true; claimed.len()]
            );
            for c in texts(&claimed) {
                assert!(got.insert(c.clone()), "{c} came out twice");
            }
        }
        assert_eq!(got, sent, "{scheme}");
        assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));
    }
}

/// How tests reach `server` with `scheme` (`redis`, `redis-set`, ...), over TLS (skipping
/// verification of the self-signed certificate) when `tls`.
fn reach(server: &RedisServer, scheme: &str, tls: bool) -> String {
    if tls {
        format!("{scheme}://127.0.0.1:{}/0#insecure", server.port())
    } else {
        server.url(scheme)
    }
}

/// A plain `redis` client's connection, made anew: a witness that shares nothing with engines.
async fn fresh_connection(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

/// How long Redis stays down in the restart tests: longer than an engine's own reconnection
/// attempts after its connection dropped (three, at most 0.5 s apart), so that when Redis is
/// back the engine holds a failed reconnection, not a fresh connection made in time. (Not a
/// bound on anything: on a machine slow enough to stretch those attempts past it, the tests
/// still pass, only by the easier path.)
const DOWN_FOR: Duration = Duration::from_secs(2);

/// Kills `server`, keeps it down for [`DOWN_FOR`], starts it again, and returns once a
/// connection made after that gets `PONG`: from then on Redis is back, and nothing excuses a
/// failed call of an engine.
async fn restart_and_wait(server: &mut RedisServer, tls: bool) {
    server.kill();
    tokio::time::sleep(DOWN_FOR).await;
    server.restart();
    let url = reach(server, if tls { "rediss" } else { "redis" }, tls);
    let deadline = Instant::now() + contract::EVENTUALLY;
    loop {
        let pong = async {
            let mut conn = fresh_connection(&url).await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match pong.await {
            Ok(_) => return,
            Err(e) => assert!(Instant::now() < deadline, "Redis did not come back: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Connections that sat idle while Redis restarted: the engine's next `enqueue` succeeds the
/// first time, and the entry is there once.
async fn first_enqueue_after_a_restart(mut server: RedisServer, tls: bool) {
    let schemes = if tls {
        ["rediss", "rediss-set"]
    } else {
        ["redis", "redis-set"]
    };
    for scheme in schemes {
        let engine = open(&reach(&server, scheme, tls), queue("idle-send")).await;
        engine.enqueue(&[item("before")]).await.expect("enqueue");
        restart_and_wait(&mut server, tls).await;
        engine
            .enqueue(&[item("after")])
            .await
            .expect("the first enqueue after Redis came back");
        // Nothing persists across this restart: what is there was sent after it.
        let pending = engine.pending(10).await.expect("pending");
        let payloads: Vec<&[u8]> = pending.iter().map(|e| &e.payload[..]).collect();
        assert_eq!(payloads, [&b"after"[..]], "{scheme}");
        assert_eq!(engine.counts().await.expect("counts"), counts(1, 0, 0, 0));
    }
}

/// The same for `claim` (on its script connection, then on its blocking one) and for `counts`,
/// each on an engine whose connections were used before the restart and then left idle.
async fn first_claim_and_counts_after_a_restart(mut server: RedisServer, tls: bool) {
    let url = reach(&server, if tls { "rediss" } else { "redis" }, tls);
    let options = queue("idle-claim");
    let claimer = open(&url, options.clone()).await;
    let counter = open(&url, options.clone()).await;
    claimer.enqueue(&[item("warm")]).await.expect("enqueue");
    let warm = claim_one(&claimer, LONG_LEASE).await;
    assert_eq!(claimer.ack(&[warm.token]).await.expect("ack"), [true]);
    // On an empty queue a claim also waits on the engine's connection for blocking reads.
    let none = claimer
        .claim(10, LONG_LEASE, Duration::from_millis(100))
        .await
        .expect("claim");
    assert!(none.is_empty());
    assert_eq!(counter.counts().await.expect("counts"), counts(0, 0, 0, 0));

    restart_and_wait(&mut server, tls).await;
    // Pushed behind the engines' backs, so neither talks to Redis before its first call.
    let mut conn = fresh_connection(&url).await.expect("raw connection");
    redis::cmd("RPUSH")
        .arg(format!("{{sq:{}}}:pending", options.queue))
        .arg("after")
        .query_async::<i64>(&mut conn)
        .await
        .expect("RPUSH by hand");

    let claimed = claimer
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("the first claim after Redis came back");
    assert_eq!(texts(&claimed), ["after"]);
    assert_eq!(
        counter
            .counts()
            .await
            .expect("the first counts after Redis came back"),
        counts(0, 0, 1, 0)
    );
    assert_eq!(claimer.ack(&tokens(&claimed)).await.expect("ack"), [true]);
    // The queue is empty again, so this claim blocks: the first request on that connection
    // since the restart.
    let none = claimer
        .claim(10, LONG_LEASE, Duration::from_millis(100))
        .await
        .expect("the first blocking read after Redis came back");
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_enqueue_after_a_redis_restart_succeeds() {
    first_enqueue_after_a_restart(RedisServer::start(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_claim_and_counts_after_a_redis_restart_succeed() {
    first_claim_and_counts_after_a_restart(RedisServer::start(), false).await;
}

/// An engine that never reached Redis (so no connection of it ever dropped) and whose call
/// failed: its next call, once Redis is up, succeeds the first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_enqueue_after_a_failed_one_succeeds_once_redis_is_up() {
    let mut server = RedisServer::start();
    server.kill();
    let engine = open(&server.url("redis"), queue("late")).await;
    let err = engine
        .enqueue(&[item("refused")])
        .await
        .expect_err("Redis is down");
    assert!(err.is_unavailable(), "{err:?}");
    restart_and_wait(&mut server, false).await;
    engine
        .enqueue(&[item("after")])
        .await
        .expect("the first enqueue after Redis came up");
    let pending = engine.pending(10).await.expect("pending");
    let payloads: Vec<&[u8]> = pending.iter().map(|e| &e.payload[..]).collect();
    assert_eq!(payloads, [&b"after"[..]]);
}

/// The same over TLS.
#[cfg(feature = "redis-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_calls_after_a_tls_redis_restart_succeed() {
    first_enqueue_after_a_restart(RedisServer::start_tls(), true).await;
    first_claim_and_counts_after_a_restart(RedisServer::start_tls(), true).await;
}

/// `rediss://` (built with the `redis-tls` feature): the same engine over TLS.
#[cfg(feature = "redis-tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_speaks_tls() {
    let server = RedisServer::start_tls();
    for scheme in ["rediss", "rediss-set"] {
        // The certificate is self-signed, so verification is skipped here.
        let url = format!("{scheme}://127.0.0.1:{}/0#insecure", server.port());
        let engine = open(&url, queue("tls")).await;
        engine.ping().await.expect("ping over TLS");
        engine.enqueue(&items("tls", 3)).await.expect("enqueue");
        let claimed = claim_all(&engine, 10).await;
        assert_eq!(texts(&claimed), ["tls-0", "tls-1", "tls-2"]);
        assert_eq!(engine.ack(&tokens(&claimed)).await.expect("ack"), [true; 3]);
    }
    // A plain-text client gets nowhere, and says so within a bound.
    let plain = open(&server.url("redis"), queue("tls")).await;
    let started = Instant::now();
    assert!(plain.enqueue(&items("plain", 1)).await.is_err());
    assert!(
        started.elapsed() < FAILS_WITHIN,
        "took {:?}",
        started.elapsed()
    );
}

/// Without the `redis-tls` feature, `rediss://` is refused at open with what to do.
#[cfg(not(feature = "redis-tls"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_without_the_feature_says_which_feature() {
    let err = signalqueue::engine::open("rediss://:pw@127.0.0.1:6380/0", queue("tls"))
        .await
        .expect_err("no TLS in this build");
    assert!(err.to_string().contains("`redis-tls`"), "{err}");
    assert!(!err.to_string().contains(":pw@"), "{err}");
}

/// The batched scripts answer per token: a token given twice in one ack is done once, and a
/// claim mixing entries that came back with fresh ones keeps each one's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_scripts_answer_per_token() {
    let server = RedisServer::start();
    for scheme in ["redis", "redis-set"] {
        let engine = open(&server.url(scheme), queue("batched")).await;
        engine.enqueue(&items("b", 3)).await.expect("enqueue");
        let first = claim_all(&engine, 10).await;
        assert_eq!(first.len(), 3);

        let t0 = first[0].token.clone();
        assert_eq!(
            engine.ack(&[t0.clone(), t0.clone()]).await.expect("ack"),
            [true, false],
            "{scheme}"
        );
        assert_eq!(
            engine
                .renew(&[first[1].token.clone(), t0], LONG_LEASE)
                .await
                .expect("renew"),
            [true, false]
        );

        // b-1 goes back (to the head), b-3 arrives (at the tail).
        engine
            .release(slice::from_ref(&first[1].token))
            .await
            .expect("release");
        engine.enqueue(&[item("b-3")]).await.expect("enqueue");
        let second = claim_all(&engine, 10).await;
        assert_eq!(texts(&second), ["b-1", "b-3"]);
        assert_eq!(second[0].token.key, first[1].token.key);
        assert_eq!(second[0].deliveries, 1, "a release is not a delivery");
        assert_eq!(second[1].deliveries, 1);
        let mut rest = tokens(&second);
        rest.push(first[2].token.clone());
        assert_eq!(engine.ack(&rest).await.expect("ack"), [true; 3]);
        assert_eq!(engine.counts().await.expect("counts"), counts(0, 0, 0, 0));
    }
}

/// A claim blocked on an empty queue computed how long to sleep before a delayed send existed;
/// the send wakes it (a marker in the pending list), so it takes the entry at its time rather
/// than when its blocking read would have ended. The marker is no entry: not counted, not
/// listed, and gone after the next claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_claim_wakes_for_a_delayed_send_at_its_time() {
    let server = RedisServer::start();
    let url = server.url("redis");
    let engine = open(&url, queue("delayed-wake")).await;
    let waiting = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let got = engine
                .claim(10, LONG_LEASE, Duration::from_secs(20))
                .await
                .expect("claim");
            (got, std::time::SystemTime::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let due = std::time::SystemTime::now() + Duration::from_millis(300);
    engine
        .enqueue(&[contract::delayed("later", due)])
        .await
        .expect("enqueue");
    let (got, at) = waiting.await.expect("claim task");
    assert_eq!(texts(&got), ["later"]);
    assert!(
        at + Duration::from_millis(50) >= due,
        "claimed before its time"
    );
    // Without the wake-up it would come when the blocking read ends, 1 s after it began.
    let late = at.duration_since(due).unwrap_or_default();
    assert!(
        late < Duration::from_millis(400),
        "claimed {late:?} after its time"
    );
    assert_eq!(engine.ack(&tokens(&got)).await.expect("ack"), [true]);

    let idle = open(&url, queue("delayed-marker")).await;
    let far = std::time::SystemTime::now() + Duration::from_secs(3600);
    idle.enqueue(&[contract::delayed("far", far)])
        .await
        .expect("enqueue");
    assert_eq!(idle.counts().await.expect("counts"), counts(0, 1, 0, 0));
    let listed = idle.pending(10).await.expect("pending");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].payload, b"far");
    assert!(idle
        .claim(10, LONG_LEASE, Duration::ZERO)
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(idle.counts().await.expect("counts"), counts(0, 1, 0, 0));
    assert_eq!(idle.purge_pending().await.expect("purge"), 1);
    assert_eq!(idle.counts().await.expect("counts"), counts(0, 0, 0, 0));
}

/// A tick's key lives under the queue's hash tag with a TTL of 7 days, the schedule's latest
/// tick is in `{sq:QUEUE}:ticks`, and a tick older than the latest by more than the TTL (its key
/// may have expired) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tick_keys_expire_and_ticks_older_than_their_ttl_are_refused() {
    use signalqueue::engine::from_unix_ms;
    use signalqueue::engine::ticks::TICK_TTL;

    let server = RedisServer::start();
    let options = queue("ticks");
    let name = options.queue.clone();
    let engine = open(&server.url("redis"), options).await;
    let ticks = engine.ticks().expect("redis has ticks");
    let latest_ms: u64 = 1_800_000_000_000;
    assert!(ticks
        .enqueue_tick("nightly", from_unix_ms(latest_ms), &item("latest"))
        .await
        .expect("enqueue_tick"));
    let mut conn = raw(&server).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("{{sq:{name}}}:tick:nightly:{latest_ms}"))
        .query_async(&mut conn)
        .await
        .expect("PTTL");
    let week = TICK_TTL.as_millis() as i64;
    assert!(ttl > week - 60_000 && ttl <= week, "PTTL {ttl}");
    let latest: String = redis::cmd("HGET")
        .arg(format!("{{sq:{name}}}:ticks"))
        .arg("nightly")
        .query_async(&mut conn)
        .await
        .expect("HGET");
    assert_eq!(latest, latest_ms.to_string());

    let too_old = latest_ms - TICK_TTL.as_millis() as u64 - 1;
    assert!(!ticks
        .enqueue_tick("nightly", from_unix_ms(too_old), &item("too-old"))
        .await
        .expect("enqueue_tick"));
    let old_enough = latest_ms - TICK_TTL.as_millis() as u64;
    assert!(ticks
        .enqueue_tick("nightly", from_unix_ms(old_enough), &item("catch-up"))
        .await
        .expect("enqueue_tick"));
    assert_eq!(texts(&claim_all(&engine, 10).await), ["latest", "catch-up"]);
}
