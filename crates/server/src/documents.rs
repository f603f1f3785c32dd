//! Parsed documents by their text, so that a document sent again is not parsed again.
//!
//! Dashboards and partner applications send the same few documents over and over (with other variables). Parsing one
//! was 8 % of the server's instructions on a page of 50 sites and 19 % on one site with its relations (the bench's
//! Q1 and Q4, docs/PERFORMANCE.md), and the parsed form depends on nothing but the text: not on the caller, the
//! variables or the endpoint. Limits, cost and validation still run on every request, on the cached document.
//!
//! The cache is bounded by the total length of the texts it holds (a parsed document takes a few times its text), the
//! least recently used going first; a text longer than an eighth of the budget is parsed every time rather than
//! evicting the rest. A text that does not parse is not kept: async-graphql parses it again to report the error.

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Recently parsed documents, by their exact text.
pub struct ParsedDocuments {
    budget: usize,
    inner: Mutex<Held>,
    parses: AtomicU64,
}

/// The documents and the total length of their texts.
struct Held {
    documents: LruCache<Arc<str>, Arc<ExecutableDocument>>,
    bytes: usize,
}

impl ParsedDocuments {
    /// A cache holding at most `budget` bytes of document text (0: every document is parsed every time).
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Held {
                documents: LruCache::unbounded(),
                bytes: 0,
            }),
            parses: AtomicU64::new(0),
        }
    }

    /// The parsed `query`, from the cache when this text was parsed before; `None` when it does not parse.
    ///
    /// The document is cloned out of the cache: async-graphql takes the document it runs by value, and a clone
    /// shares the names and copies the tree, several times cheaper than parsing it.
    pub fn parse(&self, query: &str) -> Option<ExecutableDocument> {
        let cacheable = query.len() <= self.budget / 8;
        if cacheable {
            let cached = self.held().documents.get(query).map(Arc::clone);
            if let Some(document) = cached {
                return Some((*document).clone());
            }
        }
        self.parses.fetch_add(1, Ordering::Relaxed);
        let document = async_graphql::parser::parse_query(query).ok()?;
        if cacheable {
            let mut held = self.held();
            let key: Arc<str> = Arc::from(query);
            if held
                .documents
                .put(key, Arc::new(document.clone()))
                .is_none()
            {
                held.bytes += query.len();
            }
            while held.bytes > self.budget {
                match held.documents.pop_lru() {
                    Some((text, _)) => held.bytes -= text.len(),
                    None => break,
                }
            }
        }
        Some(document)
    }

    /// How many texts were parsed rather than found (for tests and the operations docs' reasoning).
    pub fn parses(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }

    /// The number of documents held and the total length of their texts.
    pub fn held_len(&self) -> (usize, usize) {
        let held = self.held();
        (held.documents.len(), held.bytes)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // A panic while holding the lock leaves at worst a document missing from the map: still a valid cache.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ParsedDocuments;
    use async_graphql::parser::types::DocumentOperations;

    fn operation_names(doc: &async_graphql::parser::types::ExecutableDocument) -> Vec<String> {
        match &doc.operations {
            DocumentOperations::Single(_) => vec![String::new()],
            DocumentOperations::Multiple(ops) => {
                let mut names: Vec<String> = ops.keys().map(|n| n.to_string()).collect();
                names.sort();
                names
            }
        }
    }

    #[test]
    fn a_document_sent_again_is_not_parsed_again() {
        let cache = ParsedDocuments::new(1 << 20);
        let q = "query A { sites(first: 2) { nodes { id } } } query B { hubs { name } }";
        let first = cache.parse(q).unwrap();
        let second = cache.parse(q).unwrap();
        assert_eq!(cache.parses(), 1);
        assert_eq!(operation_names(&first), ["A", "B"]);
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
        // Another text, even one differing by a space, is its own entry.
        cache.parse(&format!("{q} ")).unwrap();
        assert_eq!(cache.parses(), 2);
        assert_eq!(cache.held_len(), (2, 2 * q.len() + 1));
    }

    #[test]
    fn a_text_that_does_not_parse_is_parsed_each_time_and_not_kept() {
        let cache = ParsedDocuments::new(1 << 20);
        assert!(cache.parse("{ sites(first: ").is_none());
        assert!(cache.parse("{ sites(first: ").is_none());
        assert_eq!(cache.parses(), 2);
        assert_eq!(cache.held_len(), (0, 0));
    }

    #[test]
    fn the_least_recently_used_goes_when_the_texts_outgrow_the_budget() {
        // Texts of 17 bytes; a budget of 143 holds eight of them (136), and 17 is at most an eighth of it.
        let text = |i: usize| format!("{{ a{i} {{ b c d }} }} ");
        assert_eq!(text(1).len(), 17);
        let cache = ParsedDocuments::new(143);
        for i in 1..=8 {
            cache.parse(&text(i)).unwrap();
        }
        assert_eq!(cache.held_len(), (8, 136));
        cache.parse(&text(1)).unwrap(); // found, and now the most recently used
        assert_eq!(cache.parses(), 8);
        cache.parse(&text(9)).unwrap(); // 153 bytes: the least recently used, text 2, goes
        assert_eq!(cache.held_len(), (8, 136));
        cache.parse(&text(1)).unwrap();
        assert_eq!(cache.parses(), 9, "text 1 was used recently and stays");
        cache.parse(&text(2)).unwrap();
        assert_eq!(cache.parses(), 10, "text 2 was the least recently used");
    }

    #[test]
    fn a_text_longer_than_an_eighth_of_the_budget_is_not_kept() {
        let cache = ParsedDocuments::new(8 * 16);
        let long = "{ a1 { b c d } } "; // 17 bytes > 128 / 8
        cache.parse(long).unwrap();
        cache.parse(long).unwrap();
        assert_eq!(cache.parses(), 2);
        assert_eq!(cache.held_len(), (0, 0));
    }

    #[test]
    fn a_zero_budget_parses_every_time() {
        let cache = ParsedDocuments::new(0);
        cache.parse("{ hubs { name } }").unwrap();
        cache.parse("{ hubs { name } }").unwrap();
        assert_eq!(cache.parses(), 2);
        assert_eq!(cache.held_len(), (0, 0));
    }
}
