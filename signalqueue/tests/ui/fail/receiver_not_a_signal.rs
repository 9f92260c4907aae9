use serde::{Deserialize, Serialize};
use signalqueue::receiver;

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
}

pub const FORM_SUBMIT: u32 = 7;

#[receiver(FORM_SUBMIT)]
async fn update_event_log(_instance: Order) {}

fn main() {}
