//! [`Ref<M>`]: a model argument sent by reference and loaded again before receivers run.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use serde::de::{self, DeserializeOwned};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::dispatch::panic_message;

use crate::mapping::{Model, Stores};
use crate::signal::ErasedArgs;
use crate::BoxError;

/// A row of model `M`, sent by reference: the queue carries `{app_label, model, pk}` only,
/// and the row is loaded (with [`Model::load`]) just before the receivers run.
///
/// Declare the argument as `Ref<Order>`, send `Ref::new(&order)` (or `(&order).into()`), and
/// read the row in the receiver with [`Ref::get`]:
///
/// ```
/// # use signalqueue::{BoxError, Model, Stores};
/// # #[derive(Debug)] pub struct Order { pub id: i64 }
/// # impl Model for Order {
/// #     const APP_LABEL: &'static str = "shop";
/// #     const MODEL_NAME: &'static str = "order";
/// #     type Key = i64;
/// #     fn key(&self) -> i64 { self.id }
/// #     async fn load(key: &i64, _: &Stores) -> Result<Option<Self>, BoxError> { Ok(Some(Order { id: *key })) }
/// # }
/// use signalqueue::{async_signal, receiver, Ref};
///
/// #[async_signal(providing_args = [instance: Ref<Order>])]
/// pub static ORDER_PAID: OrderPaid;
///
/// #[receiver(ORDER_PAID)]
/// async fn ship(instance: Ref<Order>) {
///     match instance.get() {
///         Some(order) => println!("shipping order {}", order.id),
///         None => println!("order {} was deleted before we got to it", instance.key()),
///     }
/// }
///
/// # async fn send(order: &Order) -> Result<(), signalqueue::Error> {
/// ORDER_PAID.send(Ref::new(order)).await?;
/// # Ok(()) }
/// ```
///
/// The loaded row is never serialized, and cloning a `Ref` shares it (it is held in an
/// [`Arc`]), so `M` need not be `Clone`.
pub struct Ref<M: Model> {
    key: M::Key,
    row: Row<M>,
}

/// Whether the row was loaded, and what was found.
enum Row<M> {
    NotLoaded,
    Found(Arc<M>),
    Missing,
}

impl<M: Model> Ref<M> {
    /// A reference to `row` (only its key is kept).
    pub fn new(row: &M) -> Self {
        Self::from_key(row.key())
    }

    /// A reference to the row with `key`.
    pub fn from_key(key: M::Key) -> Self {
        Ref {
            key,
            row: Row::NotLoaded,
        }
    }

    /// The row's key.
    pub fn key(&self) -> &M::Key {
        &self.key
    }

    /// The row as loaded just before the receivers ran; `None` when it no longer exists (or
    /// before it is loaded: see [`Ref::is_loaded`]).
    pub fn get(&self) -> Option<&M> {
        match &self.row {
            Row::Found(row) => Some(row),
            Row::NotLoaded | Row::Missing => None,
        }
    }

    /// The loaded row, shared; `None` as for [`Ref::get`].
    pub fn row(&self) -> Option<Arc<M>> {
        match &self.row {
            Row::Found(row) => Some(row.clone()),
            Row::NotLoaded | Row::Missing => None,
        }
    }

    /// The loaded row, shared, consuming the reference; `None` as for [`Ref::get`].
    pub fn into_inner(self) -> Option<Arc<M>> {
        match self.row {
            Row::Found(row) => Some(row),
            Row::NotLoaded | Row::Missing => None,
        }
    }

    /// Whether a load was attempted. Always true in a receiver: the worker (and `send_now`)
    /// load every `Ref` argument before receivers run.
    pub fn is_loaded(&self) -> bool {
        !matches!(self.row, Row::NotLoaded)
    }

    /// Whether the row was looked for and not found (it was deleted after the send).
    pub fn is_missing(&self) -> bool {
        matches!(self.row, Row::Missing)
    }

    /// Loads (or reloads) the row from `stores`. Receivers need not call this: the worker and
    /// `send_now` do it for every `Ref` argument before receivers run.
    pub async fn load(&mut self, stores: &Stores) -> Result<(), BoxError> {
        self.row = match M::load(&self.key, stores).await? {
            Some(row) => Row::Found(Arc::new(row)),
            None => Row::Missing,
        };
        Ok(())
    }

    /// `app_label.model`, as on the wire and in sender labels.
    fn label() -> String {
        format!("{}.{}", M::APP_LABEL, M::MODEL_NAME)
    }
}

impl<M: Model> From<&M> for Ref<M> {
    fn from(row: &M) -> Self {
        Ref::new(row)
    }
}

// Not derived: the derive would require `M: Clone`, and the row is shared, not copied.
impl<M: Model> Clone for Ref<M> {
    fn clone(&self) -> Self {
        Ref {
            key: self.key.clone(),
            row: match &self.row {
                Row::NotLoaded => Row::NotLoaded,
                Row::Found(row) => Row::Found(row.clone()),
                Row::Missing => Row::Missing,
            },
        }
    }
}

// Not derived: `M` need not be `Debug`; the key and the load state say what matters.
impl<M: Model> fmt::Debug for Ref<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.row {
            Row::NotLoaded => "not loaded",
            Row::Found(_) => "loaded",
            Row::Missing => "missing",
        };
        write!(f, "Ref<{}>({:?}, {state})", Self::label(), self.key)
    }
}

impl<M: Model> Serialize for Ref<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Ref", 3)?;
        s.serialize_field("app_label", M::APP_LABEL)?;
        s.serialize_field("model", M::MODEL_NAME)?;
        s.serialize_field("pk", &self.key)?;
        s.end()
    }
}

/// The wire form, as read back.
#[derive(Deserialize)]
#[serde(rename = "Ref", bound = "K: DeserializeOwned")]
struct Wire<K> {
    app_label: String,
    model: String,
    pk: K,
}

impl<'de, M: Model> Deserialize<'de> for Ref<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::<M::Key>::deserialize(deserializer)?;
        if wire.app_label != M::APP_LABEL || wire.model != M::MODEL_NAME {
            return Err(de::Error::custom(format_args!(
                "a reference to `{}.{}` where `{}` was expected; the argument's model changed since the signal was sent, or its sender wrote the wrong `app_label`/`model`",
                wire.app_label,
                wire.model,
                Self::label()
            )));
        }
        Ok(Ref::from_key(wire.pk))
    }
}

/// What to do with a signal whose referenced row no longer exists when it is handled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnMissing {
    /// Run the receivers anyway; the [`Ref`] they get has `get() == None` (the default).
    #[default]
    Deliver,
    /// Acknowledge the signal without running any receiver, with one log line naming it.
    Skip,
}

/// A `Ref` argument whose row was not found when the signal was handled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MissingRef {
    /// The argument's name.
    pub arg: &'static str,
    /// The model, `app_label.model`.
    pub model: String,
    /// The key, as JSON.
    pub pk: String,
}

impl fmt::Display for MissingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({} with pk {}) no longer exists",
            self.arg, self.model, self.pk
        )
    }
}

/// A signal's arguments once their references are loaded. Not public API.
#[doc(hidden)]
pub struct Resolved {
    pub args: ErasedArgs,
    pub missing: Vec<MissingRef>,
}

/// What a signal's generated resolve step returns. Not public API.
#[doc(hidden)]
pub type ResolveFuture = Pin<Box<dyn Future<Output = Result<Resolved, BoxError>> + Send>>;

/// Types erased arguments back for the resolve step. Not public API.
#[doc(hidden)]
pub fn downcast_args<A: Send + 'static>(args: ErasedArgs) -> Box<A> {
    match (args as Box<dyn Any + Send>).downcast::<A>() {
        Ok(args) => args,
        // The dispatcher resolves a signal's arguments with that signal's own step only.
        Err(_) => unreachable!("arguments of another signal reached a resolve step"),
    }
}

/// What the resolve step of `#[async_signal]` calls on an argument whose type is spelled
/// `Ref<...>`: implemented by [`Ref`] only, so another type of that name is reported on the
/// user's token. Not public API.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `signalqueue::Ref`, but `#[async_signal]` sends an argument spelled `Ref<...>` by reference",
    label = "an argument whose type is spelled `Ref<...>` must be `signalqueue::Ref<M>`",
    note = "to send a type of your own named `Ref` by value, import it under another name: `use my_app::Ref as Tag;`"
)]
pub trait Reference: Send {
    /// Loads the row, noting it in `missing` when it is gone.
    fn resolve<'a>(
        &'a mut self,
        arg: &'static str,
        stores: &'a Stores,
        missing: &'a mut Vec<MissingRef>,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>>;
}

impl<M: Model> Reference for Ref<M> {
    fn resolve<'a>(
        &'a mut self,
        arg: &'static str,
        stores: &'a Stores,
        missing: &'a mut Vec<MissingRef>,
    ) -> Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send + 'a>> {
        Box::pin(resolve_ref(self, arg, stores, missing))
    }
}

/// Loads one `Ref` argument, noting it when its row is gone.
async fn resolve_ref<M: Model>(
    reference: &mut Ref<M>,
    arg: &'static str,
    stores: &Stores,
    missing: &mut Vec<MissingRef>,
) -> Result<(), BoxError> {
    // A loader that panics is the store's failure, reported with the argument it was loading.
    let loaded = AssertUnwindSafe(reference.load(stores))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            Err(format!("the loader panicked: {}", panic_message(panic.as_ref())).into())
        });
    loaded.map_err(|e| -> BoxError {
        format!(
            "loading `{arg}` ({} with pk {:?}): {}",
            Ref::<M>::label(),
            reference.key,
            with_sources(e.as_ref())
        )
        .into()
    })?;
    if reference.is_missing() {
        missing.push(MissingRef {
            arg,
            model: Ref::<M>::label(),
            pk: serde_json::to_string(&reference.key)
                .unwrap_or_else(|_| format!("{:?}", reference.key)),
        });
    }
    Ok(())
}

/// An error and its sources, `outer: inner: ...`: database clients often say only "db error"
/// on the outside, and the worker keeps this text as the dead letter's reason.
fn with_sources(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let more = e.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = e.source();
    }
    text
}

/// Packs resolved arguments. Not public API.
#[doc(hidden)]
pub fn resolved<A: Send + 'static>(args: Box<A>, missing: Vec<MissingRef>) -> Resolved {
    Resolved {
        args: args as ErasedArgs,
        missing,
    }
}
