//! What one HTTP request may spend, summed over every operation of a batch and every alias.
//!
//! The complexity limit refuses, before anything runs, a request whose lists and large fields
//! would cost too much (list fields weigh their page size, `Event.payload` weighs
//! [`PAYLOAD_COMPLEXITY`]). Three budgets then bound what gets past it:
//! - response bytes (`HOOKD_MAX_RESPONSE_BYTES`): the large fields (payloads, response bodies)
//!   charge their size as they resolve; past the budget the request's whole response is one
//!   `RESPONSE_TOO_LARGE` error instead of the data;
//! - mutation root fields ([`MAX_MUTATIONS`]): counted in the parsed documents, so a batch of
//!   aliased mutations is refused with `LIMIT_EXCEEDED` before any of them runs;
//! - outbound test deliveries ([`MAX_TEST_SENDS`]): `testHook` charges one per event.
//!
//! A subscription selects exactly one root field (the GraphQL spec's rule), checked here too.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, OperationType, Selection, SelectionSet};
use async_graphql::{Context, Name, Positioned, Response, ServerResult, Variables};

use crate::error::AppError;
use crate::graphql::documents::Documents;

/// Complexity of one `Event.payload` (up to 256 KiB): twenty payloads fit in a request, a page
/// of a hundred does not.
pub const PAYLOAD_COMPLEXITY: usize = 50;
/// Fields a document may have once its fragments are expanded (every path counted); anything
/// larger would be refused by the complexity limit anyway (each field costs at least 1).
pub const MAX_EXPANDED_FIELDS: usize = 2 * crate::graphql::MAX_COMPLEXITY;
/// Mutation root fields in one HTTP request, all operations and aliases together.
pub const MAX_MUTATIONS: usize = 100;
/// Test deliveries `testHook` may send for one HTTP request.
pub const MAX_TEST_SENDS: usize = 30;

/// The complexity of a page of `first` items (default 20, at most 100): each item costs what
/// its selection costs.
pub fn page(first: Option<i32>, child_complexity: usize) -> usize {
    let items = first.map_or(20, |f| f.clamp(0, 100)) as usize;
    items.max(1) * child_complexity
}

/// One HTTP request's budget, shared by the operations of a batch.
#[derive(Debug)]
pub struct RequestBudget {
    max_bytes: usize,
    bytes: AtomicUsize,
    mutations: AtomicUsize,
    test_sends: AtomicUsize,
}

impl RequestBudget {
    pub fn new(max_bytes: usize) -> Arc<RequestBudget> {
        Arc::new(RequestBudget {
            max_bytes,
            bytes: AtomicUsize::new(0),
            mutations: AtomicUsize::new(0),
            test_sends: AtomicUsize::new(0),
        })
    }

    fn over_bytes(&self) -> bool {
        self.bytes.load(Ordering::Relaxed) > self.max_bytes
    }

    /// Charges `n` outbound test deliveries.
    pub fn test_sends(&self, n: usize) -> Result<(), AppError> {
        let n = n.min(MAX_TEST_SENDS + 1);
        let spent = self.test_sends.fetch_add(n, Ordering::Relaxed) + n;
        if spent > MAX_TEST_SENDS {
            return Err(AppError::LimitExceeded(format!(
                "at most {MAX_TEST_SENDS} test deliveries per HTTP request, all aliases and batched operations together"
            )));
        }
        Ok(())
    }
}

/// Charges a large field's `bytes` to the request's response budget; past it, the field fails
/// (and the whole response becomes one error).
pub fn charge_bytes(ctx: &Context<'_>, bytes: usize) -> Result<(), AppError> {
    let Some(budget) = ctx.data_opt::<Arc<RequestBudget>>() else {
        return Ok(());
    };
    let spent = budget.bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if spent > budget.max_bytes {
        return Err(too_large(budget.max_bytes));
    }
    Ok(())
}

fn too_large(max: usize) -> AppError {
    AppError::ResponseTooLarge(format!(
        "the response would exceed {max} bytes (HOOKD_MAX_RESPONSE_BYTES); ask for fewer items or leave out payloads"
    ))
}

/// Charges test deliveries to the request's budget (when the request has one).
pub fn charge_test_sends(ctx: &Context<'_>, n: usize) -> Result<(), AppError> {
    match ctx.data_opt::<Arc<RequestBudget>>() {
        Some(budget) => budget.test_sends(n),
        None => Ok(()),
    }
}

/// The extension that enforces the budgets of the request's [`RequestBudget`] (if it has one).
pub struct Budget;

impl ExtensionFactory for Budget {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Budget)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Budget {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // async-graphql's own checks after parsing (recursion depth, complexity, validation)
        // walk every path through the fragments: a chain of fragments that each spread the next
        // ten times has 10^n paths and would hold a core for minutes. Measure the expanded size
        // first, in time linear in the document, and refuse what no complexity limit would let
        // through anyway.
        let parsed = match ctx.data_opt::<Arc<Documents>>() {
            Some(documents) => documents.parsed(query),
            None => async_graphql::parser::parse_query(query).ok(),
        };
        if let Some(document) = parsed
            && expanded_fields(&document) > MAX_EXPANDED_FIELDS
        {
            return Err(AppError::LimitExceeded(format!(
                "the query expands to more than {MAX_EXPANDED_FIELDS} fields through its fragments"
            ))
            .into_server_error());
        }
        let document = next.run(ctx, query, variables).await?;
        // The GraphQL spec's "single root field" rule, which async-graphql does not enforce:
        // one subscription streams one field, so aliases cannot multiply a socket's streams.
        for (_, operation) in document.operations.iter() {
            if operation.node.ty == OperationType::Subscription
                && root_fields(&operation.node.selection_set.node, &document.fragments) != 1
            {
                return Err(AppError::bad_input(
                    "query",
                    "a subscription selects exactly one root field; open one subscription per field",
                )
                .into_server_error());
            }
        }
        if let Some(budget) = ctx.data_opt::<Arc<RequestBudget>>() {
            let fields: usize = document
                .operations
                .iter()
                .filter(|(_, op)| op.node.ty == OperationType::Mutation)
                .map(|(_, op)| root_fields(&op.node.selection_set.node, &document.fragments))
                .fold(0usize, usize::saturating_add)
                .min(MAX_MUTATIONS + 1);
            let spent = budget.mutations.fetch_add(fields, Ordering::Relaxed) + fields;
            if spent > MAX_MUTATIONS {
                return Err(AppError::LimitExceeded(format!(
                    "at most {MAX_MUTATIONS} mutation fields per HTTP request, all aliases and batched operations together"
                ))
                .into_server_error());
            }
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        match ctx.data_opt::<Arc<RequestBudget>>() {
            // Whatever was built is dropped here, and the client gets one clear error.
            Some(budget) if budget.over_bytes() => {
                Response::from_errors(vec![too_large(budget.max_bytes).into_server_error()])
            }
            _ => response,
        }
    }
}

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

/// Root fields of a selection set, through fragments.
fn root_fields(set: &SelectionSet, fragments: &Fragments) -> usize {
    count_fields(set, fragments, false, &mut HashMap::new())
}

/// Fields of every operation once fragments are expanded, every path counted.
fn expanded_fields(document: &ExecutableDocument) -> usize {
    let mut known = HashMap::new();
    document.operations.iter().fold(0usize, |sum, (_, operation)| {
        sum.saturating_add(count_fields(
            &operation.node.selection_set.node,
            &document.fragments,
            true,
            &mut known,
        ))
    })
}

/// Counts the fields of `set` through its fragments: its own level only, or (`deep`) every
/// level. This runs before validation, so fragments may spread each other in cycles or
/// exponentially (`...A ...A` in every fragment of a chain): each fragment is counted once and
/// remembered, a fragment being expanded counts as unbounded, and sums saturate, so the work is
/// linear in the document.
fn count_fields<'a>(
    set: &'a SelectionSet,
    fragments: &'a Fragments,
    deep: bool,
    known: &mut HashMap<&'a Name, Option<usize>>,
) -> usize {
    set.items.iter().fold(0usize, |sum, item| {
        let n = match &item.node {
            Selection::Field(field) if deep => {
                count_fields(&field.node.selection_set.node, fragments, deep, known).saturating_add(1)
            }
            Selection::Field(_) => 1,
            Selection::InlineFragment(inline) => count_fields(&inline.node.selection_set.node, fragments, deep, known),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                match (known.get(name), fragments.get(name)) {
                    (Some(Some(n)), _) => *n,
                    (Some(None), _) => usize::MAX,
                    (None, Some(fragment)) => {
                        known.insert(name, None);
                        let n = count_fields(&fragment.node.selection_set.node, fragments, deep, known);
                        known.insert(name, Some(n));
                        n
                    }
                    (None, None) => 0,
                }
            }
        };
        sum.saturating_add(n)
    })
}
