//! Procedural macros of [signalqueue](https://docs.rs/signalqueue): `#[async_signal]` and
//! `#[receiver]`. Use them through `signalqueue`, which re-exports them with their docs.
//!
//! Each macro is a shim over parse (typed views of the input, every mistake collected),
//! then expand. On a mistake the user's item (or a stand-in of the right name) is still
//! emitted, so one mistake gives one error and IDEs keep working.

use proc_macro::TokenStream;

mod crate_path;
mod errors;
mod receiver;
mod signal;

/// Declares a typed asynchronous signal. See `signalqueue::async_signal`.
#[proc_macro_attribute]
pub fn async_signal(attr: TokenStream, item: TokenStream) -> TokenStream {
    signal::expand(attr.into(), item.into()).into()
}

/// Registers a function as a receiver of a signal. See `signalqueue::receiver`.
#[proc_macro_attribute]
pub fn receiver(attr: TokenStream, item: TokenStream) -> TokenStream {
    receiver::expand(attr.into(), item.into()).into()
}
