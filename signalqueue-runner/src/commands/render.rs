//! How stored entries are shown to people and scripts: times as RFC 3339, raw bytes as
//! base64, envelopes as JSON objects.

use std::time::SystemTime;

use serde_json::{json, Map, Value};
use signalqueue::{Envelope, Payload, Registry};

/// `t` as RFC 3339 in UTC with milliseconds (`2026-11-27T18:09:31.123Z`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Standard base64 with padding (RFC 4648).
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One stored entry as a JSON object: the envelope's fields and its arguments decoded by the
/// signal linked into this program; or, where that fails, the raw bytes and an `error`.
pub(crate) fn entry_json(key: &str, payload: &[u8], registry: &Registry) -> Value {
    let mut obj = Map::new();
    obj.insert("key".into(), json!(key));
    let envelope = match Envelope::decode(payload) {
        Ok(e) => e,
        Err(e) => {
            obj.insert("error".into(), json!(format!("malformed entry: {e}")));
            obj.insert("raw".into(), json!(base64(payload)));
            obj.insert("raw_text".into(), json!(String::from_utf8_lossy(payload)));
            return Value::Object(obj);
        }
    };
    obj.insert("id".into(), json!(envelope.id.to_string()));
    obj.insert("signal".into(), json!(envelope.signal));
    obj.insert("sender".into(), json!(envelope.sender));
    obj.insert("attempt".into(), json!(envelope.attempt));
    obj.insert("enqueued_at".into(), json!(rfc3339(envelope.enqueued_at)));
    // A delayed send's due time; null for one due when sent.
    obj.insert(
        "scheduled_for".into(),
        json!(envelope.scheduled_for.map(rfc3339)),
    );
    obj.insert("owed".into(), json!(envelope.owed));
    // The failed attempts so far, oldest first (empty for a first attempt).
    obj.insert("history".into(), history_json(&envelope));
    let decoded = match registry.signal(&envelope.signal) {
        None => Err(format!(
            "no signal named `{}` is linked into this program",
            envelope.signal
        )),
        Some(def) => def.args_to_json(&envelope.args).map_err(|e| e.to_string()),
    };
    match decoded {
        Ok(args) => {
            obj.insert("args".into(), args);
        }
        Err(error) => {
            obj.insert("args".into(), Value::Null);
            obj.insert("error".into(), json!(error));
            match &envelope.args {
                Payload::Bincode(bytes) => {
                    obj.insert("raw".into(), json!(base64(payload)));
                    obj.insert("raw_args".into(), json!(base64(bytes)));
                }
                Payload::Json(value) => {
                    obj.insert("raw_args".into(), value.clone());
                }
            }
        }
    }
    Value::Object(obj)
}

/// An envelope's failed attempts as JSON: `[{"attempt", "receiver", "error", "at"}]`, times as
/// RFC 3339.
pub(crate) fn history_json(envelope: &Envelope) -> Value {
    envelope
        .history
        .iter()
        .map(|f| {
            json!({
                "attempt": f.attempt,
                "receiver": f.receiver,
                "error": f.error,
                "at": rfc3339(f.at),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_times_as_rfc3339() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_802_971_123);
        assert_eq!(rfc3339(t), "2026-11-27T18:09:31.123Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn an_entry_shows_its_failed_attempts() {
        let mut e = Envelope::new("s", None, Payload::Json(json!({})));
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_802_971_123);
        e.record_failure(1, "r", "boom", at);
        let shown = entry_json("k", &e.encode(), Registry::global());
        assert_eq!(
            shown["history"],
            json!([{"attempt": 1, "receiver": "r", "error": "boom", "at": "2026-11-27T18:09:31.123Z"}])
        );
        let plain = Envelope::new("s", None, Payload::Json(json!({})));
        assert_eq!(
            entry_json("k", &plain.encode(), Registry::global())["history"],
            json!([])
        );
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe]), "//4=");
    }
}
