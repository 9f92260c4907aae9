//! Queue entries as the API and the status page show them: decoded where possible, raw with
//! the reason otherwise.
//!
//! Decoding never fails the request: an entry that is not an envelope, names a signal this
//! worker does not link, or whose arguments no longer decode is exactly the entry an operator
//! needs to see, so it is shown with a printable preview of its bytes and the decode error.

use serde::Serialize;
use signalqueue::engine::{DeadEntry, Entry, Listed};

pub(super) use crate::commands::render::rfc3339;
use signalqueue::{Envelope, Payload, Registry};

/// How many bytes of an undecodable entry the preview shows; enough to recognise it.
const RAW_PREVIEW_BYTES: usize = 256;

/// One pending entry or dead letter, for JSON and HTML.
#[derive(Clone, Debug, Serialize)]
pub(super) struct EntryView {
    /// The engine's key (what `replay` takes for a dead letter).
    pub(super) key: String,
    /// The envelope's id, when the envelope decodes.
    pub(super) id: Option<String>,
    pub(super) signal: Option<String>,
    pub(super) sender: Option<String>,
    pub(super) attempt: Option<u32>,
    /// RFC 3339, UTC, milliseconds.
    pub(super) enqueued_at: Option<String>,
    /// A delayed send's due time, RFC 3339 (`None`: due when sent). The entry counts as
    /// scheduled until then.
    pub(super) scheduled_for: Option<String>,
    /// The receivers still owed the signal (`None`: all of them).
    pub(super) owed: Option<Vec<String>>,
    /// `bincode` or `json`.
    pub(super) codec: Option<&'static str>,
    /// The arguments as JSON, when they decode.
    pub(super) args: Option<serde_json::Value>,
    /// Why the entry (or its arguments) did not decode.
    pub(super) error: Option<String>,
    /// A printable preview of the bytes that did not decode (the whole entry, or the
    /// arguments when only they failed), non-printable bytes as `\xNN`.
    pub(super) raw: Option<String>,
    /// How many bytes the entry holds.
    pub(super) size: usize,
    /// Dead letters only: why it died.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reason: Option<String>,
    /// Dead letters only: when it died, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) died_at: Option<String>,
    /// Dead letters only: why it died in one word (`receiver`, `decode`, `malformed`,
    /// `unknown_signal`, `unknown_receiver`, `poison`; `other` for a reason this build did not
    /// write).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<&'static str>,
    /// Where the entry is (`pending`, `scheduled`, `in_flight`, `dead`), when the engine browses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) section: Option<&'static str>,
    /// A scheduled entry's (or retry's) due time: when it becomes claimable, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) due: Option<String>,
    /// In flight: the worker holding it (its consumer id), when the engine recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) worker: Option<String>,
    /// In flight: when the current claim was made, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) since: Option<String>,
    /// In flight: when the lease runs out unless renewed, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) lease_until: Option<String>,
    /// How many times the engine handed the entry out, where it counts them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) deliveries: Option<u32>,
    /// The failed attempts so far, oldest first (from the envelope).
    pub(super) history: Vec<Failure>,
}

/// One failed attempt, for JSON and HTML.
#[derive(Clone, Debug, Serialize)]
pub(super) struct Failure {
    pub(super) attempt: u32,
    pub(super) receiver: String,
    pub(super) error: String,
    /// RFC 3339.
    pub(super) at: String,
}

impl EntryView {
    pub(super) fn pending(entry: &Entry) -> Self {
        decode(&entry.key, &entry.payload)
    }

    pub(super) fn dead(entry: &DeadEntry) -> Self {
        EntryView {
            reason: Some(entry.reason.clone()),
            died_at: Some(rfc3339(entry.died_at)),
            kind: Some(dead_kind(&entry.reason)),
            ..decode(&entry.key, &entry.payload)
        }
    }

    /// An entry as browsing found it, with what the engine knows of its place.
    pub(super) fn listed(entry: &Listed) -> Self {
        let mut view = decode(&entry.key, &entry.payload);
        view.section = Some(entry.section.name());
        view.due = entry.due.map(rfc3339);
        if let Some(holder) = &entry.holder {
            view.worker = holder.worker.clone();
            view.since = holder.since.map(rfc3339);
            view.lease_until = Some(rfc3339(holder.lease_until));
        }
        if let Some(death) = &entry.death {
            view.reason = Some(death.reason.clone());
            view.died_at = Some(rfc3339(death.died_at));
            view.kind = Some(dead_kind(&death.reason));
        }
        view.deliveries = entry.deliveries;
        view
    }

    /// The latest failed attempt, if any.
    pub(super) fn last_failure(&self) -> Option<&Failure> {
        self.history.last()
    }
}

fn dead_kind(reason: &str) -> &'static str {
    crate::worker::DeadKind::of_reason(reason).map_or("other", |k| k.as_str())
}

fn decode(key: &str, bytes: &[u8]) -> EntryView {
    let mut view = EntryView {
        key: key.to_string(),
        id: None,
        signal: None,
        sender: None,
        attempt: None,
        enqueued_at: None,
        scheduled_for: None,
        owed: None,
        codec: None,
        args: None,
        error: None,
        raw: None,
        size: bytes.len(),
        reason: None,
        died_at: None,
        kind: None,
        section: None,
        due: None,
        worker: None,
        since: None,
        lease_until: None,
        deliveries: None,
        history: Vec::new(),
    };
    let envelope = match Envelope::decode(bytes) {
        Ok(envelope) => envelope,
        Err(e) => {
            view.error = Some(e.to_string());
            view.raw = Some(preview(bytes));
            return view;
        }
    };
    view.id = Some(envelope.id.to_string());
    view.sender = envelope.sender.clone();
    view.attempt = Some(envelope.attempt);
    view.enqueued_at = Some(rfc3339(envelope.enqueued_at));
    view.scheduled_for = envelope.scheduled_for.map(rfc3339);
    view.owed = envelope.owed.clone();
    view.history = envelope
        .history
        .iter()
        .map(|f| Failure {
            attempt: f.attempt,
            receiver: f.receiver.clone(),
            error: f.error.clone(),
            at: rfc3339(f.at),
        })
        .collect();
    view.codec = Some(match envelope.args {
        Payload::Bincode(_) => "bincode",
        Payload::Json(_) => "json",
    });
    match Registry::global().signal(&envelope.signal) {
        Some(def) => match def.args_to_json(&envelope.args) {
            Ok(args) => view.args = Some(args),
            Err(e) => {
                view.error = Some(e.to_string());
                view.raw = Some(args_preview(&envelope.args));
            }
        },
        None => {
            view.error = Some(format!(
                "unknown signal `{}`: no signal with this wire name is linked into this worker",
                envelope.signal
            ));
            // JSON arguments read fine without the signal's types; bincode needs them.
            match &envelope.args {
                Payload::Json(v) => view.args = Some(v.clone()),
                Payload::Bincode(_) => view.raw = Some(args_preview(&envelope.args)),
            }
        }
    }
    view.signal = Some(envelope.signal);
    view
}

fn args_preview(args: &Payload) -> String {
    match args {
        Payload::Bincode(bytes) => preview(bytes),
        Payload::Json(v) => preview(v.to_string().as_bytes()),
    }
}

/// Printable ASCII as is, everything else as `\xNN`, cut at [`RAW_PREVIEW_BYTES`].
fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(RAW_PREVIEW_BYTES)];
    let mut out: String = shown.escape_ascii().to_string();
    if bytes.len() > shown.len() {
        out.push_str(&format!("… ({} more bytes)", bytes.len() - shown.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_shown_raw_with_its_error() {
        let v = decode("k1", b"hello\x00\xffworld");
        assert_eq!(v.raw.as_deref(), Some("hello\\x00\\xffworld"));
        assert!(v.error.unwrap().contains("not a signalqueue envelope"));
        assert_eq!(v.signal, None);
        assert_eq!(v.size, 12);
    }

    #[test]
    fn unknown_signal_keeps_json_args() {
        let bytes = br#"{"v":1,"signal":"nobody.links.this","args":{"a":1}}"#;
        let v = decode("k", bytes);
        assert_eq!(v.signal.as_deref(), Some("nobody.links.this"));
        assert_eq!(v.args, Some(serde_json::json!({"a": 1})));
        assert!(v
            .error
            .unwrap()
            .contains("unknown signal `nobody.links.this`"));
    }

    #[test]
    fn a_delayed_entry_shows_its_due_time() {
        let bytes = br#"{"v":1,"signal":"s","scheduled_for_ms":1795802971123,"args":{}}"#;
        let v = decode("k", bytes);
        assert_eq!(v.scheduled_for.as_deref(), Some("2026-11-27T18:09:31.123Z"));
        let v = decode("k", br#"{"v":1,"signal":"s","args":{}}"#);
        assert_eq!(v.scheduled_for, None);
    }

    #[test]
    fn long_previews_are_cut() {
        let p = preview(&[b'a'; 300]);
        assert!(p.ends_with("… (44 more bytes)"), "{p}");
    }
}
