//! What travels through a queue: one signal, its arguments and its delivery state.
//!
//! Two encodings exist (see `docs/wire-format.md`, which is the specification):
//! - binary (the default): a fixed frame starting `SQ\x01B`, the arguments encoded with
//!   bincode 2 in serde mode;
//! - JSON: one object with `"v": 1`, the arguments as a JSON object by name, for people who
//!   read queues by eye or enqueue from other languages.
//!
//! The frame is ours rather than a serde struct so that the worker can read the signal name and
//! the owed receivers without touching the arguments, and so that other languages can parse it.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::codec::Codec;

/// The binary frame's magic and version: `S`, `Q`, format version 1, `B` for bincode args.
pub const BINARY_MAGIC: [u8; 4] = *b"SQ\x01B";

/// A signal's unique id: a ULID, so ids sort by the time they were made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvelopeId(pub ulid::Ulid);

impl EnvelopeId {
    /// A new id for now.
    pub fn new() -> Self {
        EnvelopeId(ulid::Ulid::new())
    }

    /// The id of an entry written without one (a JSON envelope from another language): the
    /// ULID whose time part is `time_ms` and whose 80 other bits are the low bits of the
    /// 128-bit FNV-1a hash of the entry's bytes. Deterministic, so every reader of the same
    /// bytes agrees; two entries with identical bytes share it (give each an `id` to tell them
    /// apart).
    pub fn derived(bytes: &[u8], time_ms: u64) -> Self {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let hash = bytes
            .iter()
            .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME));
        let time = u128::from(time_ms & ((1 << 48) - 1)) << 80;
        EnvelopeId(ulid::Ulid(time | (hash & ((1 << 80) - 1))))
    }

    /// When the id was made (millisecond precision).
    pub fn timestamp(&self) -> SystemTime {
        crate::engine::from_unix_ms(self.0.timestamp_ms())
    }
}

impl Default for EnvelopeId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for EnvelopeId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(EnvelopeId)
    }
}

/// A signal's encoded arguments, in the codec it was sent with.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// bincode 2 (serde mode, standard config) bytes of the signal's `Args` struct.
    Bincode(Vec<u8>),
    /// The signal's `Args` struct as a JSON object, one key per argument.
    Json(serde_json::Value),
}

impl Payload {
    /// The codec these arguments are in.
    pub fn codec(&self) -> Codec {
        match self {
            Payload::Bincode(_) => Codec::Bincode,
            Payload::Json(_) => Codec::Json,
        }
    }
}

/// How many failed attempts an envelope keeps (the latest ones): enough to see a pattern, while
/// a receiver that fails for days cannot grow its entry without bound.
pub const HISTORY_KEPT: usize = 10;

/// The longest error text kept per failed attempt, in bytes (cut at a character boundary and
/// marked with `…`).
pub const HISTORY_ERROR_BYTES: usize = 1000;

/// One failed attempt of one receiver, as the envelope remembers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedAttempt {
    /// Which attempt failed, from 1.
    pub attempt: u32,
    /// The receiver that failed, by name.
    pub receiver: String,
    /// What it said (its error, or its panic), at most [`HISTORY_ERROR_BYTES`].
    pub error: String,
    /// When it failed.
    pub at: SystemTime,
}

/// One signal as it travels through a queue.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// Unique, sortable by time.
    pub id: EnvelopeId,
    /// The signal's wire name.
    pub signal: String,
    /// Who sent it, as a label (`"shop.Order"`), if anyone said.
    pub sender: Option<String>,
    /// When `send` was called.
    pub enqueued_at: SystemTime,
    /// Which delivery attempt this is, from 1.
    pub attempt: u32,
    /// The receivers still owed this signal, by name; `None` means all of them. A retry lists
    /// only the receivers that failed, so those that succeeded do not run twice.
    pub owed: Option<Vec<String>>,
    /// When the signal was due: the time a delayed send asked for (`SendOptions::delay`,
    /// `SendOptions::at`). `None` for a signal due when sent. It stays the same across
    /// retries, so a receiver can tell when it was meant to run (`Delivery::scheduled_for`).
    pub scheduled_for: Option<SystemTime>,
    /// The failed attempts so far, oldest first, at most [`HISTORY_KEPT`]: what the worker
    /// writes into a retry and a dead letter, so that the console, `dump` and `dead list` can
    /// show what happened on every engine. Empty for a first attempt and for envelopes from
    /// producers that do not write it.
    pub history: Vec<FailedAttempt>,
    /// The arguments.
    pub args: Payload,
}

/// Why bytes from a queue are not an envelope, or its arguments do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

impl Envelope {
    /// A first-attempt envelope for `signal` with `args`, stamped now.
    pub fn new(signal: impl Into<String>, sender: Option<String>, args: Payload) -> Envelope {
        let id = EnvelopeId::new();
        Envelope {
            id,
            signal: signal.into(),
            sender,
            enqueued_at: id.timestamp(),
            attempt: 1,
            owed: None,
            scheduled_for: None,
            history: Vec::new(),
            args,
        }
    }

    /// Remembers that `receiver` failed on `attempt` at `at` saying `error`: the error cut to
    /// [`HISTORY_ERROR_BYTES`], and only the latest [`HISTORY_KEPT`] attempts kept.
    pub fn record_failure(&mut self, attempt: u32, receiver: &str, error: &str, at: SystemTime) {
        self.history.push(FailedAttempt {
            attempt,
            receiver: receiver.to_string(),
            error: truncate(error, HISTORY_ERROR_BYTES),
            at,
        });
        let over = self.history.len().saturating_sub(HISTORY_KEPT);
        self.history.drain(..over);
    }

    /// The latest failed attempt, if any.
    pub fn last_failure(&self) -> Option<&FailedAttempt> {
        self.history.last()
    }

    /// Encodes the envelope; the arguments' codec decides the frame (binary or JSON).
    pub fn encode(&self) -> Vec<u8> {
        match &self.args {
            Payload::Bincode(args) => self.encode_binary(args),
            Payload::Json(args) => {
                let wire = JsonWire {
                    v: 1,
                    id: self.id,
                    signal: &self.signal,
                    sender: self.sender.as_deref(),
                    enqueued_at_ms: crate::engine::unix_ms(self.enqueued_at),
                    attempt: self.attempt,
                    owed: self.owed.as_deref(),
                    scheduled_for_ms: self.scheduled_for.map(crate::engine::unix_ms),
                    history: self.history.iter().map(JsonFailure::from).collect(),
                    args,
                };
                serde_json::to_vec(&wire).expect("a JSON value always serializes")
            }
        }
    }

    fn encode_binary(&self, args: &[u8]) -> Vec<u8> {
        let owed_len: usize = self
            .owed
            .iter()
            .flatten()
            .map(|r| 4 + r.len())
            .sum::<usize>();
        let mut out = Vec::with_capacity(
            4 + 16
                + 8
                + 4
                + 1
                + 4
                + self.signal.len()
                + 4
                + self.sender.as_ref().map_or(0, |s| s.len())
                + 4
                + owed_len
                + 8
                + self.history_len()
                + args.len(),
        );
        out.extend_from_slice(&BINARY_MAGIC);
        out.extend_from_slice(&self.id.0 .0.to_be_bytes());
        out.extend_from_slice(&crate::engine::unix_ms(self.enqueued_at).to_le_bytes());
        out.extend_from_slice(&self.attempt.to_le_bytes());
        // Bit 2 is set only for a delayed send and bit 3 only for an entry with failed
        // attempts, so every other envelope is byte for byte what builds before them wrote,
        // and they read it.
        let flags = u8::from(self.sender.is_some())
            | (u8::from(self.owed.is_some()) << 1)
            | (u8::from(self.scheduled_for.is_some()) << 2)
            | (u8::from(!self.history.is_empty()) << 3);
        out.push(flags);
        put_str(&mut out, &self.signal);
        if let Some(sender) = &self.sender {
            put_str(&mut out, sender);
        }
        if let Some(owed) = &self.owed {
            out.extend_from_slice(&(owed.len() as u32).to_le_bytes());
            for r in owed {
                put_str(&mut out, r);
            }
        }
        if let Some(at) = self.scheduled_for {
            out.extend_from_slice(&crate::engine::unix_ms(at).to_le_bytes());
        }
        if !self.history.is_empty() {
            out.extend_from_slice(&(self.history.len() as u32).to_le_bytes());
            for f in &self.history {
                out.extend_from_slice(&f.attempt.to_le_bytes());
                out.extend_from_slice(&crate::engine::unix_ms(f.at).to_le_bytes());
                put_str(&mut out, &f.receiver);
                put_str(&mut out, &f.error);
            }
        }
        out.extend_from_slice(args);
        out
    }

    fn history_len(&self) -> usize {
        let entries: usize = self
            .history
            .iter()
            .map(|f| 4 + 8 + 4 + f.receiver.len() + 4 + f.error.len())
            .sum();
        if entries == 0 {
            0
        } else {
            4 + entries
        }
    }

    /// Decodes bytes taken from a queue. The error says what is wrong, for the dead letter.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        if bytes.starts_with(&BINARY_MAGIC) {
            Self::decode_binary(&bytes[4..])
        } else if bytes.first() == Some(&b'{') {
            let wire: JsonWireOwned = serde_json::from_slice(bytes)
                .map_err(|e| DecodeError(format!("malformed JSON envelope: {e}")))?;
            if wire.v != 1 {
                return Err(DecodeError(format!(
                    "JSON envelope version {} is newer than this build understands (1); upgrade the worker",
                    wire.v
                )));
            }
            // serde reads a struct from an array by position: that would bind arguments by
            // their order, silently, when the format says by name.
            if !wire.args.is_object() {
                return Err(DecodeError(format!(
                    "`args` must be a JSON object with one key per argument, by name (`{{\"a\": 7, \"b\": \"x\"}}`), not {}",
                    json_kind(&wire.args)
                )));
            }
            let attempt = match wire.attempt {
                None => 1,
                Some(0) => {
                    return Err(DecodeError(
                        "`attempt` is 0, but attempts count from 1; write 1, or leave it out, for a first attempt".into(),
                    ))
                }
                Some(n) => n,
            };
            // Every read of the same entry (the worker, `dump`, `dead list`, the status page)
            // must show the same id and time, so what a producer left out is derived from the
            // entry itself, never from the clock.
            let id = match wire.id {
                Some(id) => id.parse().map_err(|_| {
                    DecodeError(format!(
                        "`id` {id:?} is not a ULID (26 characters of Crockford base32, e.g. `01JDQ7YV6Z8W3D2F8M4Q3X2N1B`); write a valid one, or leave `id` out to have one derived from the entry"
                    ))
                })?,
                None => EnvelopeId::derived(bytes, wire.enqueued_at_ms.unwrap_or(0)),
            };
            Ok(Envelope {
                id,
                signal: wire.signal,
                sender: wire.sender,
                enqueued_at: wire
                    .enqueued_at_ms
                    .map_or_else(|| id.timestamp(), crate::engine::from_unix_ms),
                attempt,
                owed: wire.owed,
                scheduled_for: wire.scheduled_for_ms.map(crate::engine::from_unix_ms),
                history: wire.history.into_iter().map(FailedAttempt::from).collect(),
                args: Payload::Json(wire.args),
            })
        } else if bytes.len() >= 4 && bytes.starts_with(b"SQ\x01") {
            // Version 1 is known here: it is the codec byte that is not.
            Err(DecodeError(format!(
                "binary envelope names an unknown codec byte {} (known: `B`, bincode); it was not written by signalqueue's `send`, or by a newer build (upgrade the worker)",
                describe_byte(bytes[3])
            )))
        } else if bytes.len() >= 3 && bytes.starts_with(b"SQ") {
            Err(DecodeError(format!(
                "binary envelope format version {} is not understood by this build (1); upgrade the worker",
                bytes[2]
            )))
        } else {
            Err(DecodeError(format!(
                "not a signalqueue envelope (starts with {:?}); it was not written by signalqueue's `send`",
                String::from_utf8_lossy(&bytes[..bytes.len().min(16)])
            )))
        }
    }

    fn decode_binary(mut b: &[u8]) -> Result<Envelope, DecodeError> {
        let id = u128::from_be_bytes(take(&mut b, 16)?.try_into().expect("16 bytes"));
        let enqueued_at_ms = u64::from_le_bytes(take(&mut b, 8)?.try_into().expect("8 bytes"));
        let attempt = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4 bytes"));
        let flags = take(&mut b, 1)?[0];
        let signal = take_str(&mut b)?;
        let sender = if flags & 1 != 0 {
            Some(take_str(&mut b)?)
        } else {
            None
        };
        let owed = if flags & 2 != 0 {
            let n = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4 bytes"));
            let mut owed = Vec::with_capacity(n.min(1024) as usize);
            for _ in 0..n {
                owed.push(take_str(&mut b)?);
            }
            Some(owed)
        } else {
            None
        };
        let scheduled_for = if flags & 4 != 0 {
            let ms = u64::from_le_bytes(take(&mut b, 8)?.try_into().expect("8 bytes"));
            Some(crate::engine::from_unix_ms(ms))
        } else {
            None
        };
        let history = if flags & 8 != 0 {
            let n = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4 bytes"));
            let mut history = Vec::with_capacity(n.min(HISTORY_KEPT as u32) as usize);
            for _ in 0..n {
                let attempt = u32::from_le_bytes(take(&mut b, 4)?.try_into().expect("4 bytes"));
                let ms = u64::from_le_bytes(take(&mut b, 8)?.try_into().expect("8 bytes"));
                history.push(FailedAttempt {
                    attempt,
                    at: crate::engine::from_unix_ms(ms),
                    receiver: take_str(&mut b)?,
                    error: take_str(&mut b)?,
                });
            }
            history
        } else {
            Vec::new()
        };
        Ok(Envelope {
            id: EnvelopeId(ulid::Ulid(id)),
            signal,
            sender,
            enqueued_at: SystemTime::UNIX_EPOCH + Duration::from_millis(enqueued_at_ms),
            attempt,
            owed,
            scheduled_for,
            history,
            args: Payload::Bincode(b.to_vec()),
        })
    }

    /// The bytes that make two pending signals "identical" for `redis-set://`: the signal's
    /// name, its sender and its arguments (not its id or time).
    pub fn content_key(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.signal.len() + 64);
        put_str(&mut key, &self.signal);
        match &self.sender {
            Some(s) => {
                key.push(1);
                put_str(&mut key, s);
            }
            None => key.push(0),
        }
        match &self.args {
            Payload::Bincode(b) => {
                key.push(b'B');
                key.extend_from_slice(b);
            }
            Payload::Json(v) => {
                key.push(b'J');
                // serde_json's maps are ordered by key, so this is deterministic.
                key.extend_from_slice(&serde_json::to_vec(v).expect("a JSON value serializes"));
            }
        }
        key
    }
}

/// What kind of JSON value `v` is, for messages.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A byte as a reader would want to see it in a message: the character when printable.
fn describe_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

/// `s` cut to at most `max` bytes at a character boundary, `…` marking the cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if b.len() < n {
        return Err(DecodeError(
            "binary envelope is truncated; it was cut short or corrupted".into(),
        ));
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Ok(head)
}

fn take_str(b: &mut &[u8]) -> Result<String, DecodeError> {
    let n = u32::from_le_bytes(take(b, 4)?.try_into().expect("4 bytes")) as usize;
    let raw = take(b, n)?;
    String::from_utf8(raw.to_vec())
        .map_err(|_| DecodeError("binary envelope holds a name that is not UTF-8".into()))
}

#[derive(Serialize)]
struct JsonWire<'a> {
    v: u32,
    id: EnvelopeId,
    signal: &'a str,
    sender: Option<&'a str>,
    enqueued_at_ms: u64,
    attempt: u32,
    owed: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_for_ms: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    history: Vec<JsonFailure>,
    args: &'a serde_json::Value,
}

/// One failed attempt in a JSON envelope: times in ms since the Unix epoch, as elsewhere in
/// the frame.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFailure {
    attempt: u32,
    receiver: String,
    error: String,
    at_ms: u64,
}

impl From<&FailedAttempt> for JsonFailure {
    fn from(f: &FailedAttempt) -> Self {
        JsonFailure {
            attempt: f.attempt,
            receiver: f.receiver.clone(),
            error: f.error.clone(),
            at_ms: crate::engine::unix_ms(f.at),
        }
    }
}

impl From<JsonFailure> for FailedAttempt {
    fn from(f: JsonFailure) -> Self {
        FailedAttempt {
            attempt: f.attempt,
            receiver: f.receiver,
            error: f.error,
            at: crate::engine::from_unix_ms(f.at_ms),
        }
    }
}

/// The JSON frame as read: everything but `v`, `signal` and `args` may be left out by a
/// producer in another language. An unknown field is refused rather than ignored: it is a
/// producer's typo (`sendr`) or a newer format's field that this build would silently drop.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonWireOwned {
    v: u32,
    // A string, parsed by hand: serde's own error ("invalid length at line 1 column 24")
    // would not say what an id must look like.
    #[serde(default)]
    id: Option<String>,
    signal: String,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    enqueued_at_ms: Option<u64>,
    #[serde(default)]
    attempt: Option<u32>,
    #[serde(default)]
    owed: Option<Vec<String>>,
    #[serde(default)]
    scheduled_for_ms: Option<u64>,
    #[serde(default)]
    history: Vec<JsonFailure>,
    args: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(args: Payload) -> Envelope {
        let mut e = Envelope::new("demo.two_args", Some("shop.Order".into()), args);
        e.attempt = 3;
        e.owed = Some(vec!["a::r1".into(), "b::r2".into()]);
        e
    }

    #[test]
    fn binary_round_trip() {
        let e = sample(Payload::Bincode(vec![1, 2, 3, 0, 255]));
        let bytes = e.encode();
        assert!(bytes.starts_with(b"SQ\x01B"));
        let d = Envelope::decode(&bytes).unwrap();
        assert_eq!(d.id, e.id);
        assert_eq!(d.signal, e.signal);
        assert_eq!(d.sender, e.sender);
        assert_eq!(d.attempt, 3);
        assert_eq!(d.owed, e.owed);
        assert_eq!(d.args, e.args);
        assert_eq!(
            crate::engine::unix_ms(d.enqueued_at),
            crate::engine::unix_ms(e.enqueued_at)
        );
    }

    #[test]
    fn json_round_trip_and_minimal_foreign_producer() {
        let e = sample(Payload::Json(serde_json::json!({"a": 7, "b": "x"})));
        let d = Envelope::decode(&e.encode()).unwrap();
        assert_eq!(d.id, e.id);
        assert_eq!(d.owed, e.owed);
        assert_eq!(d.args, e.args);
        // What a producer in another language may write.
        let d = Envelope::decode(br#"{"v":1,"signal":"demo.two_args","args":{"a":1,"b":"y"}}"#)
            .unwrap();
        assert_eq!(d.attempt, 1);
        assert_eq!(d.owed, None);
    }

    #[test]
    fn the_due_time_round_trips_and_old_envelopes_have_none() {
        let at = crate::engine::from_unix_ms(1_764_265_230_000);
        for args in [
            Payload::Bincode(vec![9, 8]),
            Payload::Json(serde_json::json!({"a": 1})),
        ] {
            let plain = sample(args.clone());
            let before = plain.encode();
            let mut delayed = plain.clone();
            delayed.scheduled_for = Some(at);
            let d = Envelope::decode(&delayed.encode()).unwrap();
            assert_eq!(d.scheduled_for, Some(at));
            assert_eq!(d.args, args);
            assert_eq!(d.owed, plain.owed);
            // Without a due time the bytes are those of earlier builds, which decode to `None`.
            assert_eq!(Envelope::decode(&before).unwrap().scheduled_for, None);
            assert!(!String::from_utf8_lossy(&before).contains("scheduled_for_ms"));
        }
        let d =
            Envelope::decode(br#"{"v":1,"signal":"s","scheduled_for_ms":1764265230000,"args":{}}"#)
                .unwrap();
        assert_eq!(d.scheduled_for, Some(at));
    }

    #[test]
    fn the_history_round_trips_bounded_and_old_envelopes_have_none() {
        let at = crate::engine::from_unix_ms(1_764_265_230_000);
        for args in [
            Payload::Bincode(vec![9, 8]),
            Payload::Json(serde_json::json!({"a": 1})),
        ] {
            let plain = sample(args.clone());
            let before = plain.encode();
            let mut failed = plain.clone();
            failed.record_failure(1, "a::r1", "boom", at);
            failed.record_failure(2, "a::r1", &"é".repeat(HISTORY_ERROR_BYTES), at);
            let d = Envelope::decode(&failed.encode()).unwrap();
            assert_eq!(d.history, failed.history);
            assert_eq!(d.args, args);
            assert_eq!(d.last_failure().unwrap().attempt, 2);
            let long = &d.history[1].error;
            assert!(
                long.len() <= HISTORY_ERROR_BYTES && long.ends_with('…'),
                "{long}"
            );
            // Without failures the bytes are those of earlier builds, which decode to none.
            assert!(Envelope::decode(&before).unwrap().history.is_empty());
            assert!(!String::from_utf8_lossy(&before).contains("history"));
        }
        let mut e = sample(Payload::Bincode(vec![]));
        for n in 1..=HISTORY_KEPT as u32 + 5 {
            e.record_failure(n, "r", "x", at);
        }
        assert_eq!(e.history.len(), HISTORY_KEPT);
        assert_eq!(e.history[0].attempt, 6, "the latest attempts are kept");
        // As a producer in another language (or a reader by eye) sees it.
        let d = Envelope::decode(
            br#"{"v":1,"signal":"s","attempt":2,"history":[{"attempt":1,"receiver":"r","error":"boom","at_ms":1764265230000}],"args":{}}"#,
        )
        .unwrap();
        assert_eq!(d.history[0].error, "boom");
        assert_eq!(d.history[0].at, at);
    }

    #[test]
    fn an_envelope_without_id_reads_the_same_every_time() {
        let bytes = br#"{"v":1,"signal":"demo.two_args","args":{"a":1,"b":"y"}}"#;
        let first = Envelope::decode(bytes).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let second = Envelope::decode(bytes).unwrap();
        assert_eq!(first.id, second.id);
        assert_eq!(first.enqueued_at, second.enqueued_at);
        // Without a time, the id's time part is 0: "unknown", shown as the Unix epoch.
        assert_eq!(first.enqueued_at, SystemTime::UNIX_EPOCH);
        // The specified derivation, so other readers can compute it too.
        assert_eq!(first.id, EnvelopeId::derived(bytes, 0));
        let other = Envelope::decode(br#"{"v":1,"signal":"demo.two_args","args":{"a":2,"b":"y"}}"#)
            .unwrap();
        assert_ne!(first.id, other.id);

        // With a time, the id sorts by it and the time is kept.
        let timed = br#"{"v":1,"signal":"s","enqueued_at_ms":1764265200000,"args":{}}"#;
        let d = Envelope::decode(timed).unwrap();
        assert_eq!(d.id, Envelope::decode(timed).unwrap().id);
        assert_eq!(d.id.0.timestamp_ms(), 1_764_265_200_000);
        assert_eq!(crate::engine::unix_ms(d.enqueued_at), 1_764_265_200_000);

        // Re-encoded (a retry), it keeps the derived id.
        assert_eq!(Envelope::decode(&d.encode()).unwrap().id, d.id);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = Envelope::decode(b"hello world").unwrap_err();
        assert!(err.0.contains("not a signalqueue envelope"), "{err}");
        let err = Envelope::decode(b"SQ\x01Babc").unwrap_err();
        assert!(err.0.contains("truncated"), "{err}");
        let err = Envelope::decode(b"SQ\x09B").unwrap_err();
        assert!(err.0.contains("version 9"), "{err}");
        let err = Envelope::decode(b"SQ\x01Xabc").unwrap_err();
        assert!(err.0.contains("unknown codec byte `X`"), "{err}");
        assert!(err.0.contains("known: `B`"), "{err}");
        assert!(!err.0.contains("version"), "{err}");
        let err = Envelope::decode(br#"{"v":1,"id":"nope","signal":"s","args":{}}"#).unwrap_err();
        assert!(err.0.contains("`id` \"nope\" is not a ULID"), "{err}");
        assert!(err.0.contains("26 characters of Crockford base32"), "{err}");
        let err = Envelope::decode(b"{\"v\":1}").unwrap_err();
        assert!(err.0.contains("malformed JSON envelope"), "{err}");
    }

    #[test]
    fn a_foreign_producer_s_mistakes_are_refused_with_the_reason() {
        let err = Envelope::decode(br#"{"v":1,"signal":"s","sendr":"x","args":{}}"#).unwrap_err();
        assert!(err.0.contains("unknown field `sendr`"), "{err}");
        assert!(err.0.contains("`sender`"), "{err}");
        let err = Envelope::decode(br#"{"v":1,"signal":"s","args":[7,"x"]}"#).unwrap_err();
        assert!(err.0.contains("`args` must be a JSON object"), "{err}");
        assert!(err.0.contains("not an array"), "{err}");
        let err = Envelope::decode(br#"{"v":1,"signal":"s","attempt":0,"args":{}}"#).unwrap_err();
        assert!(err.0.contains("attempts count from 1"), "{err}");
        let d = Envelope::decode(br#"{"v":1,"signal":"s","attempt":2,"args":{}}"#).unwrap();
        assert_eq!(d.attempt, 2);
    }

    #[test]
    fn content_key_ignores_id_and_time() {
        let a = Envelope::new("s", None, Payload::Bincode(vec![1]));
        let b = Envelope::new("s", None, Payload::Bincode(vec![1]));
        let c = Envelope::new("s", Some("x".into()), Payload::Bincode(vec![1]));
        assert_ne!(a.id, b.id);
        assert_eq!(a.content_key(), b.content_key());
        assert_ne!(a.content_key(), c.content_key());
    }
}
