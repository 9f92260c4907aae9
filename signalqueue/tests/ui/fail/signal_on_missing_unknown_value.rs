use signalqueue::{async_signal, BoxError, Model, Ref, Stores};

pub struct Order {
    pub id: i64,
}

impl Model for Order {
    const APP_LABEL: &'static str = "shop";
    const MODEL_NAME: &'static str = "order";
    type Key = i64;
    fn key(&self) -> i64 {
        self.id
    }
    async fn load(key: &i64, _stores: &Stores) -> Result<Option<Self>, BoxError> {
        Ok(Some(Order { id: *key }))
    }
}

#[async_signal(providing_args = [instance: Ref<Order>], on_missing = "drop")]
pub static ORDER_PAID: OrderPaid;

fn main() {}
