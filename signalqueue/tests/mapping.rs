//! Arguments by reference and through custom mappings, in process: the resolve step that
//! `send_now` and the worker share (`dispatch::prepare`), with a store declared at link time.
//! The same against PostgreSQL and through a real worker binary is in `tests/tests/mappings.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use signalqueue::__private::{prepare, PrepareError, Prepared};
use signalqueue::{
    async_signal, receiver, BoxError, Codec, Mapping, Model, Outcome, Ref, SendOptions, Sender,
    Signal, Stores,
};

/// The app's store: rows by key.
#[derive(Default)]
struct Shop {
    rows: Mutex<HashMap<i64, Order>>,
}

signalqueue::provide_store!(Shop, || async { Ok::<_, std::io::Error>(Shop::default()) });

#[derive(Clone, Debug, PartialEq)]
struct Order {
    id: i64,
    total_cents: i64,
}

/// Keys with a special meaning to the loader, for the failure cases.
const STORE_DOWN: i64 = -1;
const LOADER_PANICS: i64 = -2;

impl Model for Order {
    const APP_LABEL: &'static str = "shop";
    const MODEL_NAME: &'static str = "order";
    type Key = i64;

    fn key(&self) -> i64 {
        self.id
    }

    async fn load(key: &i64, stores: &Stores) -> Result<Option<Self>, BoxError> {
        let shop = stores.get::<Shop>().await?;
        match *key {
            STORE_DOWN => Err("the store is down".into()),
            LOADER_PANICS => panic!("the loader fell over"),
            _ => Ok(shop.rows.lock().unwrap().get(key).cloned()),
        }
    }
}

async fn save(order: Order) {
    let shop = Stores::global().get::<Shop>().await.unwrap();
    shop.rows.lock().unwrap().insert(order.id, order);
}

async fn delete(id: i64) {
    let shop = Stores::global().get::<Shop>().await.unwrap();
    shop.rows.lock().unwrap().remove(&id);
}

/// What the receivers saw, by order key (tests run in parallel, each with its own keys).
static SEEN: Mutex<Vec<(i64, Option<i64>, &'static str)>> = Mutex::new(Vec::new());

fn seen(key: i64) -> Vec<(Option<i64>, &'static str)> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|(k, _, _)| *k == key)
        .map(|(_, total, who)| (*total, *who))
        .collect()
}

#[async_signal(providing_args = [instance: Ref<Order>, note: String], name = "test.order_placed")]
static ORDER_PLACED: OrderPlaced;

#[async_signal(providing_args = [instance: signalqueue::Ref<Order>], name = "test.order_paid", on_missing = "skip")]
static ORDER_PAID: OrderPaid;

#[receiver(ORDER_PLACED)]
async fn on_placed(instance: Ref<Order>, note: String) {
    assert!(instance.is_loaded(), "{instance:?}");
    assert_eq!(note, "n");
    SEEN.lock().unwrap().push((
        *instance.key(),
        instance.get().map(|o| o.total_cents),
        "placed",
    ));
}

#[receiver(ORDER_PLACED, sender = "shop.order")]
fn on_placed_by_an_order(instance: Ref<Order>, _note: String) {
    SEEN.lock().unwrap().push((
        *instance.key(),
        instance.row().map(|o| o.total_cents),
        "placed by shop.order",
    ));
}

#[receiver(ORDER_PAID)]
async fn on_paid(instance: Ref<Order>) {
    let key = *instance.key();
    let total = instance.into_inner().map(|o| o.total_cents);
    SEEN.lock().unwrap().push((key, total, "paid"));
}

#[tokio::test]
async fn receivers_see_the_row_as_it_is_when_they_run() {
    let order = Order {
        id: 10,
        total_cents: 100,
    };
    save(order.clone()).await;
    let reference = Ref::new(&order);
    save(Order {
        id: 10,
        total_cents: 250,
    })
    .await;
    let report = ORDER_PLACED.send_now(reference, "n".into()).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(seen(10), [(Some(250), "placed")]);
}

#[tokio::test]
async fn a_deleted_row_is_delivered_as_none_by_default() {
    save(Order {
        id: 20,
        total_cents: 1,
    })
    .await;
    delete(20).await;
    let report = ORDER_PLACED.send_now(Ref::from_key(20), "n".into()).await;
    assert!(report.is_success(), "{report:?}");
    assert!(report.skipped.is_empty());
    assert_eq!(seen(20), [(None, "placed")]);
}

#[tokio::test]
async fn on_missing_skip_runs_no_receiver_and_says_which_row() {
    let report = ORDER_PAID.send_now(Ref::from_key(30)).await;
    assert!(report.outcomes.is_empty(), "{report:?}");
    assert_eq!(report.skipped.len(), 1);
    let missing = &report.skipped[0];
    assert_eq!(
        (missing.arg, missing.model.as_str(), missing.pk.as_str()),
        ("instance", "shop.order", "30")
    );
    assert_eq!(
        missing.to_string(),
        "`instance` (shop.order with pk 30) no longer exists"
    );
    assert!(seen(30).is_empty());

    // The same signal with its row present runs.
    save(Order {
        id: 31,
        total_cents: 7,
    })
    .await;
    let report = ORDER_PAID.send_now(Ref::from_key(31)).await;
    assert!(
        report.is_success() && report.skipped.is_empty(),
        "{report:?}"
    );
    assert_eq!(seen(31), [(Some(7), "paid")]);
}

#[tokio::test]
async fn a_failed_or_panicking_loader_fails_every_receiver_without_running_them() {
    for (key, expected) in [
        (STORE_DOWN, "the store is down"),
        (LOADER_PANICS, "the loader panicked: the loader fell over"),
    ] {
        let report = ORDER_PAID.send_now(Ref::from_key(key)).await;
        assert_eq!(report.outcomes.len(), 1, "{report:?}");
        let Outcome::Failed(e) = &report.outcomes[0].outcome else {
            panic!("expected a failure: {report:?}")
        };
        let e = e.to_string();
        assert!(e.contains("loading the signal's references failed"), "{e}");
        assert!(e.contains(expected), "{e}");
        assert!(e.contains("`instance` (shop.order"), "{e}");
        assert!(seen(key).is_empty());
    }
}

#[tokio::test]
async fn prepare_decodes_and_loads_in_both_codecs() {
    save(Order {
        id: 40,
        total_cents: 4,
    })
    .await;
    let def = <OrderPlaced as Signal>::DEF;
    for codec in [Codec::Bincode, Codec::Json] {
        let payload = codec
            .encode(&OrderPlacedArgs {
                instance: Ref::from_key(40),
                note: "n".into(),
            })
            .unwrap();
        let Prepared::Run(args) = prepare(def, &payload).await.unwrap() else {
            panic!("a present row is delivered")
        };
        let args = args.downcast::<OrderPlacedArgs>().unwrap();
        assert_eq!(
            args.instance.get(),
            Some(&Order {
                id: 40,
                total_cents: 4
            })
        );
    }
    let paid = <OrderPaid as Signal>::DEF;
    let payload = Codec::Json
        .encode(&OrderPaidArgs {
            instance: Ref::from_key(41),
        })
        .unwrap();
    assert!(matches!(
        prepare(paid, &payload).await.unwrap(),
        Prepared::Skip(m) if m.len() == 1
    ));
    let err = prepare(
        paid,
        &signalqueue::Payload::Json(serde_json::json!({"x": 1})),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PrepareError::Decode(_)), "{err}");
}

#[test]
fn a_reference_travels_as_app_label_model_and_key_only() {
    let reference = Ref::<Order>::from_key(5);
    let json = serde_json::to_value(&reference).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"app_label": "shop", "model": "order", "pk": 5})
    );
    let back: Ref<Order> = serde_json::from_value(json).unwrap();
    assert_eq!(*back.key(), 5);
    assert!(!back.is_loaded() && back.get().is_none());

    let bytes = Codec::Bincode.encode(&reference).unwrap();
    let back: Ref<Order> = signalqueue::codec::decode(&bytes).unwrap();
    assert_eq!(*back.key(), 5);

    let err = serde_json::from_value::<Ref<Order>>(
        serde_json::json!({"app_label": "shop", "model": "customer", "pk": 5}),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("a reference to `shop.customer` where `shop.order` was expected"),
        "{err}"
    );
}

#[tokio::test]
async fn a_loaded_reference_shares_its_row_and_serializes_without_it() {
    let stores = Stores::new();
    let shop = Shop::default();
    shop.rows.lock().unwrap().insert(
        6,
        Order {
            id: 6,
            total_cents: 60,
        },
    );
    stores.insert(shop);
    let mut reference = Ref::<Order>::from_key(6);
    reference.load(&stores).await.unwrap();
    let copy = reference.clone();
    assert!(Arc::ptr_eq(&reference.row().unwrap(), &copy.row().unwrap()));
    assert_eq!(format!("{copy:?}"), "Ref<shop.order>(6, loaded)");
    assert_eq!(
        serde_json::to_value(&copy).unwrap(),
        serde_json::json!({"app_label": "shop", "model": "order", "pk": 6})
    );
    let mut gone = Ref::<Order>::from_key(7);
    gone.load(&stores).await.unwrap();
    assert!(gone.is_loaded() && gone.is_missing() && gone.get().is_none());
}

#[tokio::test]
async fn a_model_as_sender_is_app_label_dot_model() {
    assert_eq!(Sender::of::<Order>().as_str(), "shop.order");
    save(Order {
        id: 50,
        total_cents: 5,
    })
    .await;
    let report = ORDER_PLACED
        .send_now_with(
            SendOptions::new().sender_model::<Order>(),
            Ref::from_key(50),
            "n".into(),
        )
        .await;
    assert!(report.is_success(), "{report:?}");
    let mut who: Vec<_> = seen(50).into_iter().map(|(_, w)| w).collect();
    who.sort_unstable();
    assert_eq!(who, ["placed", "placed by shop.order"]);
}

/// Stands in for a foreign type: no serde.
#[derive(Clone, Debug, PartialEq)]
struct Celsius(f64);

/// Sends `Celsius` as tenths of a degree.
struct Tenths;

impl Mapping<Celsius> for Tenths {
    type Wire = i64;

    fn to_wire(value: &Celsius) -> i64 {
        (value.0 * 10.0).round() as i64
    }

    fn from_wire(wire: i64) -> Result<Celsius, BoxError> {
        if wire < -2732 {
            return Err(format!("{wire} tenths is below absolute zero").into());
        }
        Ok(Celsius(wire as f64 / 10.0))
    }
}

#[async_signal(providing_args = [reading: Celsius with Tenths, sensor: String], name = "test.reading")]
static READING: Reading;

#[receiver(READING)]
async fn on_reading(reading: Celsius, sensor: String) {
    let _ = (reading, sensor);
}

#[test]
fn a_custom_mapping_round_trips_through_both_codecs() {
    let args = ReadingArgs {
        reading: Celsius(21.5),
        sensor: "hall".into(),
    };
    for codec in [Codec::Bincode, Codec::Json] {
        let payload = codec.encode(&args).unwrap();
        let back: ReadingArgs = signalqueue::codec::decode(&payload).unwrap();
        assert_eq!((back.reading, back.sensor), (Celsius(21.5), "hall".into()));
        // What `dump` and the admin page show: the wire form.
        let json = (<Reading as Signal>::DEF.to_json)(&payload).unwrap();
        assert_eq!(json, serde_json::json!({"reading": 215, "sensor": "hall"}));
    }
    let err = (<Reading as Signal>::DEF.from_json)(
        serde_json::json!({"reading": -5000, "sensor": "x"}),
        Codec::Bincode,
    )
    .unwrap_err();
    assert!(err.0.contains("below absolute zero"), "{err}");
}
