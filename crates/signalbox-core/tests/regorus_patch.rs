#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)] // tests: a panic is a failed test

//! The vendored regorus (vendor/README.md) looks a key up in an object by
//! comparing string keys byte by byte in line, instead of through `Value`'s
//! `Ord`. Every look-up the policies make goes through it, so it must find
//! exactly what a sorted map finds: for generated objects whose string keys
//! share prefixes, differ only in length, are empty or not ASCII, mixed with
//! keys that are not strings, and for probes present and absent.

use std::collections::BTreeMap;

use proptest::prelude::*;
use regorus::Value;

/// Short strings over a few characters, so that prefixes and near-misses are common.
fn text() -> impl Strategy<Value = String> {
    "[ab\u{e9}\u{1F600}]{0,4}"
}

/// A key as it may stand in an object: mostly strings, sometimes another kind.
fn key() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => text().prop_map(|s| Value::from(s.as_str())),
        1 => (0u64..3).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_object_finds_what_a_sorted_map_finds(
        keys in prop::collection::btree_set(key(), 0..24),
        probes in prop::collection::vec(key(), 0..24),
    ) {
        let map: BTreeMap<Value, Value> =
            keys.iter().enumerate().map(|(i, k)| (k.clone(), Value::from(i as u64))).collect();
        let object = Value::from(map.clone());
        for (k, want) in &map {
            prop_assert_eq!(&object[k], want, "present key {:?}", k);
        }
        for probe in &probes {
            let want = map.get(probe).cloned().unwrap_or(Value::Undefined);
            prop_assert_eq!(&object[probe], &want, "probe {:?}", probe);
        }
    }
}

#[test]
fn keys_that_differ_only_in_length_or_past_a_shared_prefix_are_told_apart() {
    let keys = ["", "a", "aa", "ab", "b", "ba", "\u{e9}", "\u{e9}a"];
    let map: BTreeMap<Value, Value> = keys.iter().map(|k| (Value::from(*k), Value::from(format!("v{k}")))).collect();
    let object = Value::from(map);
    for k in keys {
        assert_eq!(object[&Value::from(k)], Value::from(format!("v{k}")), "key {k:?}");
    }
    for absent in ["aaa", "c", "\u{e8}", "a\u{0}"] {
        assert_eq!(object[&Value::from(absent)], Value::Undefined, "absent key {absent:?}");
    }
}
