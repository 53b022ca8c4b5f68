//! A node's logs: `tracing` events written to stderr as human text or JSON lines, filtered per
//! module ([`LogOptions`], [`init`]), and the request id every request carries ([`RequestId`]).
//!
//! A request's id comes from its `x-request-id` metadata when that is sane (1 to
//! [`RequestId::MAX_LEN`] printable ASCII bytes) and is made up otherwise (32 random hex
//! digits). [`crate::framing::Framed`] settles it before the handler runs, puts it in the
//! request's metadata for the handler, opens a `request` span with it (so every line logged
//! while serving the request carries it), and returns it in the response's `x-request-id`
//! metadata, on errors too. Writes carry it into the coalescer, whose lines about the request
//! name it as well.

use std::fmt;
use std::io::IsTerminal as _;

use tonic::codegen::http::HeaderValue;
use tracing_subscriber::EnvFilter;

/// The metadata key of the request id, in requests and responses.
pub const REQUEST_ID: &str = "x-request-id";

/// The filter when neither `--log-level` nor `RUST_LOG` gives one: `info`, with the libraries'
/// chatter (Raft internals, HTTP/2 frames) kept to warnings.
pub const DEFAULT_FILTER: &str = "info,openraft=warn,h2=warn,tonic=warn,hyper=warn,tower=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event: time, level, module, message, fields.
    #[default]
    Human,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields` (with `message`),
    /// and `span`/`spans` with the request's id.
    Json,
}

/// A node's logging configuration, resolved ([`crate::config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Output format.
    pub format: LogFormat,
    /// An `EnvFilter` directive string, checked by [`check_filter`].
    pub filter: String,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            filter: DEFAULT_FILTER.into(),
        }
    }
}

/// Checks a filter directive string (`info,openraft=warn,tally_server::coalesce=debug`);
/// the error names what is wrong with it.
pub fn check_filter(filter: &str) -> Result<(), String> {
    EnvFilter::builder()
        .with_regex(false)
        .parse(filter)
        .map(|_| ())
        .map_err(|e| format!("log level {filter:?}: {e}"))
}

/// Installs the process's log subscriber, writing to stderr. Called once, by `tally start`.
pub fn init(opts: &LogOptions) -> Result<(), String> {
    let mut filter = EnvFilter::builder()
        .with_regex(false)
        .parse(&opts.filter)
        .map_err(|e| format!("log level {:?}: {e}", opts.filter))?;
    if !names_binary(&opts.filter) {
        // The start and stop lines (`serving on`, `stopped`) are what supervisors and scripts
        // wait for: written at any level unless the filter says otherwise for `tally` itself.
        let own: tracing_subscriber::filter::Directive =
            "tally=info".parse().expect("a valid directive");
        filter = filter.add_directive(own);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let r = match opts.format {
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    r.map_err(|e| format!("cannot install the log subscriber: {e}"))
}

/// Whether `filter` has a directive for the binary's own target, `tally` (not `tally_server`).
fn names_binary(filter: &str) -> bool {
    filter.split(',').any(|d| {
        let target = d.split(['=', '[']).next().unwrap_or("").trim();
        target == "tally" || target.starts_with("tally::")
    })
}

/// A request's id: 1 to [`Self::MAX_LEN`] printable ASCII bytes, held inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    bytes: [u8; Self::MAX_LEN],
    len: u8,
}

impl RequestId {
    /// The longest id taken from a caller; a longer one is replaced by a made-up id.
    pub const MAX_LEN: usize = 64;

    /// `v` as an id, if it is sane: 1 to [`Self::MAX_LEN`] bytes, each printable ASCII
    /// (`!` to `~`, and space).
    pub fn parse(v: &[u8]) -> Option<Self> {
        if v.is_empty() || v.len() > Self::MAX_LEN || !v.iter().all(|b| (b' '..=b'~').contains(b)) {
            return None;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..v.len()].copy_from_slice(v);
        Some(Self {
            bytes,
            len: v.len() as u8,
        })
    }

    /// A new random id: 128 bits as 32 lowercase hex digits.
    pub fn generate() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let r = fastrand::u128(..);
        let mut bytes = [0; Self::MAX_LEN];
        for (i, b) in bytes[..32].iter_mut().enumerate() {
            *b = HEX[((r >> (124 - 4 * i)) & 0xf) as usize];
        }
        Self { bytes, len: 32 }
    }

    /// The id [`crate::framing::Framed`] settled for a request (a made-up one if the request
    /// did not pass through it).
    pub fn of<T>(req: &tonic::Request<T>) -> Self {
        req.extensions()
            .get::<Self>()
            .copied()
            .unwrap_or_else(Self::generate)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(self.as_str()).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_taken_and_others_refused() {
        assert_eq!(RequestId::parse(b"abc-123").unwrap().as_str(), "abc-123");
        assert!(RequestId::parse(&[b'a'; 64]).is_some());
        assert!(RequestId::parse(&[b'a'; 65]).is_none(), "too long");
        assert!(RequestId::parse(b"").is_none());
        assert!(RequestId::parse(b"a\nb").is_none(), "control byte");
        assert!(RequestId::parse("é".as_bytes()).is_none(), "not ASCII");
    }

    #[test]
    fn generated_ids_are_32_hex_digits_and_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(RequestId::parse(a.as_str().as_bytes()), Some(a));
    }

    #[test]
    fn filters_are_checked() {
        check_filter(DEFAULT_FILTER).unwrap();
        check_filter("warn,tally_server::coalesce=debug").unwrap();
        let e = check_filter("info,openraft=loud").unwrap_err();
        assert!(e.contains("openraft=loud"), "{e}");
        assert!(names_binary("warn,tally=error"));
        assert!(names_binary("tally::x=debug"));
        assert!(!names_binary("warn,tally_server=debug"));
        assert!(!names_binary("off"));
    }
}
