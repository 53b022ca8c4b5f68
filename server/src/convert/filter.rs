//! `AccountFilter` and `QueryFilter`. Their bounds (limit, timestamps, flags) are checked by
//! the core's query functions, which answer `InvalidFilter`; only the 16-bit `code` is checked
//! here.

use tally_ledger::{AccountFilter, QueryFilter};
use tally_proto::{u128_from_wire as from, v1};

use super::{code, Invalid};

/// A wire account filter as the core's; an absent filter is refused.
pub fn account_filter_from_wire(f: Option<&v1::AccountFilter>) -> Result<AccountFilter, Invalid> {
    let f = f.ok_or_else(|| Invalid("filter is required".into()))?;
    Ok(AccountFilter {
        account_id: from(f.account_id),
        user_data_128: from(f.user_data_128),
        user_data_64: f.user_data_64,
        user_data_32: f.user_data_32,
        code: code("filter", 0, f.code)?,
        timestamp_min: f.timestamp_min,
        timestamp_max: f.timestamp_max,
        limit: f.limit,
        flags: f.flags,
    })
}

/// A wire query filter as the core's; an absent filter is refused.
pub fn query_filter_from_wire(f: Option<&v1::QueryFilter>) -> Result<QueryFilter, Invalid> {
    let f = f.ok_or_else(|| Invalid("filter is required".into()))?;
    Ok(QueryFilter {
        user_data_128: from(f.user_data_128),
        user_data_64: f.user_data_64,
        user_data_32: f.user_data_32,
        ledger: f.ledger,
        code: code("filter", 0, f.code)?,
        timestamp_min: f.timestamp_min,
        timestamp_max: f.timestamp_max,
        limit: f.limit,
        flags: f.flags,
    })
}
