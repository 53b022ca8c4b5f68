//! A linked chain: a multi-leg payment whose legs apply together or not at all.
//!
//! A customer pays a merchant and the merchant pays the platform its fee, as one chain. The
//! customer's account may not go below zero, so the second payment, which the customer cannot
//! afford, fails, and its fee leg fails with it (`linked_event_failed`).
//!
//! Start a node (`tally start`), then `cargo run -p tally-client --example linked`
//! (`TALLY_ADDRESSES` overrides the address, comma-separated).

use tally_client::{id, Account, AccountFlags, Client, Currency, LinkedChain, Transfer};

const ASSET: u16 = 1;
const CUSTOMER: u16 = 2;
const MERCHANT: u16 = 3;
const REVENUE: u16 = 4;
const DEPOSIT: u16 = 1;
const PAYMENT: u16 = 2;
const FEE: u16 = 3;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addresses = std::env::var("TALLY_ADDRESSES").unwrap_or_else(|_| "127.0.0.1:7100".into());
    let client = Client::connect(addresses.split(',')).await?;
    let usd = Currency::new("USD", 840, 2)?;
    let amount = |text: &str| usd.to_minor(text.parse().expect("a decimal literal"));

    let (bank, customer, merchant, platform) = (id(), id(), id(), id());
    let accounts = LinkedChain::new()
        .push(Account::new(bank, usd.ledger, ASSET))
        .push(
            Account::new(customer, usd.ledger, CUSTOMER)
                .with_flags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        )
        .push(Account::new(merchant, usd.ledger, MERCHANT))
        .push(Account::new(platform, usd.ledger, REVENUE))
        .build();
    println!(
        "accounts: {:?}",
        names(&client.create_accounts(&accounts).await?)
    );

    let deposit = Transfer::new(id(), bank, customer, amount("100.00")?, usd.ledger, DEPOSIT);
    println!(
        "deposit 100.00: {:?}",
        names(&client.create_transfers(&[deposit]).await?)
    );

    for (price, fee) in [("80.00", "2.40"), ("50.00", "1.50")] {
        let chain = LinkedChain::new()
            .push(Transfer::new(
                id(),
                customer,
                merchant,
                amount(price)?,
                usd.ledger,
                PAYMENT,
            ))
            .push(Transfer::new(
                id(),
                merchant,
                platform,
                amount(fee)?,
                usd.ledger,
                FEE,
            ))
            .build();
        let results = client.create_transfers(&chain).await?;
        println!("pay {price} with fee {fee}: {:?}", names(&results));
    }

    let balances = client
        .lookup_accounts(&[customer, merchant, platform])
        .await?;
    for (name, account) in ["customer", "merchant", "platform"].iter().zip(balances) {
        let net = i128::try_from(account.credits_posted)? - i128::try_from(account.debits_posted)?;
        println!(
            "{name}: {}",
            tally_client::Decimal::from_i128_with_scale(net, 2)
        );
    }
    Ok(())
}

fn names<R: std::fmt::Display>(results: &[R]) -> Vec<String> {
    results.iter().map(ToString::to_string).collect()
}
