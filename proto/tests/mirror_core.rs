//! The wire format mirrors the ledger core exactly: every result code and flag bit of
//! `tally-ledger` has its proto twin with the same number and name, and the proto files define
//! nothing the core lacks. The proto side is read from the compiled descriptor set, so an enum
//! value added to a `.proto` file without its core counterpart fails here too.

use std::collections::BTreeMap;

use prost::Message;
use prost_types::FileDescriptorSet;
use tally_ledger::{
    AccountFilterFlags, AccountFlags, CreateAccountResult, CreateTransferResult, QueryFilterFlags,
    TransferFlags,
};
use tally_proto::{u128_from_wire, u128_to_wire, v1, FILE_DESCRIPTOR_SET};

/// Every value of the top-level enum `tally.v1.<name>`, by number, from the descriptor set.
fn proto_enum(name: &str) -> BTreeMap<i32, String> {
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes");
    let mut found = fds
        .file
        .iter()
        .filter(|f| f.package() == "tally.v1")
        .flat_map(|f| f.enum_type.iter())
        .filter(|e| e.name() == name);
    let e = found
        .next()
        .unwrap_or_else(|| panic!("enum tally.v1.{name} not found"));
    assert!(found.next().is_none(), "enum tally.v1.{name} defined twice");
    let values: BTreeMap<i32, String> = e
        .value
        .iter()
        .map(|v| (v.number(), v.name().to_owned()))
        .collect();
    assert_eq!(values.len(), e.value.len(), "{name} reuses a number");
    values
}

/// `CreateTransferResult` -> `CREATE_TRANSFER_RESULT_`.
fn prefix(enum_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in enum_name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out.push('_');
    out
}

#[test]
fn prefix_follows_proto_style() {
    assert_eq!(prefix("CreateTransferResult"), "CREATE_TRANSFER_RESULT_");
    assert_eq!(prefix("AccountFlag"), "ACCOUNT_FLAG_");
}

#[test]
fn create_account_results_mirror_the_core() {
    let proto = proto_enum("CreateAccountResult");
    assert_eq!(
        proto.len(),
        CreateAccountResult::ALL.len(),
        "missing or extra codes"
    );
    for &code in CreateAccountResult::ALL {
        let number = i32::try_from(code.as_u32()).unwrap();
        let name = format!("CREATE_ACCOUNT_RESULT_{}", code.name().to_ascii_uppercase());
        assert_eq!(proto.get(&number), Some(&name), "{code}");

        let wire = v1::CreateAccountResult::try_from(number).expect("known to prost");
        assert_eq!(wire.as_str_name(), name);
        assert_eq!(v1::CreateAccountResult::from_str_name(&name), Some(wire));
        assert_eq!(
            CreateAccountResult::from_u32(wire as i32 as u32),
            Some(code)
        );
    }
}

#[test]
fn create_transfer_results_mirror_the_core() {
    let proto = proto_enum("CreateTransferResult");
    assert_eq!(
        proto.len(),
        CreateTransferResult::ALL.len(),
        "missing or extra codes"
    );
    for &code in CreateTransferResult::ALL {
        let number = i32::try_from(code.as_u32()).unwrap();
        let name = format!(
            "CREATE_TRANSFER_RESULT_{}",
            code.name().to_ascii_uppercase()
        );
        assert_eq!(proto.get(&number), Some(&name), "{code}");

        let wire = v1::CreateTransferResult::try_from(number).expect("known to prost");
        assert_eq!(wire.as_str_name(), name);
        assert_eq!(v1::CreateTransferResult::from_str_name(&name), Some(wire));
        assert_eq!(
            CreateTransferResult::from_u32(wire as i32 as u32),
            Some(code)
        );
    }
}

#[test]
fn result_enums_are_declared_in_the_cores_precedence_order() {
    // Declaration order is documented as precedence in the .proto files, so it must match too.
    let fds = FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let declared = |name: &str| -> Vec<i32> {
        let e = fds
            .file
            .iter()
            .flat_map(|f| f.enum_type.iter())
            .find(|e| e.name() == name);
        e.unwrap().value.iter().map(|v| v.number()).collect()
    };
    let core_accounts: Vec<i32> = CreateAccountResult::ALL
        .iter()
        .map(|c| c.as_u32() as i32)
        .collect();
    let core_transfers: Vec<i32> = CreateTransferResult::ALL
        .iter()
        .map(|c| c.as_u32() as i32)
        .collect();
    assert_eq!(declared("CreateAccountResult"), core_accounts);
    assert_eq!(declared("CreateTransferResult"), core_transfers);
}

/// Checks a proto flag enum against a core bitflags set: `<PREFIX>NONE = 0`, then exactly one
/// value per core flag, with the core flag's name and bit.
fn assert_flags_mirror(enum_name: &str, core: impl Iterator<Item = (&'static str, u32)>) {
    let mut proto = proto_enum(enum_name);
    let prefix = prefix(enum_name);
    assert_eq!(
        proto.remove(&0),
        Some(format!("{prefix}NONE")),
        "{enum_name} zero value"
    );
    let core: BTreeMap<i32, String> = core
        .map(|(name, bits)| (i32::try_from(bits).unwrap(), format!("{prefix}{name}")))
        .collect();
    assert!(!core.is_empty());
    assert_eq!(proto, core, "{enum_name} differs from the core's flags");
}

#[test]
fn flag_bits_mirror_the_core() {
    let bits16 = |(name, bits): (&'static str, u16)| (name, u32::from(bits));
    assert_flags_mirror(
        "AccountFlag",
        AccountFlags::all()
            .iter_names()
            .map(|(n, f)| bits16((n, f.bits()))),
    );
    assert_flags_mirror(
        "TransferFlag",
        TransferFlags::all()
            .iter_names()
            .map(|(n, f)| bits16((n, f.bits()))),
    );
    assert_flags_mirror(
        "AccountFilterFlag",
        AccountFilterFlags::all()
            .iter_names()
            .map(|(n, f)| (n, f.bits())),
    );
    assert_flags_mirror(
        "QueryFilterFlag",
        QueryFilterFlags::all()
            .iter_names()
            .map(|(n, f)| (n, f.bits())),
    );
}

#[test]
fn generated_flag_constants_match_the_core() {
    // The Rust constants callers use, spot-checked against the core's typed flags.
    assert_eq!(
        v1::AccountFlag::Linked as u32,
        u32::from(AccountFlags::LINKED.bits())
    );
    assert_eq!(
        v1::AccountFlag::Closed as u32,
        u32::from(AccountFlags::CLOSED.bits())
    );
    assert_eq!(
        v1::TransferFlag::Pending as u32,
        u32::from(TransferFlags::PENDING.bits())
    );
    assert_eq!(
        v1::TransferFlag::Imported as u32,
        u32::from(TransferFlags::IMPORTED.bits())
    );
    assert_eq!(
        v1::AccountFilterFlag::Reversed as u32,
        AccountFilterFlags::REVERSED.bits()
    );
    assert_eq!(
        v1::QueryFilterFlag::Reversed as u32,
        QueryFilterFlags::REVERSED.bits()
    );
}

#[test]
fn u128_round_trips_at_the_edges() {
    let edges = [
        0,
        1,
        u128::from(u64::MAX),
        u128::from(u64::MAX) + 1,
        u128::MAX,
    ];
    for value in edges {
        let wire = v1::U128::from(value);
        assert_eq!(u128::from(wire), value);
        assert_eq!(u128_from_wire(u128_to_wire(value)), value);

        // And through actual protobuf bytes, inside a record.
        let account = v1::Account {
            id: u128_to_wire(value),
            ..Default::default()
        };
        let decoded = v1::Account::decode(account.encode_to_vec().as_slice()).unwrap();
        assert_eq!(u128_from_wire(decoded.id), value);
    }
    assert_eq!(
        v1::U128::from(u128::from(u64::MAX) + 1),
        v1::U128 { lo: 0, hi: 1 }
    );
    assert_eq!(
        v1::U128::from(u128::MAX),
        v1::U128 {
            lo: u64::MAX,
            hi: u64::MAX
        }
    );
}
