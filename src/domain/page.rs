//! Keyset pagination shared by every list: `first` / `after` over rows ordered by id.
//!
//! Ids are UUID v7, so ordering by id is ordering by creation. The cursor is the last id seen,
//! base64url-encoded so clients treat it as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

/// A validated page request.
#[derive(Clone, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<String>,
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
            .map(|cursor| {
                decode_cursor(&cursor).ok_or_else(|| AppError::bad_input("after", "invalid cursor"))
            })
            .transpose()?;
        Ok(PageRequest { first, after })
    }
}

/// One page of rows plus what the connection needs to describe it.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub total_count: u64,
}

pub fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let id = String::from_utf8(bytes).ok()?;
    (!id.is_empty() && id.len() <= 64).then_some(id)
}
