//! Parsed GraphQL documents, cached by their text. Producers and dashboards send the same few
//! documents over and over (only the variables change), and parsing was the largest single
//! CPU cost of a small request. The cache is bounded in entries and in the size of what it
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
        let cacheable = request.query.len() <= MAX_CACHED_BYTES;
        if cacheable && let Some(document) = self.lock().get(&request.query).cloned() {
            request.set_parsed_query(document);
            return request.parsed_query().ok();
        }
        let document = request.parsed_query().ok()?.clone();
        if cacheable {
            let mut parsed = self.lock();
            if parsed.len() >= MAX_DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(request.query.clone(), document);
        }
        request.parsed_query().ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        self.parsed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
