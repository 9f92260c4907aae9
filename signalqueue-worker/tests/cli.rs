//! The `signalqueue-worker` binary (with the example app linked in), run as a user runs it:
//! real processes, a real SQLite file in a temp directory per test.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use signalqueue::engine::Outgoing;
use signalqueue::{Codec, Envelope, Payload};
use support::Sandbox;

// The example app, linked here as in the binary, so this process's registry is the worker's.
use examples as _;

const BIN: &str = env!("CARGO_BIN_EXE_signalqueue-worker");

/// The built `send_demo` example (`cargo run -p examples --example send_demo`).
fn send_demo() -> PathBuf {
    support::example("send_demo")
}

/// The ids `send_demo` printed, in order.
fn sent_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("sent "))
        .map(|l| l.split_whitespace().nth(1).expect("an id").to_string())
        .collect()
}

fn dump(sb: &Sandbox) -> Vec<Value> {
    let out = sb.run(BIN, &["dump", "--indent", "0"]).ok();
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("dump is not JSON ({e}):\n{}", out.stdout));
    v.as_array().expect("an array").clone()
}

#[test]
fn quick_start_send_demo_then_the_worker_handles_every_signal() {
    // No configuration at all: the embedded default, `sqlite://signalqueue.db`.
    let sb = Sandbox::new(None);
    let sent = sb.run(send_demo(), &["4"]).ok();
    let ids = sent_ids(&sent.stdout);
    assert_eq!(ids.len(), 5, "{}", sent.stdout);
    assert!(sb.file("signalqueue.db").exists());

    let out = sb
        .run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    assert!(
        out.stdout
            .contains(&format!("signalqueue-worker {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("queue default: sqlite sqlite://signalqueue.db"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("admin: http://127.0.0.1:"),
        "{}",
        out.stdout
    );
    let registered = support::registered_banner();
    assert!(
        out.stdout.contains(&registered),
        "{registered}: {}",
        out.stdout
    );
    for order in 1..=4 {
        assert!(
            out.stdout
                .contains(&format!("event log: order {order} ({order}000 cents)")),
            "{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("two_args: a=7 b=x"), "{}", out.stdout);
    for id in &ids {
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(id.as_str()) && l.contains("signal ran"))
            .unwrap_or_else(|| panic!("no log line for {id}:\n{}", out.stderr));
        assert!(line.contains("failed=0"), "{line}");
        assert!(line.contains("duration="), "{line}");
    }
    assert!(dump(&sb).is_empty());
}

#[tokio::test]
async fn dump_prints_pending_signals_as_json_and_removes_nothing() {
    let sb = Sandbox::new(None);
    let ids = sent_ids(&sb.run(send_demo(), &["2"]).ok().stdout);
    let sent = sb
        .run(
            BIN,
            &[
                "send",
                "demo.two_args",
                "--json",
                r#"{"a": 3, "b": "from the shell"}"#,
                "--sender",
                "shell",
            ],
        )
        .ok();
    let shell_id = sent.stdout.trim().to_string();

    let entries = dump(&sb);
    assert_eq!(entries.len(), 4, "{entries:#?}");
    let by_id = |id: &str| {
        entries
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in dump"))
            .clone()
    };
    let first = by_id(&ids[0]);
    assert_eq!(first["signal"], "examples.form_submit");
    assert_eq!(
        first["args"],
        serde_json::json!({"instance": {"app_label": "examples", "model": "order", "pk": 1}})
    );
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["sender"], Value::Null);
    assert_eq!(first["owed"], Value::Null);
    assert!(first["enqueued_at"].as_str().unwrap().ends_with('Z'));
    let demo = by_id(&ids[2]);
    assert_eq!(demo["args"], serde_json::json!({"a": 7, "b": "x"}));
    let shell = by_id(&shell_id);
    assert_eq!(shell["sender"], "shell");
    assert_eq!(
        shell["args"],
        serde_json::json!({"a": 3, "b": "from the shell"})
    );
    assert_eq!(shell["scheduled_for"], Value::Null);

    // Indented output is the same data, and nothing was removed.
    let out = sb.run(BIN, &["dump", "--indent", "4"]).ok();
    assert!(out.stdout.contains("\n    {"), "{}", out.stdout);
    let again: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(again.as_array().unwrap(), &entries);
    assert_eq!(
        sb.engine("default").await.counts().await.unwrap().pending,
        4
    );

    // A delayed send: scheduled, with its due time in the dump.
    let later = sb
        .run(
            BIN,
            &[
                "send",
                "demo.two_args",
                "--json",
                r#"{"a": 4, "b": "later"}"#,
                "--delay",
                "1h",
            ],
        )
        .ok();
    let later_id = later.stdout.trim().to_string();
    let delayed = dump(&sb)
        .into_iter()
        .find(|e| e["id"] == later_id.as_str())
        .expect("the delayed entry is dumped");
    let due = humantime::parse_rfc3339(delayed["scheduled_for"].as_str().expect("a due time"))
        .expect("RFC 3339");
    assert!(due > std::time::SystemTime::now() + std::time::Duration::from_secs(3500));
    let counts = sb.engine("default").await.counts().await.unwrap();
    assert_eq!((counts.pending, counts.scheduled), (4, 1), "{counts:?}");
}

#[test]
fn send_validates_the_json_against_the_signal() {
    let sb = Sandbox::new(None);
    let out = sb
        .run(
            BIN,
            &[
                "send",
                "examples.form_submit",
                "--json",
                r#"{"instance": {"app_label": "examples", "model": "order", "pk": 9}}"#,
            ],
        )
        .ok();
    assert_eq!(out.stdout.trim().len(), 26, "a ULID: {}", out.stdout);

    let out = sb.run(
        BIN,
        &[
            "send",
            "examples.form_submit",
            "--json",
            r#"{"instance": {"id": "nine"}}"#,
        ],
    );
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr.contains(r#"takes {"instance": Ref<Order>}"#),
        "{}",
        out.stderr
    );

    let out = sb.run(
        BIN,
        &["send", "examples.form_submit", "--json", "{not json"],
    );
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(out.stderr.contains("not valid JSON"), "{}", out.stderr);

    let out = sb.run(BIN, &["send", "shop.nope", "--json", "{}"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr.contains("no signal named `shop.nope`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("`examples.form_submit`"),
        "{}",
        out.stderr
    );

    assert_eq!(dump(&sb).len(), 1);
}

#[test]
fn purge_removes_pending_signals_with_a_count() {
    let sb = Sandbox::new(None);
    sb.run(send_demo(), &["2"]).ok();
    let out = sb.run(BIN, &["purge", "--yes"]).ok();
    assert!(
        out.stdout
            .contains("removed 3 pending signals from queue default"),
        "{}",
        out.stdout
    );
    assert!(dump(&sb).is_empty());
    let out = sb.run(BIN, &["purge", "--dead", "--yes"]).ok();
    assert!(
        out.stdout.contains("queue default has no dead letters"),
        "{}",
        out.stdout
    );
}

#[test]
fn list_shows_signals_arguments_queues_and_receivers() {
    let sb = Sandbox::new(None);
    let out = sb.run(BIN, &["list"]).ok();
    assert!(
        out.stdout
            .contains("examples.form_submit(instance: Ref<Order>)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("demo.two_args(a: u32, b: String)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("queue: default"), "{}", out.stdout);
    assert!(
        out.stdout.contains("-> examples::update_event_log"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("retries 5 (default)"), "{}", out.stdout);
    // A periodic signal says when it ticks; the others say nothing of the kind.
    assert!(
        out.stdout.contains(
            "examples.heartbeat()\n    queue: default\n    periodic: every 1h, catch-up last\n"
        ),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("periodic:").count(), 1, "{}", out.stdout);
}

#[test]
fn schedule_lists_periodic_signals_and_their_next_ticks() {
    let sb = Sandbox::new(None);
    let out = sb.run(BIN, &["schedule"]).ok();
    let text = &out.stdout;
    assert!(
        text.contains("examples.heartbeat\n    every 1h\n"),
        "{text}"
    );
    assert!(text.contains("catch-up: last"), "{text}");
    assert!(text.contains("last tick enqueued: none yet"), "{text}");
    // Signals sent only by hand are not periodic.
    assert!(!text.contains("demo.two_args"), "{text}");
    let next: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("next: "))
        .collect();
    assert_eq!(next.len(), 3, "{text}");
    for line in &next {
        // `2026-12-01T13:00:00Z (in 37m 2s)`: on a whole hour.
        let (at, rest) = line.split_once(' ').unwrap_or_else(|| panic!("{text}"));
        assert!(at.ends_with(":00:00Z"), "{text}");
        assert!(rest.starts_with("(in ") && rest.ends_with(')'), "{text}");
    }

    let out = sb.run(BIN, &["schedule", "--json"]).ok();
    let json: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let signals = json["signals"].as_array().expect("signals");
    assert_eq!(signals.len(), 1, "{json:#}");
    let heartbeat = &signals[0];
    assert_eq!(heartbeat["name"], "examples.heartbeat");
    assert_eq!(heartbeat["every"], "1h");
    assert_eq!(heartbeat["every_ms"], 3_600_000);
    assert_eq!(heartbeat["schedule"], Value::Null);
    assert_eq!(heartbeat["timezone"], "UTC");
    assert_eq!(heartbeat["catch_up"], "last");
    // A fresh queue: no tick enqueued yet, and the engine says so (no error).
    assert_eq!(heartbeat["last_tick"], Value::Null, "{json:#}");
    assert_eq!(heartbeat["last_tick_error"], Value::Null, "{json:#}");
    let next: Vec<std::time::SystemTime> = heartbeat["next"]
        .as_array()
        .expect("next")
        .iter()
        .map(|t| humantime::parse_rfc3339(t.as_str().expect("a string")).expect("RFC 3339"))
        .collect();
    assert_eq!(next.len(), 3, "{json:#}");
    for pair in next.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]).ok(),
            Some(std::time::Duration::from_secs(3_600)),
            "{json:#}"
        );
    }
}

#[tokio::test]
async fn list_check_and_dead_list_speak_json() {
    let sb = Sandbox::new(None);
    let json = |args: &[&str]| -> Value {
        let out = sb.run(BIN, args);
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}):\n{out:?}"))
    };

    let list = json(&["list", "--json"]);
    let two = list["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .find(|s| s["name"] == "demo.two_args")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(two["queue"], "default");
    assert_eq!(
        two["args"],
        serde_json::json!([{"name": "a", "type": "u32"}, {"name": "b", "type": "String"}])
    );
    let receiver = &two["receivers"][0];
    assert!(receiver["name"].is_string(), "{list:#}");
    assert!(receiver["retries"].is_number(), "{list:#}");
    assert_eq!(two["periodic"], Value::Null, "{list:#}");
    let heartbeat = list["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .find(|s| s["name"] == "examples.heartbeat")
        .unwrap_or_else(|| panic!("{list:#}"));
    assert_eq!(
        heartbeat["periodic"],
        serde_json::json!({"schedule": null, "every": "1h", "timezone": "UTC", "catch_up": "last"}),
        "{list:#}"
    );
    assert!(list["problems"].as_array().expect("problems").is_empty());

    let check = json(&["check", "--json"]);
    assert_eq!(check["ok"], true, "{check:#}");
    assert!(check["fine"][0].is_string(), "{check:#}");
    assert!(check["warnings"].is_array() && check["problems"].is_array());

    sb.engine("default")
        .await
        .enqueue(&[Outgoing::new(
            signalqueue::EnvelopeId::new(),
            b"garbage".to_vec(),
        )])
        .await
        .unwrap();
    let failing = sb.run(BIN, &["check", "--json"]);
    assert_eq!(failing.code(), 2, "{failing:?}");
    let v: Value = serde_json::from_str(&failing.stdout).expect("JSON");
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(1), "{v:#}");

    sb.run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    let dead = json(&["dead", "list", "--json"]);
    let dead = dead.as_array().expect("an array");
    assert_eq!(dead.len(), 1, "{dead:?}");
    for field in ["key", "died_at", "reason", "error", "raw"] {
        assert!(dead[0][field].is_string(), "{field}: {:#}", dead[0]);
    }
    assert!(dead[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a signalqueue envelope"));
}

#[test]
fn another_language_enqueues_into_sqlite_as_wire_format_md_says() {
    let sb = Sandbox::new(None);
    // The file must exist first: `check` creates it and its schema.
    sb.run(BIN, &["check"]).ok();
    let conn = rusqlite::Connection::open(sb.file("signalqueue.db")).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(15))
        .unwrap();
    let envelope = br#"{"v":1,"signal":"demo.two_args","args":{"a":7,"b":"from sql"}}"#;
    conn.execute(
        "INSERT INTO entries (queue, payload, available_at, enqueued_at) VALUES ('default', ?1, 0, ?2)",
        rusqlite::params![&envelope[..], 1_764_265_200_000_i64],
    )
    .unwrap();
    drop(conn);
    let out = sb
        .run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    assert!(out.stdout.contains("two_args: a=7 b=from sql"), "{out:?}");
}

#[test]
fn an_example_prints_its_error_as_a_message_and_fails() {
    let sb = Sandbox::new(None);
    let out = sb.run_env(send_demo(), &["1"], &[("SIGNALQUEUE_URL", "kafka://x")]);
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr
            .contains("error: invalid configuration in SIGNALQUEUE_URL: unknown engine `kafka://`"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Config {"), "{}", out.stderr);
}

#[test]
fn the_demo_stops_at_start_when_its_queue_is_unreachable() {
    let sb = Sandbox::new(None);
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let out = sb.run_env(
        support::example("demo_web"),
        &["127.0.0.1:0"],
        &[("SIGNALQUEUE_URL", "redis://127.0.0.1:1/0")],
    );
    assert_ne!(out.code(), 0, "{out:?}");
    assert!(
        out.stderr
            .contains("error: queue `default` (redis://127.0.0.1:1/0) is unreachable"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("`[outbox]`"), "{}", out.stderr);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
}

#[test]
fn a_mistyped_command_is_suggested_not_read_as_an_address() {
    let sb = Sandbox::new(None);
    let out = sb.run(BIN, &["lsit"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr
            .contains("unrecognized subcommand 'lsit'; did you mean 'list'?"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("not an address"), "{}", out.stderr);
    // Nothing was started: no queue file was made.
    assert!(!sb.file("signalqueue.db").exists());
}

#[test]
fn run_blames_signalqueue_url_for_its_url_and_names_a_file_as_a_file() {
    let sb = Sandbox::new(None);
    std::fs::write(sb.file("notes.txt"), b"not a directory").unwrap();
    let out = sb.run_env(
        BIN,
        &["run", "127.0.0.1:0", "--halt-when-exhausted"],
        &[("SIGNALQUEUE_URL", "sqlite://notes.txt/q.db")],
    );
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr
            .contains("invalid configuration in SIGNALQUEUE_URL: `"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("notes.txt` is a file, not a directory"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("defaults"), "{}", out.stderr);
}

#[test]
fn check_warns_about_a_queue_no_signal_uses() {
    let sb = Sandbox::new(Some(
        "[queues.default]\nurl = \"sqlite://signalqueue.db\"\n[queues.emails]\nurl = \"sqlite://emails.db\"\n",
    ));
    // A warning, not a problem: the exit code stays 0.
    let out = sb.run(BIN, &["check"]).ok();
    let warnings: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stdout);
    assert!(
        warnings[0].contains("queue `emails` is configured in signalqueue.toml but no signal linked into this worker is sent to it"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn check_passes_then_flags_pending_signals_nobody_receives() {
    let sb = Sandbox::new(None);
    sb.run(send_demo(), &["1"]).ok();
    let out = sb.run(BIN, &["check"]).ok();
    assert!(
        out.stdout
            .contains("ok: queue default: sqlite://signalqueue.db reachable"),
        "{}",
        out.stdout
    );

    let gone = Envelope::new("shop.gone", None, Payload::Bincode(vec![1, 2, 3]));
    sb.engine("default")
        .await
        .enqueue(&[
            Outgoing::new(gone.id, gone.encode()),
            Outgoing::new(signalqueue::EnvelopeId::new(), b"garbage".to_vec()),
            Outgoing::new(
                signalqueue::EnvelopeId::new(),
                br#"{"v":1,"signal":"demo.two_args","args":{"a":"seven","b":"x"}}"#.to_vec(),
            ),
            Outgoing::new(
                signalqueue::EnvelopeId::new(),
                br#"{"v":1,"signal":"demo.two_args","args":{"a":7}}"#.to_vec(),
            ),
        ])
        .await
        .unwrap();
    let out = sb.run(BIN, &["check"]);
    assert_eq!(out.code(), 2, "{out:?}");
    let problems: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(problems.len(), 3, "{}", out.stdout);
    assert!(
        problems[1].contains(
            "2 pending `demo.two_args` signal(s) whose arguments do not decode (the worker would dead-letter them): the arguments do not match"
        ),
        "{}",
        out.stdout
    );
    assert!(
        problems[1].contains("`a: u32`, `b: String`"),
        "{}",
        out.stdout
    );
    assert!(
        problems[0]
            .contains("1 pending `shop.gone` signal(s), but no signal named `shop.gone` is linked"),
        "{}",
        out.stdout
    );
    assert!(
        problems[2].contains("1 pending entry is not a signalqueue envelope (it would be dead-lettered): not a signalqueue envelope"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn undecodable_entries_are_dead_lettered_with_their_raw_bytes_while_good_ones_run() {
    let sb = Sandbox::new(None);
    let engine = sb.engine("default").await;
    let garbage = b"\x00garbage \xff bytes".to_vec();
    // Sent an hour ago, past `unknown_grace` (15 minutes): no worker that knows it is coming.
    let mut unknown = Envelope::new("shop.gone", None, Payload::Bincode(vec![1, 2, 3]));
    unknown.enqueued_at = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let unknown = unknown.encode();
    // `examples.form_submit` takes a `Ref<Order>`; these are the bytes of a `String`: its type
    // "changed" since this was sent.
    let changed = Envelope::new(
        "examples.form_submit",
        None,
        Codec::Bincode
            .encode(&("an order id as text".to_string(),))
            .unwrap(),
    )
    .encode();
    // A producer in another language that got the shape wrong: not a change of types.
    let wrong_shape = br#"{"v":1,"signal":"demo.two_args","args":{"a":"seven","b":"x"}}"#.to_vec();
    for payload in [&garbage, &unknown, &changed, &wrong_shape] {
        engine
            .enqueue(&[Outgoing::new(
                signalqueue::EnvelopeId::new(),
                payload.clone(),
            )])
            .await
            .unwrap();
    }
    sb.run(send_demo(), &["3"]).ok();

    let out = sb
        .run(BIN, &["run", "127.0.0.1:0", "--halt-when-exhausted"])
        .ok();
    for order in 1..=3 {
        assert!(
            out.stdout.contains(&format!("event log: order {order} ")),
            "{}",
            out.stdout
        );
    }
    assert_eq!(
        out.stderr.matches("dead-lettered").count(),
        4,
        "{}",
        out.stderr
    );

    let dead = engine.dead(100).await.unwrap();
    assert_eq!(dead.len(), 4, "{dead:#?}");
    let find = |payload: &Vec<u8>| {
        dead.iter()
            .find(|d| &d.payload == payload)
            .unwrap_or_else(|| panic!("raw bytes not kept: {dead:#?}"))
    };
    assert!(
        find(&garbage)
            .reason
            .contains("malformed entry: not a signalqueue envelope"),
        "{:?}",
        find(&garbage).reason
    );
    assert!(
        find(&unknown).reason.contains("no signal named `shop.gone` is linked into the workers that claimed it within `unknown_grace` (15m) of its send; link the crate that declares it and replay"),
        "{:?}",
        find(&unknown).reason
    );
    assert!(
        find(&changed).reason.contains("argument types changed"),
        "{:?}",
        find(&changed).reason
    );
    let reason = &find(&wrong_shape).reason;
    assert!(
        reason.contains("the arguments do not match the signal's declared arguments"),
        "{reason:?}"
    );
    assert!(
        reason.contains("`demo.two_args` declares `a: u32`, `b: String`"),
        "{reason:?}"
    );
    assert!(!reason.contains("changed since it was sent"), "{reason:?}");

    let list = sb.run(BIN, &["dead", "list"]).ok();
    assert_eq!(list.stdout.lines().count(), 4, "{}", list.stdout);
    assert!(list.stdout.contains("<malformed>"), "{}", list.stdout);
    assert!(list.stdout.contains("shop.gone"), "{}", list.stdout);
    let out = sb.run(BIN, &["dead", "purge", "--yes"]).ok();
    assert!(
        out.stdout.contains("removed 4 dead letters"),
        "{}",
        out.stdout
    );
}

#[test]
fn dequeue_runs_every_pending_signal_once_and_exits() {
    let sb = Sandbox::new(None);
    sb.run(send_demo(), &["3"]).ok();
    let out = sb.run(BIN, &["dequeue"]).ok();
    assert!(
        out.stdout.contains(
            "dequeued 4 signal(s) from queue default: 4 handled, 0 to retry, 0 dead-lettered"
        ),
        "{}",
        out.stdout
    );
    // Not a terminal: one plain line per signal.
    assert!(out.stdout.contains("4/4 "), "{}", out.stdout);
    assert!(dump(&sb).is_empty());
}

#[test]
fn dequeue_on_a_terminal_keeps_receivers_output_off_its_progress_bar() {
    let sb = Sandbox::new(None);
    sb.run(send_demo(), &["400"]).ok();
    // On a pseudo-terminal, as from a shell (`script` runs the command on one and copies what
    // it shows). Each order's receiver prints a line, 20 ms apart per slot, while the bar is
    // drawn: long enough for the bar to be drawn between them many times.
    let command = format!("{BIN} dequeue");
    let out = sb
        .run_env(
            "script",
            &["-qefc", &command, "/dev/null"],
            &[("DEMO_AGGREGATION_MS", "20")],
        )
        .ok();
    let shown = out.stdout.replace("\r\n", "\n");
    assert!(
        shown.contains("dequeued 401 signal(s) from queue default: 401 handled"),
        "{shown}"
    );
    assert!(
        shown.contains("/401 examples.form_submit"),
        "the bar was never drawn, so this shows nothing: {shown}"
    );
    let lines: Vec<usize> = shown
        .match_indices("event log: order ")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(lines.len(), 400, "each receiver's line, none lost: {shown}");
    for i in lines {
        // What the terminal has on this line before the receiver's text: the bar's text if it
        // was drawn there and not cleared; cursor and erase sequences leave nothing.
        let start = shown[..i].rfind(['\n', '\r']).map_or(0, |p| p + 1);
        let before = without_escapes(&shown[start..i]);
        assert!(
            before.is_empty(),
            "a receiver's line shares the bar's: {:?}",
            &shown[start..(i + 40).min(shown.len())]
        );
    }
}

/// `s` without its ANSI escape sequences (`ESC [` ... a final letter).
fn without_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn setup_problems_exit_2_with_a_clear_message() {
    let sb = Sandbox::new(Some("[queues.default]\nurl = \"kafka://x\"\n"));
    let out = sb.run(BIN, &["run", "127.0.0.1:0"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr
            .contains("invalid configuration in signalqueue.toml"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("unknown engine `kafka://`"),
        "{}",
        out.stderr
    );

    let sb = Sandbox::new(None);
    let out = sb.run(BIN, &["run", "127.0.0.1:0", "-n", "emails"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr.contains("no queue named `emails` is configured"),
        "{}",
        out.stderr
    );

    let sb = Sandbox::new(Some(
        "[queues.default]\nurl = \"sqlite://no/such/dir/q.db\"\n",
    ));
    let out = sb.run(BIN, &["run", "127.0.0.1:0"]);
    assert_eq!(out.code(), 2, "{out:?}");
    assert!(
        out.stderr.starts_with("error: ") || out.stderr.contains("\nerror: "),
        "{}",
        out.stderr
    );
}

#[test]
fn every_command_has_help() {
    let sb = Sandbox::new(None);
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["list", "--help"],
        &["check", "--help"],
        &["dequeue", "--help"],
        &["dump", "--help"],
        &["purge", "--help"],
        &["dead", "--help"],
        &["dead", "list", "--help"],
        &["dead", "replay", "--help"],
        &["dead", "purge", "--help"],
        &["send", "--help"],
    ] {
        let out = sb.run(BIN, args).ok();
        assert!(
            out.stdout.contains("Usage: signalqueue-worker"),
            "{args:?}: {}",
            out.stdout
        );
    }
    let out = sb.run(BIN, &["frobnicate"]);
    assert_eq!(out.code(), 2, "{out:?}");
}
