//! The generic feed engine: reads a provider's feed in the format its TOML configuration
//! describes (`format.rs`) into [`GameEvent`]s. The shipped formats:
//!
//! | format | shape | amounts | kinds | time |
//! |---|---|---|---|---|
//! | `webhook-json` | one JSON object per line: `event`, `tx_id`, `round_id`, `player`, `operator`, `currency`, `amount` | integer minor units | `bet` `win` `rollback` | RFC 3339 `timestamp` |
//! | `batch-csv` | CSV with a header: `txn_id,round,type,player_id,brand,ccy,amount,time` | decimal string, major units | `BET` `WIN` `REFUND` | Unix seconds |
//! | `wallet-json` | one JSON object per line, nested: `transactionId`, `gameRound.id`, `action`, `account.{playerId,casino}`, `money.{amount,currency}`, `occurredAt` | decimal string, major units | `DEBIT` `CREDIT` `CANCEL` | Unix milliseconds |
//!
//! A malformed row is reported with its line number and skipped; it never stops the others.
//! Blank lines are ignored. An amount with more fractional digits than its currency's scale is an
//! error, never rounded. Text fields of a JSON feed are strings (an integer is read as its
//! digits); amounts and times are as the format says.

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use crate::event::{EventKind, GameEvent};
pub use crate::format::FeedFormat;
use crate::format::{JsonAmount, Syntax, TimeFormat, Unit};
use crate::money::{parse_major, CurrencyTable};

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

/// One raw value of a row, before the format gives it a meaning.
enum Raw<'a> {
    /// A CSV cell (trimmed).
    Text(&'a str),
    /// A JSON value.
    Json(&'a Value),
}

/// A row of either syntax: looks fields up by the format's paths.
trait Row {
    /// The value at `path`, `None` when absent (a JSON `null` is absent).
    fn get(&self, path: &str) -> Option<Raw<'_>>;
}

struct JsonRow(Value);

impl Row for JsonRow {
    fn get(&self, path: &str) -> Option<Raw<'_>> {
        path.split('.')
            .try_fold(&self.0, |v, key| v.get(key))
            .filter(|v| !v.is_null())
            .map(Raw::Json)
    }
}

struct CsvRow<'a> {
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
}

impl Row for CsvRow<'_> {
    fn get(&self, path: &str) -> Option<Raw<'_>> {
        let i = self.headers.iter().position(|h| h == path)?;
        self.record.get(i).map(Raw::Text)
    }
}

/// Parses `text`, the feed of `provider` in `format`.
pub fn parse(
    format: &FeedFormat,
    provider: &str,
    text: &str,
    currencies: &CurrencyTable,
) -> Parsed {
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
    let reader = Reader {
        format,
        provider,
        currencies,
    };
    match format.syntax {
        Syntax::JsonLines => {
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let row = match serde_json::from_str::<Value>(line) {
                    Ok(v) if v.is_object() => JsonRow(v),
                    Ok(_) => {
                        push(i + 1, Err("bad JSON: expected an object".into()), None);
                        continue;
                    }
                    Err(e) => {
                        push(i + 1, Err(format!("bad JSON: {e}")), None);
                        continue;
                    }
                };
                let event = reader.event(&row);
                let round = event.is_err().then(|| reader.round_of(&row)).flatten();
                push(i + 1, event, round);
            }
        }
        Syntax::Csv => {
            let mut csv = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .flexible(true)
                .delimiter(format.delimiter)
                .from_reader(text.as_bytes());
            let headers = match csv.headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    push(1, Err(format!("bad CSV header: {e}")), None);
                    return parsed;
                }
            };
            for record in csv.records() {
                match record {
                    Ok(r) => {
                        let line = r.position().map_or(0, |p| p.line() as usize);
                        let row = CsvRow {
                            headers: &headers,
                            record: &r,
                        };
                        let round = reader.round_of(&row);
                        let event = if r.len() != headers.len() {
                            Err(format!(
                                "bad CSV row: {} fields where the header has {}",
                                r.len(),
                                headers.len()
                            ))
                        } else {
                            reader.event(&row)
                        };
                        push(line, event, round);
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

/// Reads rows of one provider's feed in one format.
struct Reader<'a> {
    format: &'a FeedFormat,
    provider: &'a str,
    currencies: &'a CurrencyTable,
}

impl Reader<'_> {
    fn event(&self, row: &dyn Row) -> Result<GameEvent, String> {
        let f = &self.format.fields;
        let kind_name = self.text(row, &f.kind)?;
        let kind = self
            .format
            .kind(&kind_name)
            .ok_or_else(|| format!("unknown {} {kind_name:?}", f.kind))?;
        let bet_ref = match &f.bet_ref {
            Some(path) => bet_ref(kind, path, self.optional_text(row, path)?)?,
            None => None,
        };
        let currency = self
            .currencies
            .get(&self.text(row, &f.currency)?)
            .map_err(|e| e.to_string())?;
        let amount = self.amount(row, currency)?;
        self.currencies.check_max(currency, amount)?;
        let time = self.time(row)?;
        Ok(GameEvent {
            provider: self.provider.to_string(),
            event_id: nonempty(&f.event_id, self.text(row, &f.event_id)?)?,
            round_id: nonempty(&f.round_id, self.text(row, &f.round_id)?)?,
            kind,
            player: self.text(row, &f.player)?,
            operator: nonempty(&f.operator, self.text(row, &f.operator)?)?,
            currency: currency.code.clone(),
            amount,
            time,
            line: 0,
            bet_ref,
        })
    }

    /// The round a rejected row names, if it can be read.
    fn round_of(&self, row: &dyn Row) -> Option<String> {
        self.optional_text(row, &self.format.fields.round_id)
            .ok()
            .flatten()
    }

    fn text(&self, row: &dyn Row, path: &str) -> Result<String, String> {
        self.optional_text(row, path)?
            .ok_or_else(|| format!("missing field `{path}`"))
    }

    fn optional_text(&self, row: &dyn Row, path: &str) -> Result<Option<String>, String> {
        match row.get(path) {
            None => Ok(None),
            Some(Raw::Text(s)) => Ok(Some(s.to_string())),
            Some(Raw::Json(Value::String(s))) => Ok(Some(s.clone())),
            Some(Raw::Json(Value::Number(n))) if n.is_u64() || n.is_i64() => {
                Ok(Some(n.to_string()))
            }
            Some(Raw::Json(v)) => Err(format!("{path} must be a string, not {v}")),
        }
    }

    /// The amount in minor units of `currency`, exactly.
    fn amount(&self, row: &dyn Row, currency: &tally_client::Currency) -> Result<u128, String> {
        let path = &self.format.fields.amount;
        let spec = &self.format.amount;
        let text = match row.get(path) {
            None => return Err(format!("missing field `{path}`")),
            Some(Raw::Text(s)) => s.to_string(),
            Some(Raw::Json(v)) => match (self.format.json_amount(), v) {
                (JsonAmount::Number, Value::Number(n)) => json_integer(n)?.to_string(),
                (JsonAmount::String, Value::String(s)) => s.clone(),
                (JsonAmount::Number, v) => {
                    return Err(format!("{path} must be a JSON integer, not {v}"))
                }
                (JsonAmount::String, v) => {
                    return Err(format!("{path} must be a JSON string, not {v}"))
                }
            },
        };
        match spec.unit {
            Unit::Major => {
                let text = match spec.decimal_point {
                    Some(point) if point != '.' => {
                        if text.contains('.') {
                            return Err(format!(
                                "bad amount {text:?}: the decimal point of this feed is {point:?}"
                            ));
                        }
                        text.replace(point, ".")
                    }
                    _ => text,
                };
                parse_major(&text, currency)
            }
            Unit::Minor => integer(&text, currency),
            Unit::Fixed => {
                let decimals = spec.decimals.unwrap_or(0);
                let value = integer(&text, currency)?;
                fixed_to_minor(value, decimals, currency)
                    .ok_or_else(|| fixed_error(&text, decimals, currency))
            }
        }
    }

    /// The event's time in Unix seconds.
    fn time(&self, row: &dyn Row) -> Result<i64, String> {
        let path = &self.format.fields.time;
        let raw = row
            .get(path)
            .ok_or_else(|| format!("missing field `{path}`"))?;
        let as_int = |raw: Raw| -> Result<i64, String> {
            match raw {
                Raw::Text(s) => s
                    .parse::<i64>()
                    .map_err(|e| format!("bad time {s:?} in {path}: {e}")),
                Raw::Json(Value::Number(n)) => n
                    .as_i64()
                    .ok_or_else(|| format!("bad time {n} in {path}: expected an integer")),
                Raw::Json(v) => Err(format!("bad time {v} in {path}: expected an integer")),
            }
        };
        let as_text = |raw: Raw| -> Result<String, String> {
            match raw {
                Raw::Text(s) => Ok(s.to_string()),
                Raw::Json(Value::String(s)) => Ok(s.clone()),
                Raw::Json(v) => Err(format!("bad time {v} in {path}: expected a string")),
            }
        };
        match &self.format.time {
            TimeFormat::UnixSeconds => as_int(raw),
            TimeFormat::UnixMillis => Ok(as_int(raw)?.div_euclid(1000)),
            TimeFormat::Rfc3339 => {
                let s = as_text(raw)?;
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.timestamp())
                    .map_err(|e| format!("bad time {s:?} in {path} (RFC 3339 timestamp): {e}"))
            }
            TimeFormat::Pattern(pattern) => {
                let s = as_text(raw)?;
                NaiveDateTime::parse_from_str(&s, pattern)
                    .map(|t| t.and_utc().timestamp())
                    .map_err(|e| format!("bad time {s:?} in {path} (format {pattern:?}): {e}"))
            }
        }
    }
}

/// A JSON amount: an integer of minor units, up to `u64::MAX`. A fraction or an exponent
/// (`12.5`, `1e5`) is refused, and so is a number too large for 64 bits, each with its reason.
fn json_integer(n: &serde_json::Number) -> Result<u64, String> {
    if let Some(v) = n.as_u64() {
        return Ok(v);
    }
    if let Some(v) = n.as_i64() {
        return Err(format!("amount {v} is negative"));
    }
    let v = n.as_f64().unwrap_or(f64::NAN);
    // serde_json reads integers above u64::MAX as floats.
    if v >= 18_446_744_073_709_551_616.0 && v.fract() == 0.0 {
        Err(format!(
            "amount {v:e} does not fit: JSON amounts are at most {} minor units",
            u64::MAX
        ))
    } else if v < 0.0 {
        Err(format!("amount {v} is negative"))
    } else {
        Err(format!(
            "amount {v} must be an integer number of minor units, written without a fraction or \
             an exponent"
        ))
    }
}

/// An integer amount written as ASCII digits.
fn integer(text: &str, currency: &tally_client::Currency) -> Result<u128, String> {
    if let Some(rest) = text.strip_prefix('-') {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("amount {text} is negative"));
        }
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "bad amount {text:?}: expected an integer (digits only, no sign, point, exponent, \
             separator or space)"
        ));
    }
    text.parse::<u128>()
        .ok()
        .filter(|&v| v != u128::MAX)
        .ok_or_else(|| {
            format!(
                "amount {text} {} does not fit in 128-bit minor units (at most {} minor units)",
                currency.code,
                u128::MAX - 1
            )
        })
}

/// `value` units of `10^-decimals` as minor units of `currency`, if exact and in range.
fn fixed_to_minor(value: u128, decimals: u32, currency: &tally_client::Currency) -> Option<u128> {
    let scale = currency.scale.places();
    if decimals <= scale {
        value
            .checked_mul(10u128.checked_pow(scale - decimals)?)
            .filter(|&v| v != u128::MAX)
    } else {
        let divisor = 10u128.checked_pow(decimals - scale)?;
        value.is_multiple_of(divisor).then_some(value / divisor)
    }
}

fn fixed_error(text: &str, decimals: u32, currency: &tally_client::Currency) -> String {
    let scale = currency.scale.places();
    if decimals > scale {
        format!(
            "amount {text} in units of 10^-{decimals} is not a whole number of {code} minor units \
             ({code} has {scale} decimals; the kit never rounds)",
            code = currency.code
        )
    } else {
        format!(
            "amount {text} (in units of 10^-{decimals}) {} does not fit in 128-bit minor units",
            currency.code
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::terms::Terms;

    fn fmt(name: &str) -> FeedFormat {
        FeedFormat::builtin(name).unwrap()
    }

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
            parse(&fmt("webhook-json"), "x", webhook, t.currencies()),
            parse(&fmt("batch-csv"), "x", csv, t.currencies()),
            parse(&fmt("wallet-json"), "x", wallet, t.currencies()),
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
        let p = parse(&fmt("batch-csv"), "beta", csv, t.currencies());
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
        let p = parse(&fmt("webhook-json"), "alpha", json, t.currencies());
        assert!(p.events.is_empty());
        let lines: Vec<usize> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6], "{:?}", p.errors);
        assert!(p.errors[2].message.contains("spin"));
        assert!(p.errors[4].message.contains("timestamp"));

        let wallet = r#"{"transactionId":"t","gameRound":{"id":"r"},"action":"CREDIT","account":{"playerId":"p","casino":"o"},"money":{"amount":12.5,"currency":"EUR"},"occurredAt":1}"#;
        let p = parse(&fmt("wallet-json"), "gamma", wallet, t.currencies());
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
            for format in [&fmt("webhook-json"), &fmt("batch-csv"), &fmt("wallet-json")] {
                for input in [text.as_str(), mangled.as_str()] {
                    let p = parse(format, "x", input, t.currencies());
                    let lines = input.lines().count();
                    proptest::prop_assert!(p.errors.iter().all(|e| e.line <= lines + 1));
                    if format != &fmt("batch-csv") {
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
        let refs = |format: &FeedFormat, text: &str| {
            let p = parse(format, "x", text, t.currencies());
            let refs: Vec<Option<String>> = p.events.iter().map(|e| e.bet_ref.clone()).collect();
            (refs, p.errors)
        };
        let b2 = Some("b2".to_string());
        assert_eq!(
            refs(&fmt("webhook-json"), webhook),
            (vec![b2.clone()], vec![])
        );
        assert_eq!(
            refs(&fmt("wallet-json"), wallet),
            (vec![b2.clone()], vec![])
        );
        let (events, errors) = refs(&fmt("batch-csv"), csv);
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
        assert_eq!(refs(&fmt("batch-csv"), plain), (vec![None], vec![]));
    }

    /// Each sample feed, parsed in its provider's format from the sample terms.
    fn sample_feeds() -> Vec<(&'static str, Parsed)> {
        let t = terms();
        [
            ("alpha", include_str!("../samples/feeds/alpha.jsonl")),
            ("beta", include_str!("../samples/feeds/beta.csv")),
            ("gamma", include_str!("../samples/feeds/gamma.jsonl")),
        ]
        .into_iter()
        .map(|(name, text)| {
            let format = &t.provider(name).unwrap().format;
            (name, parse(format, name, text, t.currencies()))
        })
        .collect()
    }

    #[test]
    fn the_sample_feeds_parse_cleanly() {
        for (name, p) in sample_feeds() {
            assert!(p.errors.is_empty(), "{name}: {:?}", p.errors);
            assert!(p.events.len() > 10, "{name}");
        }
    }

    /// The sample feeds normalize to exactly these events, so the ids derived from them (and a
    /// replay against a ledger they filled) stay the same across releases.
    #[test]
    fn the_sample_feeds_normalize_to_pinned_events_and_ids() {
        let mut hasher = blake3::Hasher::new();
        for (name, p) in sample_feeds() {
            for e in &p.events {
                let id = crate::ids::event_transfer(name, &e.round_id, e.kind.name(), &e.event_id);
                hasher.update(format!("{e:?} {id:032x}\n").as_bytes());
            }
        }
        assert_eq!(
            hasher.finalize().to_hex().to_string(),
            "81ea4d451b991bd2458f871e252fa3ecd4a55ffde1e94e378ce7db0d77ca6009"
        );
    }

    #[test]
    fn a_provider_format_from_toml_reads_its_own_feed() {
        let t = terms();
        let delta =
            FeedFormat::parse("delta.toml", include_str!("../samples/delta/delta.toml")).unwrap();
        let p = parse(
            &delta,
            "delta",
            include_str!("../samples/delta/feed.csv"),
            t.currencies(),
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let e = &p.events[2];
        assert_eq!(
            (e.kind, e.event_id.as_str(), e.round_id.as_str()),
            (EventKind::Bet, "d3", "D-2"),
            "BUYIN is a second name for a bet"
        );
        assert_eq!((e.amount, e.currency.as_str()), (5_000, "EUR"));
        assert_eq!(e.time, 1_796_115_600, "2026-12-01 09:00:00 UTC");
        let feed = |rows: &str| {
            let text = format!("id;game;op;customer;site;cur;milli;at;cancels\n{rows}\n");
            let p = parse(&delta, "delta", &text, t.currencies());
            p.errors.first().map(|e| e.message.clone())
        };
        assert_eq!(feed("v;G;VOID;c;royal;EUR;0;2026-12-01 09:00:00;d1"), None);
        let cases = [
            (
                "d;G;STAKE;c;royal;EUR;12505;2026-12-01 09:00:00;",
                "not a whole number of EUR",
            ),
            (
                "d;G;STAKE;c;royal;EUR;12.5;2026-12-01 09:00:00;",
                "bad amount \"12.5\"",
            ),
            ("d;G;STAKE;c;royal;EUR;-5;2026-12-01 09:00:00;", "negative"),
            ("d;G;STAKE;c;royal;EUR;50;2026-12-01T09:00:00Z;", "bad time"),
            (
                "d;G;SPIN;c;royal;EUR;50;2026-12-01 09:00:00;",
                "unknown op \"SPIN\"",
            ),
            (
                "d;G;PAYOUT;c;royal;EUR;50;2026-12-01 09:00:00;d1",
                "cancels names a bet",
            ),
            (
                "d;;STAKE;c;royal;EUR;50;2026-12-01 09:00:00;",
                "game is empty",
            ),
        ];
        for (row, why) in cases {
            let err = feed(row).unwrap_or_default();
            assert!(err.contains(why), "{row}: {err}");
        }
    }

    #[test]
    fn json_formats_reach_nested_fields_and_read_integer_ids() {
        let t = terms();
        let wallet = fmt("wallet-json");
        let line = r#"{"transactionId":7,"gameRound":{"id":1001},"action":"DEBIT","account":{"playerId":"p","casino":"royal"},"money":{"amount":"1","currency":"EUR"},"occurredAt":1000}"#;
        let p = parse(&wallet, "gamma", line, t.currencies());
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(
            (p.events[0].event_id.as_str(), p.events[0].round_id.as_str()),
            ("7", "1001")
        );
        let missing = r#"{"transactionId":"t","gameRound":{},"action":"DEBIT","account":{"playerId":"p","casino":"royal"},"money":{"amount":"1","currency":"EUR"},"occurredAt":1000}"#;
        let p = parse(&wallet, "gamma", missing, t.currencies());
        assert_eq!(p.errors[0].message, "missing field `gameRound.id`");
        let p = parse(&wallet, "gamma", "[1,2]", t.currencies());
        assert_eq!(p.errors[0].message, "bad JSON: expected an object");
    }

    fn csv_amount(amount: &str, ccy: &str) -> Result<u128, String> {
        let t = terms();
        let text = format!(
            "txn_id,round,type,player_id,brand,ccy,amount,time\nt,r,BET,p,royal,{ccy},{amount},1\n"
        );
        let p = parse(&fmt("batch-csv"), "beta", &text, t.currencies());
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
        let p = parse(&fmt("wallet-json"), "gamma", wallet, terms().currencies());
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
            let p = parse(&fmt("webhook-json"), "alpha", &row(amount), t.currencies());
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
            &fmt("webhook-json"),
            "alpha",
            &webhook(100_000),
            t.currencies(),
        );
        assert_eq!(p.errors, vec![]);
        let p = parse(
            &fmt("webhook-json"),
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
