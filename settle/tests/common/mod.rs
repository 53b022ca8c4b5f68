//! A real single-node Tally server in-process, and helpers to read balances.

#![allow(dead_code)]

use std::time::Duration;

use tally_client::Client;
use tally_server::config::StartArgs;
use tally_server::Node;
use tally_settle::chart::Party;
use tally_settle::feeds;
use tally_settle::ingest::{self, IngestReport};
use tally_settle::terms::Terms;

/// A node on 127.0.0.1:0 with a temp data dir, leading, and a client for it.
pub struct Server {
    pub node: Node,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = StartArgs {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        ..StartArgs::default()
    }
    .resolve()
    .unwrap();
    let node = Node::start(&config).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while !node.raft().is_leader() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the node leads");
    let client = Client::connect([node.addr().to_string()]).await.unwrap();
    Server {
        node,
        client,
        _dir: dir,
    }
}

pub fn sample_terms() -> Terms {
    Terms::parse(include_str!("../../samples/terms.toml")).unwrap()
}

/// Parses `(provider, text)` feeds and ingests them.
pub async fn ingest_texts(client: &Client, terms: &Terms, feeds: &[(&str, &str)]) -> IngestReport {
    let (mut events, mut errors) = (vec![], vec![]);
    for (provider, text) in feeds {
        let format = &terms.provider(provider).unwrap().format;
        let parsed = feeds::parse(format, provider, text, terms.currencies());
        events.extend(parsed.events);
        errors.extend(parsed.errors);
    }
    ingest::ingest(client, terms, events, errors).await.unwrap()
}

/// Posted credits minus debits of an account.
pub async fn net(client: &Client, id: u128) -> i128 {
    let a = client.lookup_accounts(&[id]).await.unwrap();
    let a = a.first().expect("account exists");
    a.credits_posted as i128 - a.debits_posted as i128
}

/// A partner's posted balance in its settlement currency.
pub async fn partner(client: &Client, terms: &Terms, party: &str) -> i128 {
    let p = Party::parse(party).unwrap();
    net(client, p.account(p.settlement_currency(terms).unwrap())).await
}

/// Every chart account, as Tally has it now.
pub async fn snapshot(client: &Client, terms: &Terms) -> Vec<tally_client::Account> {
    let ids: Vec<u128> = tally_settle::chart::accounts(terms)
        .iter()
        .map(|a| a.id)
        .collect();
    client.lookup_accounts(&ids).await.unwrap()
}

/// Every chart account's posted balance (credits - debits) and pending amounts, by id.
pub async fn balances(client: &Client, terms: &Terms) -> Vec<(u128, i128, u128, u128)> {
    snapshot(client, terms)
        .await
        .iter()
        .map(|a| {
            (
                a.id,
                a.credits_posted as i128 - a.debits_posted as i128,
                a.debits_pending,
                a.credits_pending,
            )
        })
        .collect()
}

/// A webhook-json line of provider alpha (operator royal, USD, 2026-11-20).
pub fn webhook(kind: &str, tx: &str, round: &str, amount: u64, time: &str) -> String {
    format!(
        r#"{{"event":"{kind}","tx_id":"{tx}","round_id":"{round}","player":"p","operator":"royal","currency":"USD","amount":{amount},"timestamp":"2026-11-20T{time}Z"}}"#
    )
}

/// A webhook-json rollback of one bet (`ref_tx_id`).
pub fn webhook_bet_rollback(tx: &str, round: &str, bet: &str, amount: u64, time: &str) -> String {
    format!(
        r#"{{"event":"rollback","tx_id":"{tx}","round_id":"{round}","ref_tx_id":"{bet}","player":"p","operator":"royal","currency":"USD","amount":{amount},"timestamp":"2026-11-20T{time}Z"}}"#
    )
}

/// Parses `(provider, text)` correction files and corrects, booking at `time`.
pub async fn correct_texts(
    client: &Client,
    terms: &Terms,
    feeds: &[(&str, &str)],
    time: i64,
) -> tally_settle::correct::CorrectReport {
    let (mut events, mut errors) = (vec![], vec![]);
    for (provider, text) in feeds {
        let format = &terms.provider(provider).unwrap().format;
        let parsed = feeds::parse(format, provider, text, terms.currencies());
        events.extend(parsed.events);
        errors.extend(parsed.errors);
    }
    tally_settle::correct::correct(client, terms, events, errors, time)
        .await
        .unwrap()
}

/// The balances a fresh Tally ends with after ingesting `feeds` alone.
pub async fn balances_of(terms: &Terms, feeds: &[(&str, &str)]) -> Vec<(u128, i128, u128, u128)> {
    let server = start().await;
    let r = ingest_texts(&server.client, terms, feeds).await;
    assert_eq!(r.failures, vec![]);
    balances(&server.client, terms).await
}
