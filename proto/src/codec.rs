//! The codec of the generated servers: protobuf through prost, like tonic's own, except that a
//! request that cannot be decoded (garbage bytes, a truncated message, a field with the wrong
//! wire type, a `U128` sent as a varint) is answered `INVALID_ARGUMENT`, naming what was wrong.
//!
//! tonic's codec answers `INTERNAL` for it, which Tally's API reserves for a store failure or a
//! bug whose write may have happened: a client that follows the docs would resend the malformed
//! request forever. The clients keep tonic's codec: a response that cannot be decoded is the
//! server's fault, not the request's, and stays `INTERNAL`.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Encodes a server's responses (`T`) and decodes its requests (`U`).
#[derive(Debug, Clone)]
pub struct ServerCodec<T, U> {
    _pd: PhantomData<(T, U)>,
}

impl<T, U> Default for ServerCodec<T, U> {
    fn default() -> Self {
        Self { _pd: PhantomData }
    }
}

impl<T, U> Codec for ServerCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder {
            inner: ProstDecoder::default(),
        }
    }
}

/// Decodes a request message; a failure is the caller's `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct RequestDecoder<U> {
    inner: ProstDecoder<U>,
}

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // prost's error names the field path and the fault ("invalid wire type: Varint
        // (expected LengthDelimited)", "buffer underflow", ...); tonic's decoder gives nothing
        // else back, so its status is rebuilt around that message.
        self.inner.decode(buf).map_err(|s| {
            Status::invalid_argument(format!(
                "malformed request: {}",
                s.message()
                    .trim_start_matches("failed to decode Protobuf message: ")
            ))
        })
    }

    fn buffer_settings(&self) -> tonic::codec::BufferSettings {
        self.inner.buffer_settings()
    }
}
