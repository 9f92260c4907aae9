use serde::{Deserialize, Serialize};
use signalqueue::async_signal;

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: i64,
}

#[async_signal(name = "shop.form_submit")]
pub static FORM_SUBMIT: FormSubmit;

fn main() {}
