use serde::{Deserialize, Serialize};
use signalqueue::{async_signal, receiver};

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
}

#[async_signal(providing_args = [instance: Order])]
pub static FORM_SUBMIT: FormSubmit;

pub struct Log;

impl Log {
    #[receiver(FORM_SUBMIT)]
    async fn update_event_log(&self, _instance: Order) {}
}

fn main() {}
