//! Arguments by reference and through custom mappings, every form.
use signalqueue::{async_signal, receiver, BoxError, Mapping, Model, Ref, SendOptions, Stores};

pub struct Db;

signalqueue::provide_store!(Db, || async { Ok::<_, std::io::Error>(Db) });

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
    async fn load(key: &i64, stores: &Stores) -> Result<Option<Self>, BoxError> {
        let _db = stores.get::<Db>().await?;
        Ok(Some(Order { id: *key }))
    }
}

#[derive(Clone)]
pub struct Celsius(pub f64);

pub mod mappings {
    pub struct Tenths;
}

impl Mapping<Celsius> for mappings::Tenths {
    type Wire = i64;
    fn to_wire(value: &Celsius) -> i64 {
        (value.0 * 10.0) as i64
    }
    fn from_wire(wire: i64) -> Result<Celsius, BoxError> {
        Ok(Celsius(wire as f64 / 10.0))
    }
}

#[async_signal(providing_args = [instance: Ref<Order>])]
pub static ORDER_PLACED: OrderPlaced;

#[async_signal(
    providing_args = [instance: signalqueue::Ref<Order>, other: Ref<Order>, reading: Celsius with mappings::Tenths],
    on_missing = "skip",
)]
pub static ORDER_PAID: OrderPaid;

#[async_signal(providing_args = [instance: Ref<Order>], on_missing = "deliver")]
pub static ORDER_SHIPPED: OrderShipped;

#[receiver(ORDER_PLACED, sender = "shop.order")]
async fn on_placed(instance: Ref<Order>) {
    let _ = instance.get().map(|o| o.id);
}

#[receiver(ORDER_PAID)]
fn on_paid(instance: Ref<Order>, other: Ref<Order>, reading: Celsius) {
    let _ = (instance.is_missing(), other.into_inner(), reading.0);
}

async fn sends(order: &Order) -> Result<(), signalqueue::Error> {
    let _ = ORDER_PLACED.send(Ref::new(order)).await?;
    let _ = ORDER_PLACED
        .send_with(SendOptions::new().sender_model::<Order>(), order.into())
        .await?;
    let _ = ORDER_PAID
        .send(Ref::from_key(1), Ref::new(order), Celsius(1.0))
        .await?;
    let report = ORDER_SHIPPED.send_now(Ref::new(order)).await;
    let _ = report.skipped.is_empty();
    Ok(())
}

fn main() {
    let _ = sends;
}
