//! How a signal's arguments become bytes: bincode 2 (serde mode) by default, or JSON.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::envelope::{DecodeError, Payload};

/// The codec a runtime encodes arguments with. Decoding follows whatever the envelope says,
/// so a worker reads both while a fleet switches codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// bincode 2 in serde mode, standard configuration: compact and fast.
    #[default]
    Bincode,
    /// JSON, arguments by name: readable by eye and writable from other languages.
    Json,
}

impl Codec {
    /// Encodes a signal's arguments.
    pub fn encode<A: Serialize>(self, args: &A) -> Result<Payload, EncodeError> {
        match self {
            Codec::Bincode => bincode::serde::encode_to_vec(args, bincode::config::standard())
                .map(Payload::Bincode)
                .map_err(|e| EncodeError(e.to_string())),
            Codec::Json => serde_json::to_value(args)
                .map(Payload::Json)
                .map_err(|e| EncodeError(e.to_string())),
        }
    }

    /// The codec's name as written in configuration (`bincode`, `json`).
    pub fn name(self) -> &'static str {
        match self {
            Codec::Bincode => "bincode",
            Codec::Json => "json",
        }
    }

    /// Parses a codec name as written in configuration (`bincode`, `json`).
    pub fn parse(name: &str) -> Option<Codec> {
        match name {
            "bincode" => Some(Codec::Bincode),
            "json" => Some(Codec::Json),
            _ => None,
        }
    }
}

/// Decodes a signal's arguments from whichever codec they were sent in.
pub fn decode<A: DeserializeOwned>(payload: &Payload) -> Result<A, DecodeError> {
    match payload {
        Payload::Bincode(bytes) => {
            let (value, used) =
                bincode::serde::decode_from_slice::<A, _>(bytes, bincode::config::standard())
                    .map_err(|e| {
                        DecodeError(format!(
                            "arguments do not decode ({e}); the signal's argument types changed since it was sent"
                        ))
                    })?;
            if used != bytes.len() {
                return Err(DecodeError(format!(
                    "arguments decode but leave {} bytes unread; the signal's argument types changed since it was sent",
                    bytes.len() - used
                )));
            }
            Ok(value)
        }
        // JSON is what other languages write: a mismatch is far more often a producer that
        // got the shape wrong than a type changed under entries in flight.
        Payload::Json(value) => A::deserialize(value).map_err(|e| {
            DecodeError(format!(
                "the arguments do not match the signal's declared arguments ({e})"
            ))
        }),
    }
}

/// Decodes arguments and re-expresses them as JSON (for `dump` and the admin page).
pub(crate) fn to_json<A: DeserializeOwned + Serialize>(
    payload: &Payload,
) -> Result<serde_json::Value, DecodeError> {
    match payload {
        Payload::Json(v) => Ok(v.clone()),
        Payload::Bincode(_) => {
            let args: A = decode(payload)?;
            serde_json::to_value(&args).map_err(|e| DecodeError(e.to_string()))
        }
    }
}

/// An argument value that cannot be encoded (a map with non-string keys in JSON, say).
#[derive(Clone, Debug, thiserror::Error)]
#[error("cannot encode the signal's arguments: {0}")]
pub struct EncodeError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct V1 {
        id: i64,
        name: String,
    }

    #[derive(Serialize, serde::Deserialize, Debug, PartialEq)]
    struct V2 {
        id: i64,
        name: String,
        total: u64,
    }

    #[test]
    fn round_trips_in_both_codecs() {
        let v = V1 {
            id: 7,
            name: "x".into(),
        };
        for codec in [Codec::Bincode, Codec::Json] {
            let p = codec.encode(&v).unwrap();
            assert_eq!(p.codec(), codec);
            assert_eq!(decode::<V1>(&p).unwrap(), v);
        }
    }

    #[test]
    fn changed_types_are_decode_errors() {
        let p = Codec::Bincode
            .encode(&V1 {
                id: 7,
                name: "x".into(),
            })
            .unwrap();
        let err = decode::<V2>(&p).unwrap_err();
        assert!(err.0.contains("argument types changed"), "{err}");
        let p = Codec::Bincode
            .encode(&V2 {
                id: 7,
                name: "x".into(),
                total: 3,
            })
            .unwrap();
        let err = decode::<V1>(&p).unwrap_err();
        assert!(err.0.contains("bytes unread"), "{err}");
    }

    /// The example in `docs/wire-format.md`, for producers in other languages.
    #[test]
    fn bincode_bytes_are_as_documented() {
        #[derive(Serialize)]
        struct Args {
            a: u32,
            b: String,
            c: i64,
            d: u32,
        }
        let p = Codec::Bincode
            .encode(&Args {
                a: 7,
                b: "x".into(),
                c: -2,
                d: 300,
            })
            .unwrap();
        assert_eq!(
            p,
            Payload::Bincode(vec![0x07, 0x01, 0x78, 0x03, 0xFB, 0x2C, 0x01])
        );
    }

    #[test]
    fn a_json_payload_of_the_wrong_shape_is_not_blamed_on_changed_types() {
        let p = Payload::Json(serde_json::json!({"id": "seven", "name": "x"}));
        let err = decode::<V1>(&p).unwrap_err();
        assert!(
            err.0
                .contains("the arguments do not match the signal's declared arguments"),
            "{err}"
        );
        assert!(!err.0.contains("changed since it was sent"), "{err}");
    }
}
