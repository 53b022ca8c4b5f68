//! One module per write operation.

pub(crate) mod create_account;
pub(crate) mod create_transfer;
pub mod expire;
