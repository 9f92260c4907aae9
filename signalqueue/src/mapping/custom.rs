//! [`Mapping`]: how a foreign type without serde travels as a signal argument.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::BoxError;

/// How values of `T` travel when `T` is not serde (typically a type from another crate, which
/// the orphan rule stops you implementing `Serialize` for): as a serde "wire" value of your
/// choice.
///
/// Implement it on a marker type of your own (the orphan rule allows `impl Mapping<Foreign>
/// for MyMapping` because `MyMapping` is local), and name it after the argument's type with
/// `with`. Both codecs (bincode and JSON) go through it, as do the worker's `dump` and `send`.
///
/// ```
/// use std::net::Ipv4Addr;
/// use signalqueue::{async_signal, receiver, BoxError, Mapping};
///
/// /// Stands in for a type from another crate: no `Serialize`, no `Deserialize`.
/// #[derive(Clone, Debug, PartialEq)]
/// pub struct Subnet { pub base: Ipv4Addr, pub prefix: u8 }
///
/// /// Sends a `Subnet` as its text, `"10.0.0.0/8"`.
/// pub struct SubnetAsText;
///
/// impl Mapping<Subnet> for SubnetAsText {
///     type Wire = String;
///
///     fn to_wire(value: &Subnet) -> String {
///         format!("{}/{}", value.base, value.prefix)
///     }
///
///     fn from_wire(wire: String) -> Result<Subnet, BoxError> {
///         let (base, prefix) = wire.split_once('/').ok_or("a subnet is `ADDRESS/PREFIX`")?;
///         Ok(Subnet { base: base.parse()?, prefix: prefix.parse()? })
///     }
/// }
///
/// #[async_signal(providing_args = [subnet: Subnet with SubnetAsText, reason: String])]
/// pub static BLOCKED: Blocked;
///
/// #[receiver(BLOCKED)]
/// async fn firewall(subnet: Subnet, reason: String) {
///     println!("blocking {subnet:?}: {reason}");
/// }
///
/// // The generated arguments struct encodes `subnet` through the mapping.
/// let args = BlockedArgs { subnet: Subnet { base: Ipv4Addr::new(10, 0, 0, 0), prefix: 8 }, reason: "abuse".into() };
/// let json = serde_json::to_value(&args).unwrap();
/// assert_eq!(json, serde_json::json!({ "subnet": "10.0.0.0/8", "reason": "abuse" }));
/// let back: BlockedArgs = serde_json::from_value(json).unwrap();
/// assert_eq!(back.subnet, args.subnet);
/// ```
///
/// A value that [`Mapping::from_wire`] rejects makes the signal undecodable, like any
/// payload whose types changed: the worker dead-letters it with your error's message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `signalqueue::Mapping` for `{T}`",
    label = "named after `with`, so it must implement `Mapping<{T}>`",
    note = "implement `signalqueue::Mapping<{T}>` for `{Self}`: the serde wire type, and the conversions to it and back"
)]
pub trait Mapping<T> {
    /// The serde type a value travels as.
    type Wire: Serialize + DeserializeOwned;

    /// The wire form of `value`.
    fn to_wire(value: &T) -> Self::Wire;

    /// The value back from its wire form; an error when the wire value is not a valid `T`.
    fn from_wire(wire: Self::Wire) -> Result<T, BoxError>;
}

/// serde's `serialize_with` for an argument declared `name: T with M`. Not public API.
#[doc(hidden)]
pub fn serialize_with<M: Mapping<T>, T, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    M::to_wire(value).serialize(serializer)
}

/// serde's `deserialize_with` for an argument declared `name: T with M`. Not public API.
#[doc(hidden)]
pub fn deserialize_with<'de, M: Mapping<T>, T, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    let wire = M::Wire::deserialize(deserializer)?;
    M::from_wire(wire).map_err(D::Error::custom)
}
