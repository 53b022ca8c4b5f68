//! openraft's storage suite on the RocksDB log store and the ledger state machine.

mod common;

use std::io;

use common::*;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use openraft::StorageError;
use tally_raft::{LedgerStateMachine, LogOptions, LogStore};

struct Builder;

fn storage_error(e: io::Error) -> StorageError<C> {
    StorageError::read(C::err_from_error(&e))
}

impl StoreBuilder<C, LogStore, LedgerStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, LedgerStateMachine), StorageError<C>> {
        let dir = tempfile::tempdir().map_err(storage_error)?;
        let log = LogStore::open(dir.path().join("raft-log"), &LogOptions::default())
            .map_err(|e| storage_error(e.into()))?;
        let sm = LedgerStateMachine::open(dir.path(), &small()).map_err(storage_error)?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_machine_passes_openraft_suite() -> Result<(), StorageError<C>> {
    tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Suite::test_all(Builder),
    )
    .await
    .expect("suite finishes in time")
}
