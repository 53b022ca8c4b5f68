//! Parsers for the three provider feed formats, each into [`GameEvent`]s.
//!
//! | format | shape | amounts | kinds | time |
//! |---|---|---|---|---|
//! | `webhook-json` | one JSON object per line: `event`, `tx_id`, `round_id`, `player`, `operator`, `currency`, `amount` | integer minor units | `bet` `win` `rollback` | RFC 3339 `timestamp` |
//! | `batch-csv` | CSV with a header: `txn_id,round,type,player_id,brand,ccy,amount,time` | decimal string, major units | `BET` `WIN` `REFUND` | Unix seconds |
//! | `wallet-json` | one JSON object per line, nested: `transactionId`, `gameRound.id`, `action`, `account.{playerId,casino}`, `money.{amount,currency}`, `occurredAt` | decimal string, major units | `DEBIT` `CREDIT` `CANCEL` | Unix milliseconds |
//!
//! A malformed row is reported with its line number and skipped; it never stops the others.
//! Blank lines are ignored. An amount with more fractional digits than its currency's scale is an
//! error, never rounded.

use std::fmt;

use chrono::DateTime;
use serde::Deserialize;

use crate::event::{EventKind, GameEvent};
use crate::money::{parse_major, CurrencyTable};

/// A feed format (the `format` of a provider in the terms file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// JSON lines, integer minor units, RFC 3339 times.
    WebhookJson,
    /// CSV batch export, decimal major units, Unix seconds.
    BatchCsv,
    /// JSON lines with nested objects, decimal strings, Unix milliseconds.
    WalletJson,
}

/// A row of a feed that could not be normalized.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{provider} line {line}: {message}")]
pub struct FeedError {
    /// The provider whose feed it is.
    pub provider: String,
    /// 1-based line number in the file.
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// The round the row names, when it can still be read (its round is then held); `None`
    /// when the row is too broken to tell.
    pub round_id: Option<String>,
}

/// The events of a feed and the rows that failed.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Normalized events in file order.
    pub events: Vec<GameEvent>,
    /// One entry per rejected row.
    pub errors: Vec<FeedError>,
}

/// Parses `text`, the feed of `provider` in `format`.
pub fn parse(format: FeedFormat, provider: &str, text: &str, currencies: &CurrencyTable) -> Parsed {
    let mut parsed = Parsed::default();
    let mut push = |line: usize, row: Result<GameEvent, String>, round: Option<String>| match row {
        Ok(event) => parsed.events.push(GameEvent { line, ..event }),
        Err(message) => parsed.errors.push(FeedError {
            provider: provider.to_string(),
            line,
            message,
            round_id: round.filter(|r| !r.trim().is_empty()),
        }),
    };
    match format {
        FeedFormat::WebhookJson | FeedFormat::WalletJson => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let row = if format == FeedFormat::WebhookJson {
                    webhook_row(provider, line, currencies)
                } else {
                    wallet_row(provider, line, currencies)
                };
                let round = || {
                    let v: serde_json::Value = serde_json::from_str(line).ok()?;
                    let r = match format {
                        FeedFormat::WebhookJson => v.get("round_id")?,
                        _ => v.get("gameRound")?.get("id")?,
                    };
                    r.as_str().map(str::to_string)
                };
                let round = if row.is_err() { round() } else { None };
                push(i + 1, row, round);
            }
        }
        FeedFormat::BatchCsv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .flexible(true)
                .from_reader(text.as_bytes());
            let headers = match reader.headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    push(1, Err(format!("bad CSV header: {e}")), None);
                    return parsed;
                }
            };
            let round_column = headers.iter().position(|h| h == "round");
            for record in reader.records() {
                match record {
                    Ok(r) => {
                        let line = r.position().map_or(0, |p| p.line() as usize);
                        let round = round_column.and_then(|i| r.get(i)).map(str::to_string);
                        let row = if r.len() != headers.len() {
                            Err(format!(
                                "bad CSV row: {} fields where the header has {}",
                                r.len(),
                                headers.len()
                            ))
                        } else {
                            r.deserialize::<CsvFields>(Some(&headers))
                                .map_err(|e| format!("bad CSV row: {e}"))
                                .and_then(|f| csv_row(provider, f, currencies))
                        };
                        push(line, row, round);
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line() as usize);
                        push(line, Err(format!("bad CSV row: {e}")), None);
                    }
                }
            }
        }
    }
    parsed
}

#[derive(Deserialize)]
struct WebhookRow {
    event: String,
    tx_id: String,
    round_id: String,
    player: String,
    operator: String,
    currency: String,
    #[serde(deserialize_with = "minor_units")]
    amount: u64,
    timestamp: String,
    #[serde(default)]
    ref_tx_id: Option<String>,
}

/// A webhook amount: a JSON integer of minor units, up to `u64::MAX`. A fraction or an exponent
/// (`12.5`, `1e5`) is refused, and so is a number too large for 64 bits, each with its reason.
fn minor_units<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = u64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer number of minor units")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::custom(format!("amount {v} is negative")))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u64, E> {
            // serde_json reads integers above u64::MAX as floats.
            if v >= 18_446_744_073_709_551_616.0 && v.fract() == 0.0 {
                Err(E::custom(format!(
                    "amount {v:e} does not fit: webhook amounts are at most {} minor units",
                    u64::MAX
                )))
            } else if v < 0.0 {
                Err(E::custom(format!("amount {v} is negative")))
            } else {
                Err(E::custom(format!(
                    "amount {v} must be an integer number of minor units, written without a \
                     fraction or an exponent"
                )))
            }
        }
    }
    deserializer.deserialize_any(Visitor)
}

fn webhook_row(
    provider: &str,
    line: &str,
    currencies: &CurrencyTable,
) -> Result<GameEvent, String> {
    let row: WebhookRow = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let kind = match row.event.as_str() {
        "bet" => EventKind::Bet,
        "win" => EventKind::Win,
        "rollback" => EventKind::Rollback,
        other => return Err(format!("unknown event type {other:?}")),
    };
    let bet_ref = bet_ref(kind, "ref_tx_id", row.ref_tx_id)?;
    let currency = currencies.get(&row.currency).map_err(|e| e.to_string())?;
    currencies.check_max(currency, u128::from(row.amount))?;
    let time = DateTime::parse_from_rfc3339(&row.timestamp)
        .map_err(|e| format!("bad timestamp {:?}: {e}", row.timestamp))?
        .timestamp();
    Ok(GameEvent {
        provider: provider.to_string(),
        event_id: nonempty("tx_id", row.tx_id)?,
        round_id: nonempty("round_id", row.round_id)?,
        kind,
        player: row.player,
        operator: nonempty("operator", row.operator)?,
        currency: currency.code.clone(),
        amount: u128::from(row.amount),
        time,
        line: 0,
        bet_ref,
    })
}

#[derive(Deserialize)]
struct CsvFields {
    txn_id: String,
    round: String,
    #[serde(rename = "type")]
    kind: String,
    player_id: String,
    brand: String,
    ccy: String,
    amount: String,
    time: i64,
    #[serde(default)]
    ref_txn_id: Option<String>,
}

fn csv_row(
    provider: &str,
    row: CsvFields,
    currencies: &CurrencyTable,
) -> Result<GameEvent, String> {
    let kind = match row.kind.as_str() {
        "BET" => EventKind::Bet,
        "WIN" => EventKind::Win,
        "REFUND" => EventKind::Rollback,
        other => return Err(format!("unknown type {other:?}")),
    };
    let bet_ref = bet_ref(kind, "ref_txn_id", row.ref_txn_id)?;
    let (currency, amount) = major_amount(currencies, &row.ccy, &row.amount)?;
    Ok(GameEvent {
        provider: provider.to_string(),
        event_id: nonempty("txn_id", row.txn_id)?,
        round_id: nonempty("round", row.round)?,
        kind,
        player: row.player_id,
        operator: nonempty("brand", row.brand)?,
        currency,
        amount,
        time: row.time,
        line: 0,
        bet_ref,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WalletRow {
    transaction_id: String,
    game_round: WalletRound,
    action: String,
    account: WalletAccount,
    money: WalletMoney,
    occurred_at: i64,
    #[serde(default)]
    ref_transaction_id: Option<String>,
}

#[derive(Deserialize)]
struct WalletRound {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WalletAccount {
    player_id: String,
    casino: String,
}

#[derive(Deserialize)]
struct WalletMoney {
    amount: String,
    currency: String,
}

fn wallet_row(provider: &str, line: &str, currencies: &CurrencyTable) -> Result<GameEvent, String> {
    let row: WalletRow = serde_json::from_str(line).map_err(|e| format!("bad JSON: {e}"))?;
    let kind = match row.action.as_str() {
        "DEBIT" => EventKind::Bet,
        "CREDIT" => EventKind::Win,
        "CANCEL" => EventKind::Rollback,
        other => return Err(format!("unknown action {other:?}")),
    };
    let bet_ref = bet_ref(kind, "refTransactionId", row.ref_transaction_id)?;
    let (currency, amount) = major_amount(currencies, &row.money.currency, &row.money.amount)?;
    Ok(GameEvent {
        provider: provider.to_string(),
        event_id: nonempty("transactionId", row.transaction_id)?,
        round_id: nonempty("gameRound.id", row.game_round.id)?,
        kind,
        player: row.account.player_id,
        operator: nonempty("account.casino", row.account.casino)?,
        currency,
        amount,
        time: row.occurred_at.div_euclid(1000),
        line: 0,
        bet_ref,
    })
}

/// A decimal amount in major units of `code` (any case) as minor units, exactly.
fn major_amount(
    currencies: &CurrencyTable,
    code: &str,
    amount: &str,
) -> Result<(String, u128), String> {
    let currency = currencies.get(code).map_err(|e| e.to_string())?;
    let minor = parse_major(amount, currency)?;
    currencies.check_max(currency, minor)?;
    Ok((currency.code.clone(), minor))
}

/// The bet a rollback names (an empty value means the whole round); other kinds must not name one.
fn bet_ref(kind: EventKind, field: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(_) if kind != EventKind::Rollback => {
            Err(format!("{field} names a bet; only a rollback may"))
        }
        other => Ok(other),
    }
}

fn nonempty(field: &str, value: String) -> Result<String, String> {
    if value.trim().is_empty() {
        Err(format!("{field} is empty"))
    } else {
        Ok(value)
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeedFormat::WebhookJson => "webhook-json",
            FeedFormat::BatchCsv => "batch-csv",
            FeedFormat::WalletJson => "wallet-json",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::Terms;

    fn terms() -> Terms {
        Terms::parse(include_str!("../samples/terms.toml")).unwrap()
    }

    #[test]
    fn the_three_formats_normalize_to_the_same_event() {
        let t = terms();
        let webhook = r#"{"event":"bet","tx_id":"t1","round_id":"r1","player":"p","operator":"royal","currency":"EUR","amount":1250,"timestamp":"2026-11-20T01:00:00Z"}"#;
        let csv = "txn_id,round,type,player_id,brand,ccy,amount,time\nt1,r1,BET,p,royal,EUR,12.50,1795136400\n";
        let wallet = r#"{"transactionId":"t1","gameRound":{"id":"r1"},"action":"DEBIT","account":{"playerId":"p","casino":"royal"},"money":{"amount":"12.5","currency":"eur"},"occurredAt":1795136400999}"#;
        let parsed = [
            parse(FeedFormat::WebhookJson, "x", webhook, t.currencies()),
            parse(FeedFormat::BatchCsv, "x", csv, t.currencies()),
            parse(FeedFormat::WalletJson, "x", wallet, t.currencies()),
        ];
        for p in &parsed {
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            let e = &p.events[0];
            assert_eq!(
                (e.kind, e.amount, e.time),
                (EventKind::Bet, 1250, 1_795_136_400)
            );
            assert_eq!((e.currency.as_str(), e.operator.as_str()), ("EUR", "royal"));
            assert_eq!(e.day().to_string(), "2026-11-20");
        }
        assert_eq!(parsed[0].events[0].line, 1);
        assert_eq!(parsed[1].events[0].line, 2, "CSV lines count the header");
    }

    #[test]
    fn malformed_rows_are_reported_with_their_line_and_the_rest_parse() {
        let t = terms();
        let csv = "txn_id,round,type,player_id,brand,ccy,amount,time\n\
                   t1,r1,BET,p,royal,EUR,12.50,1\n\
                   t2,r1,BET,p,royal,EUR,12.505,1\n\
                   t3,r1,JACKPOT,p,royal,EUR,1,1\n\
                   t4,r1,BET,p,royal,JPY,1,1\n\
                   t5,r1,BET,p,royal,EUR,-1,1\n\
                   t6,r1,BET\n\
                   t7,r1,WIN,p,royal,EUR,abc,1\n\
                   t8,,WIN,p,royal,EUR,1,1\n\
                   t9,r1,WIN,p,royal,KRW,0.5,1\n";
        let p = parse(FeedFormat::BatchCsv, "beta", csv, t.currencies());
        assert_eq!(p.events.len(), 1);
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(
            p.errors[0].message.contains("fractional"),
            "{}",
            p.errors[0]
        );
        assert!(p.errors[1].message.contains("JACKPOT"));
        assert!(p.errors[2].message.contains("JPY"));
        assert!(p.errors[3].message.contains("negative"));
        assert!(p.errors[0].to_string().starts_with("beta line 3: "));

        let json = "\n{not json}\n{\"event\":\"bet\"}\n\
            {\"event\":\"spin\",\"tx_id\":\"t\",\"round_id\":\"r\",\"player\":\"p\",\"operator\":\"o\",\"currency\":\"USD\",\"amount\":1,\"timestamp\":\"2026-11-20T01:00:00Z\"}\n\
            {\"event\":\"bet\",\"tx_id\":\"t\",\"round_id\":\"r\",\"player\":\"p\",\"operator\":\"o\",\"currency\":\"USD\",\"amount\":-5,\"timestamp\":\"2026-11-20T01:00:00Z\"}\n\
            {\"event\":\"bet\",\"tx_id\":\"t\",\"round_id\":\"r\",\"player\":\"p\",\"operator\":\"o\",\"currency\":\"USD\",\"amount\":5,\"timestamp\":\"yesterday\"}\n";
        let p = parse(FeedFormat::WebhookJson, "alpha", json, t.currencies());
        assert!(p.events.is_empty());
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6], "{:?}", p.errors);
        assert!(p.errors[2].message.contains("spin"));
        assert!(p.errors[4].message.contains("timestamp"));

        let wallet = r#"{"transactionId":"t","gameRound":{"id":"r"},"action":"CREDIT","account":{"playerId":"p","casino":"o"},"money":{"amount":12.5,"currency":"EUR"},"occurredAt":1}"#;
        let p = parse(FeedFormat::WalletJson, "gamma", wallet, t.currencies());
        assert_eq!(p.errors.len(), 1, "a number where a string belongs");
    }

    proptest::proptest! {
        /// Arbitrary bytes, and sample lines with bytes changed, give events or line-numbered
        /// errors, never a panic; every input line is accounted for.
        #[test]
        fn garbage_never_panics(
            text in "\\PC{0,200}",
            cut in 0usize..400,
            noise in "[\\x00-\\x7f]{0,8}",
        ) {
            let t = terms();
            let sample = include_str!("../samples/feeds/gamma.jsonl");
            let cut = sample.char_indices().nth(cut).map_or(sample.len(), |(i, _)| i);
            let mangled = format!("{}{noise}{}", &sample[..cut], &sample[cut..]);
            for format in [FeedFormat::WebhookJson, FeedFormat::BatchCsv, FeedFormat::WalletJson] {
                for input in [text.as_str(), mangled.as_str()] {
                    let p = parse(format, "x", input, t.currencies());
                    let lines = input.lines().count();
                    proptest::prop_assert!(p.errors.iter().all(|e| e.line <= lines + 1));
                    if format != FeedFormat::BatchCsv {
                        let nonblank = input.lines().filter(|l| !l.trim().is_empty()).count();
                        proptest::prop_assert_eq!(p.events.len() + p.errors.len(), nonblank);
                    }
                }
            }
        }
    }

    #[test]
    fn a_rollback_may_name_one_bet_in_every_format() {
        let t = terms();
        let webhook = r#"{"event":"rollback","tx_id":"r","round_id":"R","ref_tx_id":"b2","player":"p","operator":"o","currency":"USD","amount":5,"timestamp":"2026-11-20T01:00:00Z"}"#;
        let csv = "txn_id,round,type,player_id,brand,ccy,amount,time,ref_txn_id\n\
                   r,R,REFUND,p,o,EUR,1,1,b2\nr2,R,REFUND,p,o,EUR,1,1,\nw,R,WIN,p,o,EUR,1,1,b2\n";
        let wallet = r#"{"transactionId":"r","gameRound":{"id":"R"},"action":"CANCEL","refTransactionId":"b2","account":{"playerId":"p","casino":"o"},"money":{"amount":"1","currency":"EUR"},"occurredAt":1}"#;
        let refs = |format, text: &str| {
            let p = parse(format, "x", text, t.currencies());
            let refs: Vec<Option<String>> = p.events.iter().map(|e| e.bet_ref.clone()).collect();
            (refs, p.errors)
        };
        let b2 = Some("b2".to_string());
        assert_eq!(
            refs(FeedFormat::WebhookJson, webhook),
            (vec![b2.clone()], vec![])
        );
        assert_eq!(
            refs(FeedFormat::WalletJson, wallet),
            (vec![b2.clone()], vec![])
        );
        let (events, errors) = refs(FeedFormat::BatchCsv, csv);
        assert_eq!(
            events,
            vec![b2, None],
            "an empty reference is the whole round"
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            "ref_txn_id names a bet; only a rollback may"
        );
        // Without the column, rollbacks are of the whole round.
        let plain = "txn_id,round,type,player_id,brand,ccy,amount,time\nr,R,REFUND,p,o,EUR,1,1\n";
        assert_eq!(refs(FeedFormat::BatchCsv, plain), (vec![None], vec![]));
    }

    #[test]
    fn the_sample_feeds_parse_cleanly() {
        let t = terms();
        for (name, text) in [
            ("alpha", include_str!("../samples/feeds/alpha.jsonl")),
            ("beta", include_str!("../samples/feeds/beta.csv")),
            ("gamma", include_str!("../samples/feeds/gamma.jsonl")),
        ] {
            let p = parse(t.provider(name).unwrap().format, name, text, t.currencies());
            assert!(p.errors.is_empty(), "{name}: {:?}", p.errors);
            assert!(p.events.len() > 10, "{name}");
        }
    }

    fn csv_amount(amount: &str, ccy: &str) -> Result<u128, String> {
        let t = terms();
        let text = format!(
            "txn_id,round,type,player_id,brand,ccy,amount,time\nt,r,BET,p,royal,{ccy},{amount},1\n"
        );
        let p = parse(FeedFormat::BatchCsv, "beta", &text, t.currencies());
        match (p.events.first(), p.errors.first()) {
            (Some(e), None) => Ok(e.amount),
            (None, Some(e)) => Err(e.message.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn amounts_are_plain_decimals_with_at_most_the_currency_scale() {
        assert_eq!(csv_amount("12.50", "EUR"), Ok(1_250));
        assert_eq!(csv_amount("12.5", "EUR"), Ok(1_250));
        assert_eq!(csv_amount("7", "KRW"), Ok(7));
        for bad in [
            "1e5", "1E5", "+5", "1.", ".5", "1_000", "0x10", "1 000", "١٢",
        ] {
            let err = csv_amount(bad, "EUR").unwrap_err();
            assert!(err.contains("bad amount"), "{bad}: {err}");
        }
        // Extra decimals are an error even when they are zeros.
        let err = csv_amount("1.500", "EUR").unwrap_err();
        assert!(
            err.contains("3 fractional digits") && err.contains("EUR has 2"),
            "{err}"
        );
        assert!(csv_amount("5.0", "KRW").is_err());
        assert!(csv_amount("-1", "EUR").unwrap_err().contains("negative"));
        // 2^128 cents: says what overflowed.
        let err = csv_amount("3402823669209384634633746074317682114.56", "EUR").unwrap_err();
        assert!(err.contains("does not fit in 128-bit minor units"), "{err}");
        let wallet = r#"{"transactionId":"t","gameRound":{"id":"r"},"action":"DEBIT","account":{"playerId":"p","casino":"o"},"money":{"amount":"1e5","currency":"EUR"},"occurredAt":1}"#;
        let p = parse(
            FeedFormat::WalletJson,
            "gamma",
            wallet,
            terms().currencies(),
        );
        assert!(p.errors[0].message.contains("bad amount"), "{:?}", p.errors);
    }

    #[test]
    fn webhook_amounts_are_integers_and_overflow_says_so() {
        let t = terms();
        let row = |amount: &str| {
            format!(
                r#"{{"event":"bet","tx_id":"t","round_id":"r","player":"p","operator":"o","currency":"USD","amount":{amount},"timestamp":"2026-11-20T01:00:00Z"}}"#
            )
        };
        let message = |amount: &str| {
            let p = parse(
                FeedFormat::WebhookJson,
                "alpha",
                &row(amount),
                t.currencies(),
            );
            p.errors.first().map(|e| e.message.clone())
        };
        assert_eq!(message("1250"), None);
        for bad in ["1e5", "12.5", "100000.0"] {
            let err = message(bad).unwrap();
            assert!(
                err.contains("integer number of minor units"),
                "{bad}: {err}"
            );
        }
        let err = message("99999999999999999999999").unwrap();
        assert!(
            err.contains("does not fit") && !err.contains("floating point"),
            "{err}"
        );
        assert!(message("-5").unwrap().contains("negative"));
    }

    #[test]
    fn amounts_above_the_maximum_are_refused() {
        let text = include_str!("../samples/terms.toml").replacen(
            "scale = 2\nfx_rate = \"1\"",
            "scale = 2\nfx_rate = \"1\"\nmax_amount = \"1000\"",
            1,
        );
        let t = Terms::parse(&text).unwrap();
        let webhook = |amount: u64| {
            format!(
                r#"{{"event":"bet","tx_id":"t","round_id":"r","player":"p","operator":"o","currency":"USD","amount":{amount},"timestamp":"2026-11-20T01:00:00Z"}}"#
            )
        };
        let p = parse(
            FeedFormat::WebhookJson,
            "alpha",
            &webhook(100_000),
            t.currencies(),
        );
        assert_eq!(p.errors, vec![]);
        let p = parse(
            FeedFormat::WebhookJson,
            "alpha",
            &webhook(100_001),
            t.currencies(),
        );
        assert_eq!(
            p.errors[0].message,
            "amount 1000.01 USD is above the maximum of 1000.00 USD (max_amount in the terms)"
        );
        // Without max_amount a currency allows 1,000,000,000 major units.
        assert!(csv_amount("1000000000", "KRW").is_ok());
        let err = csv_amount("1000000001", "KRW").unwrap_err();
        assert!(err.contains("above the maximum of 1000000000 KRW"), "{err}");
    }
}
