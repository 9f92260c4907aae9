//! The demo on PostgreSQL, as the README runs it: `DEMO_DB=postgres://...` keeps the orders in
//! PostgreSQL and each checkout saves the order and sends `FORM_SUBMIT` in one transaction.
//! With the queue on a Redis that is down, the checkout still succeeds (the signal waits in the
//! outbox of the orders' database, committed with the order), and once Redis is back a worker
//! relays it and the event log gets its line. Before, this answered "order #N is saved, but
//! its signal was not queued".
//!
//! Needs the PostgreSQL on 127.0.0.1:5432 (skipped with a note without it, unless
//! `SIGNALQUEUE_REQUIRE_POSTGRES=1`) and `redis-server`. The demo's tables and the outbox live
//! in a schema of this test's own, dropped at the end.

#[path = "../../signalqueue/tests/support/redis_server.rs"]
mod redis_server;
mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use support::pg_schema::Schema;
use support::{Sandbox, DEADLINE};

const WORKER: &str = env!("CARGO_BIN_EXE_signalqueue-worker");
const SERVER: &str = support::POSTGRES;

/// One HTTP/1.0 request; the status line and the whole response.
fn http(base: &str, method: &str, path: &str, form: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to demo_web");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_with_redis_down_is_saved_with_its_signal_and_handled_once_redis_is_back() {
    let Some(schema) = Schema::create("sq_demo").await else {
        return;
    };
    // A Redis that is down when the order is placed.
    let mut redis = RedisServer::start();
    let redis_url = redis.url("redis");
    redis.kill();

    let sb = Sandbox::new(None);
    let demo_db = format!("{SERVER}?options=-csearch_path%3D{}", schema.0);
    let outbox = format!("{SERVER}?schema={}", schema.0);
    let env = [
        ("DEMO_DB", demo_db.as_str()),
        ("SIGNALQUEUE_URL", redis_url.as_str()),
        ("SIGNALQUEUE_OUTBOX_URL", outbox.as_str()),
        ("DEMO_AGGREGATION_MS", "0"),
    ];
    let mut web_cmd = sb.command(support::example("demo_web"), &["127.0.0.1:0"]);
    web_cmd.envs(env);
    let web = support::Running::spawn(web_cmd);
    web.wait_stderr("demo_web: listening on http://");
    let base = web
        .stderr_so_far()
        .lines()
        .find_map(|l| l.strip_prefix("demo_web: listening on "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the address")
        .trim_end_matches('/')
        .to_string();

    let answer = http(
        &base,
        "POST",
        "/orders",
        "customer=Ada&item=Widget&quantity=2",
    );
    let status = answer.lines().next().unwrap_or_default();
    assert!(
        status.contains(" 303 "),
        "the checkout answers at once: {answer}"
    );
    assert!(answer.contains("/orders?placed=1"), "{answer}");
    assert_eq!(
        schema
            .query_count("SELECT count(*) FROM SCHEMA.demo_orders")
            .await,
        1
    );
    assert_eq!(
        schema
            .query_count("SELECT count(*) FROM SCHEMA.outbox")
            .await,
        1,
        "the signal waits in the outbox, committed with the order"
    );

    // Redis is back: a worker relays the signal and the event log gets its line.
    redis.restart();
    let mut worker_cmd = sb.command(WORKER, &["run", "127.0.0.1:0", "--halt-when-exhausted"]);
    worker_cmd.envs(env);
    let out = support::Running::spawn(worker_cmd).wait().ok();
    assert!(
        out.stdout.contains("event log: order 1 (2500 cents)"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(
        schema
            .query_count("SELECT count(*) FROM SCHEMA.outbox")
            .await,
        0
    );
    let start = Instant::now();
    loop {
        let events = http(&base, "GET", "/events.json", "");
        if events.contains("order #1 by Ada") {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "{events}");
        std::thread::sleep(Duration::from_millis(100));
    }
    web.signal("INT");
    let _ = web.wait();
    drop(schema);
}
