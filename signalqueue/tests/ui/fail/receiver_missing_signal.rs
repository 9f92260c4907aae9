use serde::{Deserialize, Serialize};
use signalqueue::receiver;

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
}

#[receiver]
async fn update_event_log(_instance: Order) {}

fn main() {}
