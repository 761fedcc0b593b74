//! Parsed GraphQL documents, cached by their text. Producers and dashboards send the same few
//! documents over and over (only the variables change), and parsing was the largest single
//! CPU cost of a small request. The HTTP layer (which needs the operation type) and the budget
//! extension (which measures a document before async-graphql walks it) share one cache, so a
//! request is parsed at most once, and a repeated one not at all. The cache is bounded in entries and in the size of what it
//! keeps; when full it starts over, so a client sending endless distinct documents only costs
//! itself the parse it would have paid anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Documents kept at most.
const MAX_DOCUMENTS: usize = 256;
/// Longer documents are parsed every time and never kept.
const MAX_CACHED_BYTES: usize = 4096;

#[derive(Default)]
pub struct Documents {
    parsed: Mutex<HashMap<String, ExecutableDocument>>,
}

impl Documents {
    /// Leaves `request`'s parsed document in it (from the cache, or parsed now and kept), so
    /// the schema does not parse it again; None when it does not parse (the schema then
    /// reports the syntax error).
    pub fn prepare<'r>(&self, request: &'r mut Request) -> Option<&'r ExecutableDocument> {
        let document = self.parsed(&request.query)?;
        request.set_parsed_query(document);
        request.parsed_query().ok()
    }

    /// `query` parsed: from the cache, or parsed now and kept.
    pub fn parsed(&self, query: &str) -> Option<ExecutableDocument> {
        let cacheable = query.len() <= MAX_CACHED_BYTES;
        if cacheable && let Some(document) = self.lock().get(query).cloned() {
            return Some(document);
        }
        let document = async_graphql::parser::parse_query(query).ok()?;
        if cacheable {
            let mut parsed = self.lock();
            if parsed.len() >= MAX_DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(query.to_owned(), document.clone());
        }
        Some(document)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        self.parsed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
