//! Receivers of the shop's signals, in a crate of their own. Each records what it saw in a
//! process-wide journal (and, when `SQ_TEST_JOURNAL` names a file, appends a line there) so
//! tests, in-process or through a worker binary, can check what ran.

use std::io::Write;
use std::sync::Mutex;

use shop_signals::{Order, EMAIL, FLAKY, FORM_SUBMIT, SLOW, TWO_ARGS, UNNAMED};
use signalqueue::{receiver, BoxError, Delivery};

static JOURNAL: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Records one line.
pub fn record(line: String) {
    if let Ok(path) = std::env::var("SQ_TEST_JOURNAL") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // One write per line: with O_APPEND it lands whole even when receivers of several
            // tasks or processes record at once (`writeln!` may split it into two writes).
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
    JOURNAL.lock().unwrap_or_else(|e| e.into_inner()).push(line);
}

/// The lines recorded in this process so far.
pub fn journal() -> Vec<String> {
    JOURNAL.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[receiver(FORM_SUBMIT)]
async fn update_event_log(instance: Order) -> Result<(), BoxError> {
    record(format!("update_event_log {}", instance.id));
    Ok(())
}

/// Only for orders sent by `shop.Order`.
#[receiver(FORM_SUBMIT, sender = "shop.Order")]
async fn only_from_orders(delivery: &Delivery, instance: Order) {
    record(format!(
        "only_from_orders {} {}",
        instance.id,
        delivery.sender.as_deref().unwrap_or("-")
    ));
}

#[receiver(TWO_ARGS)]
fn on_two_blocking(a: u32, b: String) -> std::io::Result<()> {
    record(format!("on_two_blocking {a} {b}"));
    Ok(())
}

#[receiver(UNNAMED)]
async fn on_unnamed(n: u64) {
    record(format!("on_unnamed {n}"));
}

#[receiver(EMAIL)]
async fn send_email(to: String) {
    record(format!("send_email {to}"));
}

/// Fails, panics or succeeds as `mode` says: `fail`, `panic`, `fail-once` (fails on the
/// first attempt only), `ok`, `sleep-MS` (takes MS milliseconds, then records
/// `flaky KEY slept` and succeeds: a slow receiver for shutdown and crash tests), or
/// `until-PATH` (waits until the file PATH exists, then records `flaky KEY released`: a slow
/// receiver whose end the test decides, without guessing durations), or `stamp` (records
/// `flaky KEY stamped NOW_MS due DUE_MS`, the due time `-` for a signal not delayed: when a
/// delayed send ran, against when it was due).
#[receiver(FLAKY, retries = 2)]
async fn flaky(delivery: &Delivery, key: String, mode: String) -> Result<(), BoxError> {
    record(format!("flaky {key} attempt {}", delivery.attempt));
    match mode.as_str() {
        "fail" => Err(format!("flaky {key} failed as asked").into()),
        "panic" => panic!("flaky {key} panicked as asked"),
        "fail-once" if delivery.attempt == 1 => Err("failing the first attempt".into()),
        m if m.starts_with("sleep-") => {
            let ms: u64 = m["sleep-".len()..].parse()?;
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            record(format!("flaky {key} slept"));
            Ok(())
        }
        m if m.starts_with("until-") => {
            let path = std::path::Path::new(&m["until-".len()..]);
            while !path.exists() {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            record(format!("flaky {key} released"));
            Ok(())
        }
        "stamp" => {
            let ms = |t: std::time::SystemTime| signalqueue::engine::unix_ms(t).to_string();
            let due = delivery.scheduled_for().map_or("-".to_string(), ms);
            record(format!(
                "flaky {key} stamped {} due {due}",
                ms(std::time::SystemTime::now())
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Sleeps `ms`, with a limit of 300 ms: longer runs are abandoned and count as failures.
#[receiver(SLOW, timeout_ms = 300, retries = 0)]
async fn slow_with_limit(key: String, ms: u64) {
    record(format!("slow_with_limit {key} started"));
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    record(format!("slow_with_limit {key} finished"));
}
