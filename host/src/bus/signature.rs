//! The message bus is a trust boundary. Anyone who can publish on `chowk.room.<room>.messages`
//! could otherwise show any text, as any sender, with any id, to every live stream of the room.
//! So the relay signs what it publishes: header [`SIGNATURE_HEADER`] is the hex HMAC-SHA256,
//! under a [`RelayKey`], of the subject, the message id (`Nats-Msg-Id`), the event
//! (`Chowk-Event`, empty if none) and the payload, each prefixed by its length (8 bytes, big
//! endian). Every host's live feed drops what does not verify. The key is derived from
//! `[nats] relay_secret`, or else from `[auth] jwt_secret`, which every host of a fleet already
//! shares; a subscriber outside the fleet that wants to verify needs `relay_secret`.

use ring::hmac;

/// The header carrying a relayed message's signature.
pub const SIGNATURE_HEADER: &str = "Chowk-Signature";

/// What the key is derived for (changing it invalidates every signature).
const PURPOSE: &[u8] = b"chowk relay signature v1";

/// The fleet's key for signing and verifying relayed messages.
#[derive(Clone)]
pub struct RelayKey(hmac::Key);

impl std::fmt::Debug for RelayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RelayKey(..)")
    }
}

impl RelayKey {
    /// The key every host with the same `secret` derives.
    pub fn derive(secret: &[u8]) -> Self {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), PURPOSE);
        RelayKey(hmac::Key::new(hmac::HMAC_SHA256, tag.as_ref()))
    }

    /// The signature of one publication.
    pub fn sign(&self, subject: &str, id: &str, event: Option<&str>, payload: &[u8]) -> String {
        hex::encode(hmac::sign(&self.0, &framed(subject, id, event, payload)))
    }

    /// Whether `signature` is this key's signature of the publication (in constant time).
    pub fn verify(
        &self,
        subject: &str,
        id: &str,
        event: Option<&str>,
        payload: &[u8],
        signature: &str,
    ) -> bool {
        let Ok(given) = hex::decode(signature) else {
            return false;
        };
        hmac::verify(&self.0, &framed(subject, id, event, payload), &given).is_ok()
    }
}

/// The signed bytes: each part prefixed by its length.
fn framed(subject: &str, id: &str, event: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let parts = [
        subject.as_bytes(),
        id.as_bytes(),
        event.unwrap_or_default().as_bytes(),
        payload,
    ];
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len() + 8).sum());
    for part in parts {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::RelayKey;

    #[test]
    fn a_signature_holds_for_its_publication_only() {
        let key = RelayKey::derive(b"a fleet secret of thirty-two bytes!");
        let subject = "chowk.room.lobby.messages";
        let signature = key.sign(subject, "1-0", None, b"{}");
        assert!(key.verify(subject, "1-0", None, b"{}", &signature));
        assert!(!key.verify(subject, "2-0", None, b"{}", &signature), "id");
        assert!(
            !key.verify(subject, "1-0", Some("approved"), b"{}", &signature),
            "event"
        );
        assert!(
            !key.verify(subject, "1-0", None, b"{ }", &signature),
            "payload"
        );
        assert!(!key.verify("chowk.room.other.messages", "1-0", None, b"{}", &signature));
        assert!(!key.verify(subject, "1-0", None, b"{}", "not hex"));
        let other = RelayKey::derive(b"another secret of thirty-two bytes");
        assert!(
            !other.verify(subject, "1-0", None, b"{}", &signature),
            "key"
        );
        // Parts are length-prefixed: moving bytes between them changes the signature.
        assert_ne!(
            key.sign("a", "bc", None, b""),
            key.sign("ab", "c", None, b"")
        );
    }
}
