//! Generates the wire types and gRPC stubs from `proto/tally/v1/*.proto`.
//!
//! No system `protoc` is needed: `protox` parses the files in pure Rust into a
//! `FileDescriptorSet`, and `tonic-prost-build` turns that into Rust. The encoded descriptor set
//! is also written to `OUT_DIR` so the crate can expose it (e.g. for gRPC reflection).
//!
//! It runs the generator twice over the same files: once for the messages and the servers, whose
//! codec is [`codec::ServerCodec`](src/codec.rs) (a request that cannot be decoded is the
//! caller's `INVALID_ARGUMENT`), and once for the clients only, into `OUT_DIR/client`, with
//! tonic's own codec and the messages of the first run (a response that cannot be decoded stays
//! `INTERNAL`: the server's fault, not the request's).

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "proto";
const PROTOS: &[&str] = &[
    "proto/tally/v1/ledger.proto",
    "proto/tally/v1/admin.proto",
    "proto/tally/v1/raft.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A directory makes cargo rerun when any file below it changes, including new files.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");

    let fds = protox::compile(PROTOS, [PROTO_ROOT])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    // prost-build rewrites its output in place; start from fresh files so that a target
    // directory copied with hard links never writes through into the other copy.
    for stale in ["tally.v1.rs", "client/tally.v1.rs", "tally_descriptor.bin"] {
        match fs::remove_file(out_dir.join(stale)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    // prost-build writes a descriptor set only when it runs protoc itself, so write it here.
    fs::write(out_dir.join("tally_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .codec_path("crate::codec::ServerCodec")
        .compile_fds(fds.clone())?;
    let client_dir = out_dir.join("client");
    fs::create_dir_all(&client_dir)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .build_transport(true)
        .extern_path(".tally.v1", "crate::v1")
        .out_dir(client_dir)
        .compile_fds(fds)?;
    Ok(())
}
