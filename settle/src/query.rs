//! Reads that return everything, page by page (Tally answers at most 8,189 results per call).

use tally_client::{AccountFilter, Client, QueryFilter, Transfer, BATCH_MAX};

use crate::error::Result;

/// Every transfer of `filter.account_id` matching the filter, oldest first.
pub async fn account_transfers(
    client: &Client,
    mut filter: AccountFilter,
) -> Result<Vec<Transfer>> {
    let mut out = Vec::new();
    loop {
        let page = client.get_account_transfers(filter).await?;
        let full = page.len() == BATCH_MAX;
        if let Some(last) = page.last() {
            filter.timestamp_min = last.timestamp + 1;
        }
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// Every transfer matching `filter`, oldest first.
pub async fn transfers(client: &Client, mut filter: QueryFilter) -> Result<Vec<Transfer>> {
    let mut out = Vec::new();
    loop {
        let page = client.query_transfers(filter).await?;
        let full = page.len() == BATCH_MAX;
        if let Some(last) = page.last() {
            filter.timestamp_min = last.timestamp + 1;
        }
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}
