//! The applied position: recorded even when a command is rejected whole, and moved alone by
//! `record_applied`.

use tally_ledger::{
    read_applied, Account, Command, Context, Ledger, LedgerError, MemStore, BATCH_MAX,
};

#[test]
fn deterministic_rejection_still_records_the_applied_position() {
    let mut ledger = Ledger::open(MemStore::new()).unwrap();
    let before = ledger.state_hash().unwrap();
    let too_many = Command::CreateAccounts(vec![Account::default(); BATCH_MAX + 1]);
    let err = ledger
        .apply(&too_many, &Context { timestamp: 5 }, Some(b"entry-7"))
        .unwrap_err();
    assert!(matches!(err, LedgerError::BatchTooLarge { .. }));
    assert!(err.is_deterministic());
    assert_eq!(
        ledger.state_hash().unwrap(),
        before,
        "no ledger state changed"
    );
    assert_eq!(
        read_applied(ledger.store()).unwrap(),
        Some(b"entry-7".to_vec())
    );

    let late = Context {
        timestamp: u64::MAX,
    };
    let err = ledger
        .apply(&Command::Pulse, &late, Some(b"entry-8"))
        .unwrap_err();
    assert!(matches!(err, LedgerError::ClockOutOfRange { .. }));
    assert_eq!(
        read_applied(ledger.store()).unwrap(),
        Some(b"entry-8".to_vec())
    );
    assert_eq!(ledger.state_hash().unwrap(), before);
}

#[test]
fn record_applied_moves_only_the_position() {
    let mut ledger = Ledger::open(MemStore::new()).unwrap();
    let before = ledger.state_hash().unwrap();
    ledger.record_applied(b"blank-entry-3").unwrap();
    assert_eq!(ledger.state_hash().unwrap(), before);
    assert_eq!(
        read_applied(ledger.store()).unwrap(),
        Some(b"blank-entry-3".to_vec())
    );
}
