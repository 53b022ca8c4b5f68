//! Generates the wire types and gRPC stubs from `proto/tally/v1/*.proto`.
//!
//! No system `protoc` is needed: `protox` parses the files in pure Rust into a
//! `FileDescriptorSet`, and `tonic-prost-build` turns that into Rust. The encoded descriptor set
//! is also written to `OUT_DIR` so the crate can expose it (e.g. for gRPC reflection).

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
    // prost-build writes a descriptor set only when it runs protoc itself, so write it here.
    fs::write(out_dir.join("tally_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(true)
        .compile_fds(fds)?;
    Ok(())
}
