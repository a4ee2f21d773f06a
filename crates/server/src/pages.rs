//! Reading a keyset-paged listing of the store to its end.

use baton_core::{Page, PageRequest};
use baton_store::StoreError;

const PAGE: u32 = 500;

/// Every item of a paged listing, `read` asked one page at a time.
pub(crate) async fn all<T, F, Fut>(mut read: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, StoreError>>,
{
    let mut items = Vec::new();
    let mut request = PageRequest::first(PAGE);
    loop {
        let page = read(request).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(cursor) => request = PageRequest::after(PAGE, cursor),
            None => return Ok(items),
        }
    }
}
