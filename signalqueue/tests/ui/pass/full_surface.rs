//! Every form of the surface compiles, including paths to signals in other modules.
use serde::{Deserialize, Serialize};
use signalqueue::{async_signal, receiver, BoxError, Delivery};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
    pub total_cents: i64,
}

pub mod signals {
    use super::*;

    /// Sent when the checkout form is submitted.
    #[async_signal(providing_args = [instance: Order])]
    pub static FORM_SUBMIT: FormSubmit;

    #[async_signal(providing_args = [a: u32, b: String], name = "demo.two_args", queue = "default")]
    pub static TWO_ARGS: TwoArgs;

    #[async_signal(providing_args = [options: std::collections::BTreeMap<String, Vec<u8>>, batch: Option<i64>])]
    pub(crate) static CLASHING_NAMES: ClashingNames;
}

#[receiver(signals::FORM_SUBMIT)]
async fn update_event_log(instance: Order) -> Result<(), BoxError> {
    let _ = instance;
    Ok(())
}

#[receiver(crate::signals::FORM_SUBMIT, sender = "shop.Order", retries = 3, name = "audit")]
async fn audit(delivery: &Delivery, instance: Order) -> Result<(), std::io::Error> {
    let _ = (delivery.attempt, instance);
    Ok(())
}

#[receiver(signals::TWO_ARGS)]
async fn on_two(a: u32, b: String) {
    let _ = (a, b);
}

#[receiver(signals::TWO_ARGS)]
fn on_two_blocking(delivery: &signalqueue::Delivery, a: u32, b: String) -> Result<(), String> {
    let _ = (delivery, a, b);
    Ok(())
}

#[receiver(signals::CLASHING_NAMES)]
async fn clashing(options: std::collections::BTreeMap<String, Vec<u8>>, batch: Option<i64>) {
    let _ = (options, batch);
}

async fn sends() -> Result<(), signalqueue::Error> {
    let order = Order { id: 1, total_cents: 2 };
    let _ = signals::FORM_SUBMIT.send(order.clone()).await?;
    let _ = signals::FORM_SUBMIT
        .send_with(signalqueue::SendOptions::new().sender("shop.Order"), order.clone())
        .await?;
    let report = signals::FORM_SUBMIT.send_now(order.clone()).await;
    let _ = report.is_success();
    let _ = signals::TWO_ARGS.send(7, "x".into()).await?;
    let _ids = signals::TWO_ARGS
        .send_many(vec![signals::TwoArgsArgs { a: 1, b: "y".into() }])
        .await?;
    let _ = signals::CLASHING_NAMES.send_with(signalqueue::SendOptions::new(), Default::default(), None).await?;
    assert_eq!(signals::TwoArgs::NAME, "demo.two_args");
    // Receivers stay ordinary functions.
    update_event_log(order).await.unwrap();
    Ok(())
}

fn main() {
    let _ = sends;
}
