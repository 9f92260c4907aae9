//! A periodic signal: no arguments, so its methods take none, and its receiver reads the tick.
use std::time::SystemTime;

use signalqueue::{async_signal, receiver, BoxError, Delivery};

/// Sweeps abandoned carts.
#[async_signal(schedule = "*/10 * * * * *")] // 6 fields: with seconds; 5 fields: minutes
pub static SWEEP_CARTS: SweepCarts;

#[receiver(SWEEP_CARTS)]
async fn sweep(delivery: &Delivery) -> Result<(), BoxError> {
    let tick: SystemTime = delivery.scheduled_for().expect("a periodic signal has a tick");
    let _ = tick;
    Ok(())
}

/// Every other key of a periodic declaration.
#[async_signal(schedule = "@daily", timezone = "Europe/Paris", catch_up = "all", name = "shop.nightly", queue = "batch")]
pub static NIGHTLY: Nightly;

#[async_signal(every = "1h 30m", catch_up = "none")]
pub static EVERY_NINETY_MINUTES: EveryNinetyMinutes;

#[async_signal(schedule = "0 9 * * MON-FRI")]
pub static WEEKDAYS: Weekdays;

async fn send_them() -> Result<(), signalqueue::Error> {
    // A periodic signal may also be sent by hand, like any other, with no arguments.
    let _ = SWEEP_CARTS.send().await?;
    let _ = NIGHTLY.send_with(signalqueue::SendOptions::new()).await?;
    let _ = SWEEP_CARTS.send_now().await;
    let _ = EVERY_NINETY_MINUTES.send_many([EveryNinetyMinutesArgs {}]).await?;
    Ok(())
}

fn main() {
    use signalqueue::Signal;
    let schedule = SweepCarts::DEF.schedule.expect("periodic");
    assert_eq!(schedule.expr, "*/10 * * * * *");
    assert_eq!(schedule.timezone, "UTC");
    assert_eq!(schedule.catch_up, signalqueue::CatchUp::Last);
    assert_eq!(Nightly::DEF.schedule.unwrap().timezone, "Europe/Paris");
    assert_eq!(
        EveryNinetyMinutes::DEF.schedule.unwrap().every,
        Some(std::time::Duration::from_secs(90 * 60))
    );
    assert!(Weekdays::DEF.args.is_empty());
    let _ = send_them;
}
