//! The content hash that makes identical pending signals collapse in `redis-set://`.
//!
//! The hash names a waiting entry in Redis, so it must be stable across processes, builds and
//! versions: SHA-1 over [`Envelope::content_key`](crate::Envelope::content_key), from
//! `sha1_smol` (small, no dependencies, and already linked through `redis`). SHA-1 is not used
//! for secrecy:
//! a collision would only make two different signals collapse, and producing one on purpose
//! costs far more than writing to the queue directly.

use sha1_smol::Sha1;

use crate::envelope::Envelope;

/// The dedup key of a payload, as 40 hex digits: the hash of its content key when it decodes as
/// an envelope (so ids and send times do not matter), else of its raw bytes. The two are told
/// apart by a prefix, so raw bytes can never collide with an envelope's content by design.
pub(crate) fn content_hash(payload: &[u8]) -> String {
    let mut hasher = Sha1::new();
    match Envelope::decode(payload) {
        Ok(envelope) => {
            hasher.update(b"envelope\0");
            hasher.update(&envelope.content_key());
        }
        Err(_) => {
            hasher.update(b"raw\0");
            hasher.update(payload);
        }
    }
    hasher.digest().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Payload;

    fn sha1_hex(data: &[u8]) -> String {
        Sha1::from(data).digest().to_string()
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            sha1_hex(&million_a),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
        // Fed in uneven pieces, the same digest.
        let mut h = Sha1::new();
        for piece in million_a.chunks(777) {
            h.update(piece);
        }
        assert_eq!(
            h.digest().to_string(),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn identical_content_hashes_alike_whatever_the_id() {
        let a = Envelope::new("s", None, Payload::Bincode(vec![1])).encode();
        let b = Envelope::new("s", None, Payload::Bincode(vec![1])).encode();
        let c = Envelope::new("s", Some("x".into()), Payload::Bincode(vec![1])).encode();
        assert_ne!(a, b);
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&c));
        assert_eq!(content_hash(b"hello"), content_hash(b"hello"));
        assert_ne!(content_hash(b"hello"), content_hash(b"hello!"));
    }
}
