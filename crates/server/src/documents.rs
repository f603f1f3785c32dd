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
//!
//! A kept document also keeps the cost analyses made of it without variables ([`ParsedDocuments::parse_analyzed`]):
//! an analysis depends only on the cost model, the document, the operation and the variables, and walking the
//! document again was 1.7 % of a page of 50 sites (issue #16). With variables, it is computed every time.

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;
use maillage_graphql::cost::Analysis;
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
    documents: LruCache<Arc<str>, Arc<Kept>>,
    bytes: usize,
}

/// How many analyses a kept document keeps: one per cost model and operation, and documents hold few operations.
const ANALYSES_KEPT: usize = 8;

/// A kept document and the analyses made of it without variables: by cost model (`model`, the caller's name for
/// it) and operation name.
struct Kept {
    document: ExecutableDocument,
    analyses: Mutex<Vec<KeptAnalysis>>,
}

/// An analysis kept: the cost model's number, the operation name, the analysis.
type KeptAnalysis = (usize, Option<Box<str>>, Analysis);

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
        self.kept(query).map(|kept| kept.document.clone())
    }

    /// The parsed `query` as [`ParsedDocuments::parse`] gives it, and `analyze`'s analysis of it for `operation`.
    /// Without variables, the analysis is kept with the document under `model` and `operation`: `model` names the
    /// cost model `analyze` applies (one number per model, the same every time).
    pub fn parse_analyzed(
        &self,
        query: &str,
        model: usize,
        operation: Option<&str>,
        without_variables: bool,
        analyze: impl FnOnce(&ExecutableDocument) -> Analysis,
    ) -> Option<(ExecutableDocument, Analysis)> {
        let kept = self.kept(query)?;
        if !without_variables {
            let analysis = analyze(&kept.document);
            return Some((kept.document.clone(), analysis));
        }
        let lock = || kept.analyses.lock().unwrap_or_else(PoisonError::into_inner);
        let found = lock()
            .iter()
            .find(|(m, op, _)| *m == model && op.as_deref() == operation)
            .map(|(_, _, analysis)| *analysis);
        let analysis = match found {
            Some(analysis) => analysis,
            None => {
                let analysis = analyze(&kept.document);
                let mut analyses = lock();
                if analyses.len() < ANALYSES_KEPT {
                    analyses.push((model, operation.map(Box::from), analysis));
                }
                analysis
            }
        };
        Some((kept.document.clone(), analysis))
    }

    /// The kept document of `query`, parsed and kept now if it was not (a document that is not cacheable is parsed
    /// into a `Kept` of its own, kept nowhere).
    fn kept(&self, query: &str) -> Option<Arc<Kept>> {
        let cacheable = query.len() <= self.budget / 8;
        if cacheable {
            let cached = self.held().documents.get(query).map(Arc::clone);
            if cached.is_some() {
                return cached;
            }
        }
        self.parses.fetch_add(1, Ordering::Relaxed);
        let kept = Arc::new(Kept {
            document: async_graphql::parser::parse_query(query).ok()?,
            analyses: Mutex::default(),
        });
        if cacheable {
            let mut held = self.held();
            let key: Arc<str> = Arc::from(query);
            if held.documents.put(key, Arc::clone(&kept)).is_none() {
                held.bytes += query.len();
            }
            while held.bytes > self.budget {
                match held.documents.pop_lru() {
                    Some((text, _)) => held.bytes -= text.len(),
                    None => break,
                }
            }
        }
        Some(kept)
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

    /// Without variables, an analysis is made once per cost model and operation; with variables, every time. The
    /// document given is the same either way.
    #[test]
    fn analyses_without_variables_are_kept_with_the_document() {
        use maillage_graphql::cost::Analysis;
        use std::cell::Cell;
        let cache = ParsedDocuments::new(1 << 20);
        let q = "query A { sites(first: 2) { nodes { id } } } query B { hubs { name } }";
        let made = Cell::new(0);
        let analyze = |cost: u64| {
            let made = &made;
            move |_: &async_graphql::parser::types::ExecutableDocument| {
                made.set(made.get() + 1);
                Analysis {
                    cost,
                    ..Analysis::default()
                }
            }
        };
        let cost = |model, op, without_variables, given| {
            let (doc, analysis) = cache
                .parse_analyzed(q, model, op, without_variables, analyze(given))
                .unwrap();
            assert_eq!(operation_names(&doc), ["A", "B"]);
            analysis.cost
        };
        assert_eq!(cost(0, Some("A"), true, 5), 5);
        assert_eq!(cost(0, Some("A"), true, 6), 5, "kept");
        assert_eq!(made.get(), 1);
        assert_eq!(cost(0, Some("B"), true, 7), 7, "another operation");
        assert_eq!(cost(1, Some("A"), true, 8), 8, "another model");
        assert_eq!(cost(0, None, true, 9), 9, "no operation name");
        assert_eq!(cost(0, Some("A"), false, 10), 10, "with variables");
        assert_eq!(cost(0, Some("A"), false, 11), 11, "with variables, again");
        assert_eq!(made.get(), 6);
        assert_eq!(cost(1, Some("A"), true, 12), 8);
        assert_eq!(cache.parses(), 1);
        assert!(
            cache
                .parse_analyzed("{ sites(", 0, None, true, analyze(1))
                .is_none()
        );
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
