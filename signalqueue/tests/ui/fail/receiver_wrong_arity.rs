use serde::{Deserialize, Serialize};
use signalqueue::{async_signal, receiver};

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
}

#[async_signal(providing_args = [a: u32, b: String])]
pub static TWO_ARGS: TwoArgs;

#[receiver(TWO_ARGS)]
async fn on_two(_a: u32) {}

fn main() {}
