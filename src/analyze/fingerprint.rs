//! Fingerprints: 16 hex digits that name a root cause the same way across runs, machines,
//! timestamps, instances, revisions and ids.

use sha2::{Digest, Sha256};

/// A root cause's fingerprint: its service and the signature of its cause.
pub fn fingerprint(service: &str, signature: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"log-gardener/v1\n");
    hasher.update(service.as_bytes());
    hasher.update(b"\n");
    hasher.update(signature.as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_lowercase_hex_digits_that_depend_on_service_and_signature() {
        let f = fingerprint("api", "exc:KeyError");
        assert_eq!(f.len(), 16);
        assert!(
            f.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(f, fingerprint("api", "exc:KeyError"));
        assert_ne!(f, fingerprint("worker", "exc:KeyError"));
        assert_ne!(f, fingerprint("api", "exc:ValueError"));
    }
}
