//! Keyset pagination. A page ends with an opaque cursor naming the last item's id; the next page
//! starts after it. No OFFSET: a page costs the same however deep it is, and rows inserted
//! meanwhile never shift or repeat items.

use serde::{Deserialize, Serialize};

/// The most items one page may hold.
pub const MAX_PAGE_SIZE: u32 = 500;
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// An opaque position in a list: the sort key of the last item of the previous page.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which page to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The first page of at most `limit` items (clamped to 1..=MAX_PAGE_SIZE).
    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, MAX_PAGE_SIZE),
            after: None,
        }
    }

    pub fn after(limit: u32, cursor: Cursor) -> Self {
        Self {
            limit: limit.clamp(1, MAX_PAGE_SIZE),
            after: Some(cursor),
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(DEFAULT_PAGE_SIZE)
    }
}

/// One page of a list, newest first unless the list says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow.
    pub next_cursor: Option<Cursor>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only tells that more follow.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last().map(cursor_of)
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, transform: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(transform).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_with_an_extra_row_has_a_cursor_at_its_last_item() {
        let page = Page::from_rows(vec![5, 4, 3], 2, |n| Cursor::new(n.to_string()));
        assert_eq!(page.items, vec![5, 4]);
        assert_eq!(page.next_cursor, Some(Cursor::new("4")));
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let page = Page::from_rows(vec![2, 1], 2, |n| Cursor::new(n.to_string()));
        assert_eq!(page.items, vec![2, 1]);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(PageRequest::first(0).limit, 1);
        assert_eq!(PageRequest::first(100_000).limit, MAX_PAGE_SIZE);
    }
}
