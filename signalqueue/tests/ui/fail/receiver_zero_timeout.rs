use serde::{Deserialize, Serialize};
use signalqueue::{async_signal, receiver};

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
}

#[async_signal(providing_args = [instance: Order])]
pub static FORM_SUBMIT: FormSubmit;

#[receiver(FORM_SUBMIT, timeout_ms = 0)]
async fn update_event_log(_instance: Order) {}

fn main() {}
