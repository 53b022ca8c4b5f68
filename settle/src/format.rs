//! Provider feed formats as configuration: a TOML file says where each event field is (a JSON
//! key, dots reaching into nested objects, or a CSV column), how amounts are written, how times
//! are written and what the provider calls a bet, a win and a rollback. One generic engine
//! (`feeds.rs`) reads every format, so a new provider needs a TOML file, no code.
//!
//! The three shipped formats are such files, embedded in the binary under their names:
//! `webhook-json`, `batch-csv` and `wallet-json` (`samples/formats/*.toml`). A provider's
//! `format` in the terms names one of them, or a `.toml` file (relative to the terms file).
//! Every table of a format file refuses keys it does not know, like the terms.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// The shipped formats: name and TOML text.
pub const BUILTIN: [(&str, &str); 3] = [
    (
        "webhook-json",
        include_str!("../samples/formats/webhook-json.toml"),
    ),
    (
        "batch-csv",
        include_str!("../samples/formats/batch-csv.toml"),
    ),
    (
        "wallet-json",
        include_str!("../samples/formats/wallet-json.toml"),
    ),
];

/// Why a format file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The file could not be read.
    #[error("cannot read format file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse, lacks a field or has an unknown one.
    #[error("bad format {name}: {error}")]
    Toml {
        /// The format's name (its built-in name or file path).
        name: String,
        /// The parser's error, with the line and the offending key.
        error: toml::de::Error,
    },
    /// The format parses but is inconsistent.
    #[error("invalid format {name}: {message}")]
    Invalid {
        /// The format's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// How the feed is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Syntax {
    /// One JSON object per line; fields are keys, `a.b` reaches key `b` of object `a`.
    JsonLines,
    /// CSV with a header line; fields are column names.
    Csv,
}

/// Where each field of an event is in a row.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// The provider's transaction id (unique per provider).
    pub event_id: String,
    /// The provider's round id.
    pub round_id: String,
    /// The event's kind, matched against `[kinds]`.
    pub kind: String,
    /// The player (may be empty).
    pub player: String,
    /// The operator (casino brand).
    pub operator: String,
    /// The ISO currency code (any case).
    pub currency: String,
    /// The amount, as `[amount]` says.
    pub amount: String,
    /// The event's time, as `[time]` says.
    pub time: String,
    /// Optional: the transaction id of the bet a rollback cancels (absent or empty: the whole
    /// round).
    pub bet_ref: Option<String>,
}

/// One name or several.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Names {
    /// A single name.
    One(String),
    /// Several names for the same kind.
    Many(Vec<String>),
}

impl Names {
    fn contains(&self, value: &str) -> bool {
        match self {
            Names::One(n) => n == value,
            Names::Many(ns) => ns.iter().any(|n| n == value),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &String> {
        match self {
            Names::One(n) => std::slice::from_ref(n).iter(),
            Names::Many(ns) => ns.iter(),
        }
    }
}

/// The provider's names of each event kind (case-sensitive).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Kinds {
    /// A stake.
    pub bet: Names,
    /// A round's result.
    pub win: Names,
    /// A cancellation.
    pub rollback: Names,
}

/// The unit amounts are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// An integer of the currency's minor units (cents for USD).
    Minor,
    /// A decimal in major units, with at most the currency's scale of fractional digits.
    Major,
    /// An integer of `10^-decimals` major units (`decimals = 3`: 12500 is 12.500), which must
    /// convert exactly to the currency's minor units.
    Fixed,
}

/// How a JSON feed carries an amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JsonAmount {
    /// A JSON integer (no fraction, no exponent).
    Number,
    /// A JSON string.
    String,
}

/// How amounts are written.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// `minor`, `major` or `fixed`.
    pub unit: Unit,
    /// With `unit = "fixed"`: the digits after the implied decimal point (0 to 28).
    pub decimals: Option<u32>,
    /// JSON only: `number` (the default for `minor` and `fixed`) or `string` (the default, and
    /// the only choice, for `major`, since a JSON number with a fraction is not exact).
    pub json: Option<JsonAmount>,
    /// With `unit = "major"`: the decimal point character, `.` by default (`,` for `12,50`).
    pub decimal_point: Option<char>,
}

/// How times are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    /// An RFC 3339 string (`2026-11-20T01:00:00Z`, any offset).
    Rfc3339,
    /// Integer seconds since the Unix epoch (a JSON integer or a CSV column of digits).
    UnixSeconds,
    /// Integer milliseconds since the Unix epoch, rounded down to the second.
    UnixMillis,
    /// A chrono `strftime` pattern read as UTC, e.g. `%Y-%m-%d %H:%M:%S`.
    Pattern(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeToml {
    format: String,
}

/// A feed format: the parsed and checked contents of a format file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedFormat {
    /// Its name: the built-in name, or the file path as the terms give it.
    pub name: String,
    /// JSON lines or CSV.
    pub syntax: Syntax,
    /// CSV only: the field delimiter (`,` by default).
    pub delimiter: u8,
    /// Where the fields are.
    pub fields: Fields,
    /// The kinds' names.
    pub kinds: Kinds,
    /// How amounts are written.
    pub amount: Amount,
    /// How times are written.
    pub time: TimeFormat,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatToml {
    syntax: Syntax,
    delimiter: Option<char>,
    fields: Fields,
    kinds: Kinds,
    amount: Amount,
    time: TimeToml,
}

impl FeedFormat {
    /// The shipped format named `name`, if there is one.
    pub fn builtin(name: &str) -> Option<Self> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, text)| Self::parse(n, text).expect("the shipped formats are valid"))
    }

    /// A format from a terms file's `format` value: a built-in name, or a path ending in
    /// `.toml`, relative to `dir` (the terms file's directory).
    pub fn resolve(reference: &str, dir: &Path) -> Result<Self, FormatError> {
        if let Some(format) = Self::builtin(reference) {
            return Ok(format);
        }
        if !reference.ends_with(".toml") {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            return Err(FormatError::Invalid {
                name: reference.to_string(),
                message: format!(
                    "not a shipped format ({}) nor a path to a .toml file",
                    names.join(", ")
                ),
            });
        }
        let path = dir.join(reference);
        let text = std::fs::read_to_string(&path).map_err(|source| FormatError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(reference, &text)
    }

    /// Parses and checks the TOML `text` of the format called `name`.
    pub fn parse(name: &str, text: &str) -> Result<Self, FormatError> {
        let raw: FormatToml = toml::from_str(text).map_err(|error| FormatError::Toml {
            name: name.to_string(),
            error,
        })?;
        let invalid = |message: String| {
            Err(FormatError::Invalid {
                name: name.to_string(),
                message,
            })
        };
        let delimiter = match (raw.syntax, raw.delimiter) {
            (_, None) => b',',
            (Syntax::Csv, Some(c)) if c.is_ascii() && c != '"' && c != '\n' => c as u8,
            (Syntax::Csv, Some(c)) => {
                return invalid(format!("delimiter {c:?} must be one ASCII character"))
            }
            (Syntax::JsonLines, Some(_)) => return invalid("delimiter is for CSV only".into()),
        };
        let amount = &raw.amount;
        match (amount.unit, amount.decimals) {
            (Unit::Fixed, None) => return invalid("unit \"fixed\" needs decimals".into()),
            (Unit::Fixed, Some(d)) if d > 28 => {
                return invalid(format!("decimals = {d} is above 28"))
            }
            (Unit::Minor | Unit::Major, Some(_)) => {
                return invalid("decimals is for unit \"fixed\" only".into())
            }
            _ => {}
        }
        if amount.json.is_some() && raw.syntax == Syntax::Csv {
            return invalid("amount.json is for JSON feeds only".into());
        }
        if amount.unit == Unit::Major && amount.json == Some(JsonAmount::Number) {
            return invalid(
                "unit \"major\" needs json = \"string\": a JSON number with a fraction is not \
                 exact"
                    .into(),
            );
        }
        match amount.decimal_point {
            Some(c) if amount.unit != Unit::Major => {
                return invalid(format!("decimal_point {c:?} is for unit \"major\" only"))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || (c == ',' && delimiter == b',') => {
                return invalid(format!("decimal_point {c:?} cannot be read unambiguously"))
            }
            _ => {}
        }
        let time = match raw.time.format.as_str() {
            "rfc3339" => TimeFormat::Rfc3339,
            "unix-seconds" => TimeFormat::UnixSeconds,
            "unix-millis" => TimeFormat::UnixMillis,
            pattern if pattern.contains('%') => {
                let items = chrono::format::StrftimeItems::new(pattern);
                if items
                    .clone()
                    .any(|i| matches!(i, chrono::format::Item::Error))
                {
                    return invalid(format!("time format {pattern:?} is not a valid pattern"));
                }
                TimeFormat::Pattern(pattern.to_string())
            }
            other => {
                return invalid(format!(
                    "time format {other:?}: expected rfc3339, unix-seconds, unix-millis or a \
                     strftime pattern such as \"%Y-%m-%d %H:%M:%S\""
                ))
            }
        };
        let kinds = &raw.kinds;
        let mut seen = std::collections::BTreeSet::new();
        for n in kinds
            .bet
            .iter()
            .chain(kinds.win.iter())
            .chain(kinds.rollback.iter())
        {
            if n.is_empty() || !seen.insert(n.as_str()) {
                return invalid(format!("kind name {n:?} is empty or names two kinds"));
            }
        }
        let f = &raw.fields;
        let paths = [
            &f.event_id,
            &f.round_id,
            &f.kind,
            &f.player,
            &f.operator,
            &f.currency,
            &f.amount,
            &f.time,
        ];
        if let Some(p) = paths
            .into_iter()
            .chain(f.bet_ref.as_ref())
            .find(|p| p.is_empty() || p.split('.').any(str::is_empty) && raw.syntax != Syntax::Csv)
        {
            return invalid(format!("field path {p:?} is empty or has an empty part"));
        }
        Ok(FeedFormat {
            name: name.to_string(),
            syntax: raw.syntax,
            delimiter,
            fields: raw.fields,
            kinds: raw.kinds,
            amount: raw.amount,
            time,
        })
    }

    /// The kind a provider's `name` stands for.
    pub fn kind(&self, name: &str) -> Option<crate::event::EventKind> {
        use crate::event::EventKind;
        [
            (&self.kinds.bet, EventKind::Bet),
            (&self.kinds.win, EventKind::Win),
            (&self.kinds.rollback, EventKind::Rollback),
        ]
        .into_iter()
        .find(|(names, _)| names.contains(name))
        .map(|(_, kind)| kind)
    }

    /// How a JSON feed carries amounts.
    pub fn json_amount(&self) -> JsonAmount {
        self.amount.json.unwrap_or(match self.amount.unit {
            Unit::Major => JsonAmount::String,
            Unit::Minor | Unit::Fixed => JsonAmount::Number,
        })
    }
}

impl Default for FeedFormat {
    /// The `webhook-json` format (a placeholder until the terms resolve a provider's format).
    fn default() -> Self {
        Self::builtin("webhook-json").expect("shipped")
    }
}

impl fmt::Display for FeedFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_formats_load() {
        for (name, _) in BUILTIN {
            let f = FeedFormat::builtin(name).unwrap();
            assert_eq!(f.name, name);
        }
        let csv = FeedFormat::builtin("batch-csv").unwrap();
        assert_eq!(csv.syntax, Syntax::Csv);
        assert_eq!(csv.kind("REFUND"), Some(crate::event::EventKind::Rollback));
        assert_eq!(csv.kind("refund"), None, "names are case-sensitive");
    }

    #[test]
    fn bad_format_files_are_refused_with_the_reason() {
        let base = BUILTIN[0].1;
        let cases = [
            ("[amount]", "[amount]\nscale = 2", "unknown field `scale`"),
            ("event_id = \"tx_id\"", "event_idd = \"tx_id\"", "event_idd"),
            ("bet = \"bet\"", "bet = \"bet\"\njackpot = \"j\"", "jackpot"),
            (
                "format = \"rfc3339\"",
                "format = \"iso\"",
                "time format \"iso\"",
            ),
            (
                "format = \"rfc3339\"",
                "format = \"%Y-%Q\"",
                "not a valid pattern",
            ),
            ("unit = \"minor\"", "unit = \"fixed\"", "needs decimals"),
            (
                "unit = \"minor\"",
                "unit = \"major\"\njson = \"number\"",
                "not exact",
            ),
            ("win = \"win\"", "win = \"bet\"", "names two kinds"),
            (
                "syntax = \"json-lines\"",
                "syntax = \"xml\"",
                "unknown variant `xml`",
            ),
            (
                "round_id = \"round_id\"",
                "round_id = \"a..b\"",
                "empty part",
            ),
            (
                "syntax = \"json-lines\"",
                "syntax = \"json-lines\"\ndelimiter = \";\"",
                "CSV only",
            ),
        ];
        for (from, to, why) in cases {
            assert!(base.contains(from), "{from}");
            let err = FeedFormat::parse("x", &base.replacen(from, to, 1)).unwrap_err();
            assert!(err.to_string().contains(why), "{to}: {err}");
        }
    }

    #[test]
    fn a_format_reference_is_a_shipped_name_or_a_toml_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.toml"), BUILTIN[1].1).unwrap();
        let mine = FeedFormat::resolve("mine.toml", dir.path()).unwrap();
        assert_eq!(
            (mine.name.as_str(), mine.syntax),
            ("mine.toml", Syntax::Csv)
        );
        let err = FeedFormat::resolve("webhook", dir.path()).unwrap_err();
        assert!(
            err.to_string()
                .contains("webhook-json, batch-csv, wallet-json"),
            "{err}"
        );
        let err = FeedFormat::resolve("missing.toml", dir.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot read format file"),
            "{err}"
        );
    }
}
