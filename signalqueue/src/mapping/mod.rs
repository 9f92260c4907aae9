//! How arguments travel: by value (any serde type, the default), by reference (a [`Model`]
//! sent as [`Ref`] and loaded again in the worker), or through a custom [`Mapping`] for a
//! foreign type that has no serde implementation.
//!
//! The original's "mappers" were chosen by trial for every value; here each argument's type
//! says how it travels, so the choice is made at compile time and shows in the signature.
//! `docs/mappings.md` tells the whole story; the short form:
//!
//! - `providing_args = [instance: Order]`: the order is encoded as it is.
//! - `providing_args = [instance: Ref<Order>]`: only `{app_label, model, pk}` is encoded; the
//!   worker loads the row (through [`Model::load`], with the process's [`Stores`]) just before
//!   the receivers run, so they see it as it is then. A row deleted in between is either
//!   delivered as `None` (`on_missing = "deliver"`, the default) or the signal is acknowledged
//!   without running receivers (`on_missing = "skip"`).
//! - `providing_args = [when: Timestamp with TimestampMapping]`: encoded through
//!   `TimestampMapping`'s [`Mapping`] implementation.

mod custom;
mod model;
mod reference;
pub mod stores;

pub use self::custom::Mapping;
pub use self::model::Model;
pub use self::reference::{MissingRef, OnMissing, Ref};
pub use self::stores::Stores;

/// What generated code uses, re-exported under `__private`. Not public API.
pub(crate) mod glue {
    pub use super::custom::{deserialize_with, serialize_with};
    pub use super::reference::{downcast_args, resolved, Reference, ResolveFuture, Resolved};
    pub use super::stores::{store_future, StoreFuture, StoreRegistration};
}
