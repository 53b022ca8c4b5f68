//! Quickstart: two accounts, a transfer, a two-phase (pending, then posted) transfer, and the
//! balances that result.
//!
//! Start a node (`tally start`, which listens on 127.0.0.1:7100), then:
//!
//! ```text
//! cargo run -p tally-client --example quickstart
//! TALLY_ADDRESSES=10.0.0.1:7100,10.0.0.2:7100 cargo run -p tally-client --example quickstart
//! ```

use tally_client::{
    id, Account, Client, CreateTransferResult, Currency, Decimal, Error, PostAmount, Transfer,
};

/// Account and transfer codes are the application's own chart of accounts and reasons.
const CUSTOMER: u16 = 1;
const PAYMENT: u16 = 1;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addresses = std::env::var("TALLY_ADDRESSES").unwrap_or_else(|_| "127.0.0.1:7100".into());
    let client = Client::connect(addresses.split(',')).await?;
    let usd = Currency::new("USD", 840, 2)?;

    let (alice, bob) = (id(), id());
    let accounts = [
        Account::new(alice, usd.ledger, CUSTOMER),
        Account::new(bob, usd.ledger, CUSTOMER),
    ];
    for (account, result) in accounts
        .iter()
        .zip(client.create_accounts(&accounts).await?)
    {
        println!("create account {:x}: {result}", account.id);
    }

    // A plain transfer of 25.00 USD, sent through the batching single-event API.
    let payment = Transfer::new(
        id(),
        alice,
        bob,
        usd.to_minor("25.00".parse()?)?,
        usd.ledger,
        PAYMENT,
    );
    println!("transfer 25.00: {}", submit(&client, payment).await?);

    // Two-phase: reserve 40.00 for an hour, then post 30.00 of it (the rest is released).
    let hold = Transfer::new(
        id(),
        alice,
        bob,
        usd.to_minor(Decimal::from(40))?,
        usd.ledger,
        PAYMENT,
    )
    .pending(3_600);
    println!("pending 40.00: {}", submit(&client, hold).await?);
    let capture = Transfer::post(
        id(),
        hold.id,
        PostAmount::Partial(usd.to_minor("30".parse()?)?),
    );
    println!("post 30.00: {}", submit(&client, capture).await?);

    for account in client.lookup_accounts(&[alice, bob]).await? {
        println!(
            "{:x}: debits {} (pending {}), credits {} (pending {})",
            account.id,
            usd.to_decimal(account.debits_posted)?,
            usd.to_decimal(account.debits_pending)?,
            usd.to_decimal(account.credits_posted)?,
            usd.to_decimal(account.credits_pending)?,
        );
    }
    Ok(())
}

/// Sends one transfer until its outcome is known, or gives up after a few tries. An
/// indeterminate error means it may or may not have applied; sending the same transfer (same
/// id) again is safe and settles it. `Exists` means it was applied by an earlier attempt (the
/// client also resends on its own after a timeout or a leader change), so it counts as `Ok`.
async fn submit(client: &Client, transfer: Transfer) -> Result<CreateTransferResult, Error> {
    let mut resent = false;
    loop {
        match client.create_transfer(transfer).await {
            Ok(result) if result.is_applied() => return Ok(CreateTransferResult::Ok),
            Err(e) if e.is_indeterminate() && !resent => {
                eprintln!("outcome unknown, resending: {e}");
                resent = true;
            }
            other => return other,
        }
    }
}
