//! Keyset pagination shared by every list: `first` / `after` over rows ordered by id.
//!
//! Ids are UUID v7, so ordering by id is ordering by creation. The cursor is the last id seen,
//! base64url-encoded so clients treat it as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A validated page request.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<String>,
    /// Whether to count every matching row (`totalCount`): a scan of the whole filtered set,
    /// skipped when the client did not ask for it.
    pub count: bool,
}

impl PageRequest {
    pub fn new(first: Option<i32>, after: Option<String>) -> AppResult<PageRequest> {
        let first = match first {
            None => DEFAULT_PAGE,
            Some(n) if (0..=MAX_PAGE as i32).contains(&n) => n as u64,
            Some(_) => {
                return Err(AppError::bad_input(
                    "first",
                    format!("first must be between 0 and {MAX_PAGE}"),
                ));
            }
        };
        let after = after
            .map(|cursor| decode_cursor(&cursor).ok_or_else(|| AppError::bad_input("after", "invalid cursor")))
            .transpose()?;
        Ok(PageRequest {
            first,
            after,
            count: true,
        })
    }

    /// The same page, counted only if `count`.
    pub fn counted(self, count: bool) -> PageRequest {
        PageRequest { count, ..self }
    }
}

/// List order. Configuration-like lists (hooks) read oldest first; activity (events,
/// deliveries) newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    OldestFirst,
    NewestFirst,
}

/// One page of rows plus what the connection needs to describe it.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// All matching rows; 0 when the request did not ask for the count.
    pub total_count: u64,
}

/// Runs `query` (already filtered and tenant-scoped) as one page ordered by `id`.
pub async fn fetch<E, C>(
    db: &C,
    query: Select<E>,
    id: E::Column,
    page: &PageRequest,
    order: Order,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let total_count = if page.count { query.clone().count(db).await? } else { 0 };
    let query = page_query(query, id, page, order);
    let mut items = query.all(db).await?;
    let has_next_page = items.len() as u64 > page.first;
    items.truncate(page.first as usize);
    Ok(Page {
        items,
        has_next_page,
        has_previous_page: page.after.is_some(),
        total_count,
    })
}

/// One page of `query`: after the cursor, ordered by `id`, one row more than the page to tell
/// whether another follows.
pub fn page_query<E: EntityTrait>(query: Select<E>, id: E::Column, page: &PageRequest, order: Order) -> Select<E> {
    let query = match (&page.after, order) {
        (Some(after), Order::OldestFirst) => query.filter(id.gt(after.as_str())),
        (Some(after), Order::NewestFirst) => query.filter(id.lt(after.as_str())),
        (None, _) => query,
    };
    let query = match order {
        Order::OldestFirst => query.order_by_asc(id),
        Order::NewestFirst => query.order_by_desc(id),
    };
    query.limit(page.first + 1)
}

pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    (!id.is_empty() && id.len() <= 64).then_some(id)
}
