//! The [`Model`] trait: a type stored in the app's own database, sent by reference.

use std::fmt::Debug;
use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::mapping::Stores;
use crate::BoxError;

/// A row type of the app's own store, which signals can carry by reference as [`Ref<Self>`].
///
/// The queue then holds only `{app_label, model, pk}`; the worker calls [`Model::load`] just
/// before the receivers run, so they see the row as it is then (the original's
/// `ModelIDMapper`). `APP_LABEL` and `MODEL_NAME` name the type on the wire, as Django's
/// `app_label` and lowercased model name did; keep them stable once signals are queued.
///
/// ```
/// use std::sync::Arc;
/// use signalqueue::{BoxError, Model, Stores};
///
/// /// The app's store: here a map behind a lock; in an app, a database pool.
/// #[derive(Default)]
/// pub struct Db(std::sync::Mutex<std::collections::HashMap<i64, Order>>);
///
/// #[derive(Clone, Debug)]
/// pub struct Order { pub id: i64, pub total_cents: i64 }
///
/// impl Model for Order {
///     const APP_LABEL: &'static str = "shop";
///     const MODEL_NAME: &'static str = "order";
///     type Key = i64;
///
///     fn key(&self) -> i64 {
///         self.id
///     }
///
///     async fn load(key: &i64, stores: &Stores) -> Result<Option<Self>, BoxError> {
///         let db: Arc<Db> = stores.get::<Db>().await?;
///         let rows = db.0.lock().unwrap();
///         Ok(rows.get(key).cloned())
///     }
/// }
/// ```
///
/// [`Ref<Self>`]: crate::Ref
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `signalqueue::Model`, so it cannot be sent by reference",
    label = "`Ref<...>` needs a type that implements `Model`",
    note = "implement `signalqueue::Model` for `{Self}` (app label, model name, key, and how to load a row by key), or send it by value without `Ref<...>`"
)]
pub trait Model: Send + Sync + Sized + 'static {
    /// The app the type belongs to (`"shop"`): the first half of its wire name and of its
    /// sender label (`shop.order`).
    const APP_LABEL: &'static str;
    /// The type's name on the wire, lowercase by convention (`"order"`).
    const MODEL_NAME: &'static str;
    /// The primary key: what the queue carries.
    type Key: Serialize + DeserializeOwned + Clone + Send + Sync + Debug + 'static;

    /// This row's key.
    fn key(&self) -> Self::Key;

    /// Loads the row with `key` from the app's store, reached through `stores`: `Ok(None)` when
    /// there is no such row (it was deleted), `Err` when the store failed (the worker retries
    /// the signal with backoff, then dead-letters it with the error).
    fn load(
        key: &Self::Key,
        stores: &Stores,
    ) -> impl Future<Output = Result<Option<Self>, BoxError>> + Send;
}
