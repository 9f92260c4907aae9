//! The process's store handles (database pools and the like), reachable from model loaders.
//!
//! A worker is often the two-line `signalqueue_runner::main()` binary, with no start-up code
//! of the app's own; so a store is declared where its type is, at link time, with
//! [`provide_store!`](crate::provide_store), and opened lazily, once, by the first loader that
//! asks for it. Embedders and tests can also [`provide`] (or [`insert`]) a store at run time,
//! which overrides a link-time declaration of the same type.
//!
//! ```
//! use std::sync::Arc;
//! use signalqueue::Stores;
//!
//! pub struct Db { pub url: String }
//!
//! // Next to the type, in the crate the worker links:
//! signalqueue::provide_store!(Db, || async {
//!     Ok::<_, std::io::Error>(Db { url: "postgres://localhost/shop".into() })
//! });
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), signalqueue::Error> {
//! // In a loader: opened at the first `get`, shared afterwards.
//! let db: Arc<Db> = Stores::global().get::<Db>().await?;
//! assert_eq!(db.url, "postgres://localhost/shop");
//! assert!(Arc::ptr_eq(&db, &Stores::global().get::<Db>().await?));
//! # Ok(()) }
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::Error;
use crate::BoxError;

type AnyStore = Arc<dyn Any + Send + Sync>;

/// What a store's initialiser returns, type-erased. Not public API.
#[doc(hidden)]
pub type StoreFuture = Pin<Box<dyn Future<Output = Result<AnyStore, BoxError>> + Send>>;

type Init = Arc<dyn Fn() -> StoreFuture + Send + Sync>;

/// One `provide_store!`, collected at link time. Not public API.
#[doc(hidden)]
pub struct StoreRegistration {
    // Function pointers because `TypeId::of` and `type_name` are not `const` on stable Rust.
    pub type_id: fn() -> TypeId,
    pub type_name: fn() -> &'static str,
    pub location: &'static str,
    pub init: fn() -> StoreFuture,
}

inventory::collect!(StoreRegistration);

/// Calls a store's initialiser and erases its type. Not public API.
#[doc(hidden)]
pub fn store_future<T, F, Fut, E>(init: F) -> StoreFuture
where
    T: Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let fut = init();
    Box::pin(async move {
        match fut.await {
            Ok(store) => Ok(Arc::new(store) as AnyStore),
            Err(e) => Err(e.into()),
        }
    })
}

/// How one store comes to be.
struct Slot {
    type_name: &'static str,
    /// The initialiser; or, when two `provide_store!`s declare the type, where they are.
    init: Result<Init, String>,
    value: tokio::sync::OnceCell<AnyStore>,
}

/// The stores of a process, by type: each opened once, on first use, by its initialiser.
///
/// Loaders reach the process's stores through the `&Stores` that [`Model::load`] is given
/// (the global one, [`Stores::global`], in the worker and in `send_now`).
///
/// [`Model::load`]: crate::Model::load
pub struct Stores {
    slots: RwLock<HashMap<TypeId, Arc<Slot>>>,
}

impl Default for Stores {
    fn default() -> Self {
        Stores::new()
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = slots.values().map(|s| s.type_name).collect();
        names.sort_unstable();
        f.debug_struct("Stores").field("stores", &names).finish()
    }
}

impl Stores {
    /// No stores at all (a private set, for tests; the worker uses [`Stores::global`]).
    pub fn new() -> Stores {
        Stores {
            slots: RwLock::new(HashMap::new()),
        }
    }

    /// The process's stores: every [`provide_store!`](crate::provide_store) linked into the
    /// program, plus what was [`provide`]d at run time.
    pub fn global() -> &'static Stores {
        static GLOBAL: OnceLock<Stores> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let mut slots: HashMap<TypeId, Arc<Slot>> = HashMap::new();
            let mut origins: HashMap<TypeId, Vec<&'static str>> = HashMap::new();
            for r in inventory::iter::<StoreRegistration>() {
                let id = (r.type_id)();
                origins.entry(id).or_default().push(r.location);
                let init: Init = Arc::new(r.init);
                slots.insert(
                    id,
                    Arc::new(Slot {
                        type_name: (r.type_name)(),
                        init: Ok(init),
                        value: tokio::sync::OnceCell::new(),
                    }),
                );
            }
            for (id, mut places) in origins {
                if places.len() > 1 {
                    // Which one would win depends on link order: refuse both, at first use.
                    places.sort_unstable();
                    let slot = slots.get_mut(&id).expect("registered above");
                    let store = slot.type_name;
                    *slot = Arc::new(Slot {
                        type_name: store,
                        init: Err(places.join(", ")),
                        value: tokio::sync::OnceCell::new(),
                    });
                }
            }
            Stores {
                slots: RwLock::new(slots),
            }
        })
    }

    /// Provides store `T`, opened by `init` at the first [`Stores::get`] (and again at the
    /// next one if it failed). Replaces whatever provided `T` before, including a
    /// `provide_store!`.
    pub fn provide<T, F, Fut, E>(&self, init: F)
    where
        T: Send + Sync + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let init: Init = Arc::new(move || store_future(&init));
        self.put::<T>(Ok(init), tokio::sync::OnceCell::new());
    }

    /// Provides store `T` already opened. Replaces whatever provided `T` before.
    pub fn insert<T: Send + Sync + 'static>(&self, store: T) {
        let store: AnyStore = Arc::new(store);
        let init: Init = Arc::new(|| unreachable!("an inserted store is never initialised"));
        self.put::<T>(Ok(init), tokio::sync::OnceCell::new_with(Some(store)));
    }

    fn put<T: 'static>(&self, init: Result<Init, String>, value: tokio::sync::OnceCell<AnyStore>) {
        let slot = Arc::new(Slot {
            type_name: std::any::type_name::<T>(),
            init,
            value,
        });
        self.slots
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(TypeId::of::<T>(), slot);
    }

    /// Store `T`, opened now if this is the first use. Concurrent first uses wait for one
    /// initialisation; a failed one is tried again at the next `get`.
    pub async fn get<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, Error> {
        let slot = self
            .slots
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&TypeId::of::<T>())
            .cloned();
        let Some(slot) = slot else {
            return Err(Error::MissingStore {
                store: std::any::type_name::<T>(),
            });
        };
        let init = match &slot.init {
            Ok(init) => init.clone(),
            Err(places) => {
                return Err(Error::DuplicateStore {
                    store: slot.type_name,
                    places: places.clone(),
                })
            }
        };
        let store = slot
            .value
            .get_or_try_init(|| init())
            .await
            .map_err(|source| Error::StoreInit {
                store: slot.type_name,
                source,
            })?;
        Ok(store
            .clone()
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("stores are kept under their own type id")))
    }
}

/// Provides store `T` to the global [`Stores`]; see [`Stores::provide`].
pub fn provide<T, F, Fut, E>(init: F)
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Stores::global().provide(init)
}

/// Inserts an opened store `T` into the global [`Stores`]; see [`Stores::insert`].
pub fn insert<T: Send + Sync + 'static>(store: T) {
    Stores::global().insert(store)
}

/// Declares a store of the process at link time: `provide_store!(Type, || async { ... })`.
///
/// The closure takes nothing and returns a future of `Result<Type, E>` (with `E` any error);
/// it runs at the first [`Stores::get::<Type>()`](Stores::get), in whichever process links
/// the crate (the worker, a web app), and its result is shared afterwards. Put it next to the
/// type, in the crate whose models load from it, so that a two-line worker binary linking that
/// crate has it. A run-time [`provide`] of the same type overrides it; two `provide_store!`s
/// of one type are an error at first use.
///
/// ```
/// pub struct Db { pub path: std::path::PathBuf }
///
/// signalqueue::provide_store!(Db, || async {
///     let path = std::env::var_os("SHOP_DB").unwrap_or_else(|| "shop.db".into());
///     Ok::<_, std::io::Error>(Db { path: path.into() })
/// });
/// ```
#[macro_export]
macro_rules! provide_store {
    ($store:ty, $init:expr $(,)?) => {
        const _: () = {
            fn __sq_open_store() -> $crate::__private::StoreFuture {
                $crate::__private::store_future::<$store, _, _, _>($init)
            }
            $crate::__private::inventory::submit! {
                $crate::__private::StoreRegistration {
                    type_id: ::core::any::TypeId::of::<$store>,
                    type_name: ::core::any::type_name::<$store>,
                    location: ::core::concat!(::core::file!(), ":", ::core::line!()),
                    init: __sq_open_store,
                }
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug)]
    struct Pool(usize);

    #[tokio::test]
    async fn a_store_is_opened_once_and_shared() {
        static OPENED: AtomicUsize = AtomicUsize::new(0);
        let stores = Stores::new();
        stores.provide(|| async {
            let n = OPENED.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Pool(n))
        });
        let a = stores.get::<Pool>().await.unwrap();
        let b = stores.get::<Pool>().await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(OPENED.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_open_is_an_error_and_tried_again() {
        static TRIES: AtomicUsize = AtomicUsize::new(0);
        let stores = Stores::new();
        stores.provide(|| async {
            if TRIES.fetch_add(1, Ordering::SeqCst) == 0 {
                Err("connection refused")
            } else {
                Ok(Pool(7))
            }
        });
        let err = stores.get::<Pool>().await.unwrap_err().to_string();
        assert!(err.contains("failed to open"), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert_eq!(stores.get::<Pool>().await.unwrap().0, 7);
    }

    #[tokio::test]
    async fn a_missing_store_says_how_to_provide_it() {
        let err = Stores::new().get::<Pool>().await.unwrap_err().to_string();
        assert!(err.contains("no store of type"), "{err}");
        assert!(err.contains("Pool"), "{err}");
        assert!(err.contains("provide_store!"), "{err}");
    }

    #[tokio::test]
    async fn insert_and_provide_replace_what_was_there() {
        let stores = Stores::new();
        stores.insert(Pool(1));
        assert_eq!(stores.get::<Pool>().await.unwrap().0, 1);
        stores.provide(|| async { Ok::<_, std::io::Error>(Pool(2)) });
        assert_eq!(stores.get::<Pool>().await.unwrap().0, 2);
    }
}
