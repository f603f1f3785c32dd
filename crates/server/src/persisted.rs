//! Persisted queries: Apollo's automatic persisted queries (APQ), and trusted documents.
//!
//! APQ saves bandwidth: a client sends `extensions.persistedQuery { version: 1, sha256Hash }` without the query;
//! if the server does not know the hash it answers `PersistedQueryNotFound` and the client retries with both, which
//! registers the document. The cache is bounded and per instance.
//!
//! Trusted documents (`MAILLAGE_TRUSTED_DOCUMENTS`) are for production partners: only the documents of a manifest
//! built at the partner's release run, by hash or by full text; anything else is refused before parsing.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The lower-case hex SHA-256 of a document, as APQ clients compute it.
pub fn sha256_hex(text: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The documents a trusted-documents deployment accepts: hash → document, read once at startup.
#[derive(Debug, Clone)]
pub struct TrustedDocuments(Arc<HashMap<String, String>>);

impl TrustedDocuments {
    /// Reads a manifest `{ "<sha256 hex>": "<document>", … }`. Every key must be its document's hash, so a
    /// manifest built by another tool with other ids is refused at startup rather than failing every request.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        Self::from_json(&text).map_err(|e| format!("{path}: {e}"))
    }

    /// The manifest from its JSON text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let map: HashMap<String, String> = serde_json::from_str(text)
            .map_err(|e| format!("expected a JSON object of sha256 hash → document: {e}"))?;
        let mut documents = HashMap::with_capacity(map.len());
        for (hash, document) in map {
            let actual = sha256_hex(&document);
            if !hash.eq_ignore_ascii_case(&actual) {
                return Err(format!(
                    "the key {hash} is not the sha256 of its document ({actual})"
                ));
            }
            documents.insert(actual, document);
        }
        Ok(Self(Arc::new(documents)))
    }

    /// The registered document with this hash.
    pub fn get(&self, hash: &str) -> Option<&str> {
        self.0.get(&hash.to_ascii_lowercase()).map(String::as_str)
    }

    /// Number of registered documents.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the manifest is empty (then nothing runs).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Documents by hash, and hashes in registration order (for eviction).
type Registered = (HashMap<String, Arc<str>>, VecDeque<String>);

/// The automatic persisted queries this instance has seen: bounded, oldest registration evicted first.
pub struct ApqCache {
    capacity: usize,
    inner: Mutex<Registered>,
}

impl ApqCache {
    /// A cache of at most `capacity` documents (0: APQ disabled).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// Whether APQ is enabled.
    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The document registered under `hash`.
    pub fn get(&self, hash: &str) -> Option<Arc<str>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.0.get(&hash.to_ascii_lowercase()).cloned()
    }

    /// Registers a document (the caller has checked that `hash` is its hash).
    pub fn insert(&self, hash: &str, document: &str) {
        if self.capacity == 0 {
            return;
        }
        let hash = hash.to_ascii_lowercase();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *inner;
        if map.contains_key(&hash) {
            return;
        }
        while map.len() >= self.capacity {
            match order.pop_front() {
                Some(oldest) => {
                    map.remove(&oldest);
                }
                None => break,
            }
        }
        map.insert(hash.clone(), Arc::from(document));
        order.push_back(hash);
    }
}

/// `extensions.persistedQuery` of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedQuery {
    /// The document's SHA-256, lower-case hex.
    pub sha256_hash: String,
}

/// Why `extensions.persistedQuery` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistedQueryError {
    /// Not an object with `version: 1` and a hex `sha256Hash`.
    Malformed(&'static str),
}

/// Reads `extensions.persistedQuery`, if any.
pub fn persisted_query(
    extensions: Option<&serde_json::Value>,
) -> Result<Option<PersistedQuery>, PersistedQueryError> {
    let Some(pq) = extensions.and_then(|e| e.get("persistedQuery")) else {
        return Ok(None);
    };
    if pq.get("version").and_then(serde_json::Value::as_i64) != Some(1) {
        return Err(PersistedQueryError::Malformed(
            "persistedQuery.version must be 1",
        ));
    }
    let hash = pq
        .get("sha256Hash")
        .and_then(serde_json::Value::as_str)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(PersistedQueryError::Malformed(
            "persistedQuery.sha256Hash must be 64 hexadecimal characters",
        ))?;
    Ok(Some(PersistedQuery {
        sha256_hash: hash.to_ascii_lowercase(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hashes_like_apollo_clients() {
        // As `printf %s "{ __typename }" | sha256sum` prints it.
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }

    #[test]
    fn manifest_keys_must_be_hashes() {
        let doc = "{ hubs { slug } }";
        let ok = format!("{{\"{}\": {}}}", sha256_hex(doc), serde_json::json!(doc));
        let docs = TrustedDocuments::from_json(&ok).unwrap();
        assert_eq!(docs.get(&sha256_hex(doc).to_uppercase()), Some(doc));
        assert!(TrustedDocuments::from_json(r#"{"abc": "{ hubs { slug } }"}"#).is_err());
        assert!(TrustedDocuments::from_json("[]").is_err());
    }

    #[test]
    fn cache_is_bounded() {
        let cache = ApqCache::new(2);
        for q in ["a", "b", "c"] {
            cache.insert(&sha256_hex(q), q);
        }
        assert!(cache.get(&sha256_hex("a")).is_none());
        assert_eq!(cache.get(&sha256_hex("c")).as_deref(), Some("c"));
    }

    #[test]
    fn reads_the_extension() {
        let h = "a".repeat(64);
        let ext = serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": h } });
        assert_eq!(persisted_query(Some(&ext)).unwrap().unwrap().sha256_hash, h);
        assert!(
            persisted_query(Some(&serde_json::json!({})))
                .unwrap()
                .is_none()
        );
        let bad = serde_json::json!({ "persistedQuery": { "version": 2, "sha256Hash": h } });
        assert!(persisted_query(Some(&bad)).is_err());
    }
}
