//! Tests of the JSON writer and its fragments.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use async_graphql::Name;
use async_graphql::indexmap::IndexMap;

fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(
        entries
            .into_iter()
            .map(|(k, v)| (Name::new(k), v))
            .collect::<IndexMap<_, _>>(),
    )
}

/// Every kind of value, every character that JSON escapes or not, numbers of each kind: the same bytes as
/// serde_json writing async-graphql's tree.
#[test]
fn values_are_written_as_serde_json_writes_them() {
    let every_char: String = (0u32..0x250)
        .chain([0x2028, 0x2029, 0xfeff, 0x1f600])
        .filter_map(char::from_u32)
        .collect();
    let numbers: Vec<Value> = [
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(i64::MIN),
        serde_json::json!(u64::MAX),
        serde_json::json!(1.5),
        serde_json::json!(-0.0),
        serde_json::json!(1e300),
        serde_json::json!(48.856_613_999_999_9),
    ]
    .into_iter()
    .map(|n| Value::from_json(n).unwrap())
    .collect();
    let value = object(vec![
        ("null", Value::Null),
        ("true", Value::Boolean(true)),
        ("false", Value::Boolean(false)),
        ("numbers", Value::List(numbers)),
        ("text", Value::String(every_char.clone())),
        ("empty", Value::String(String::new())),
        ("enum", Value::Enum(Name::new("ACTIVE"))),
        ("bytes", Value::Binary(vec![0u8, 1, 255, 109].into())),
        ("short", Value::Binary(b"\0mj".to_vec().into())),
        ("emptyList", Value::List(vec![])),
        ("emptyObject", Value::Object(IndexMap::new())),
        (
            "nested",
            Value::List(vec![
                object(vec![
                    ("a\"b\\c\n", Value::Null),
                    (every_char.as_str(), Value::from(3)),
                ]),
                Value::List(vec![Value::Null, Value::String("é\u{7f}".into())]),
            ]),
        ),
    ]);
    // Each character alone, first, last and between others, and runs of escapes.
    for c in every_char.chars() {
        for text in [
            c.to_string(),
            format!("a{c}"),
            format!("{c}b"),
            format!("é{c}{c}\"{c}z"),
        ] {
            let mut written = Vec::new();
            write_str(&mut written, &text);
            assert_eq!(written, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
    }
    let mut written = Vec::new();
    write_data(&mut written, &value);
    let expected = serde_json::to_vec(&value).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&written),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(written, expected);
}

/// Documents with two fields under one key anywhere (through fragments too) get no fragments; so do
/// documents too large to check, or whose fragments spread in a cycle.
#[test]
fn documents_merging_fields_get_no_fragments() {
    let writes = |q: &str| writes_fragments(&async_graphql::parser::parse_query(q).unwrap());
    assert!(writes("{ sites { nodes { name department { name } } } }"));
    assert!(writes(
        "{ a: sites { nodes { name } } b: sites { nodes { name } } }"
    ));
    assert!(writes(
        "query { sites { nodes { ...F } } } fragment F on Site { name code }"
    ));
    assert!(writes("query P { x } query Q { x }"));
    assert!(!writes("{ sites { nodes { name } nodes { code } } }"));
    assert!(!writes(
        "{ sites { nodes { name department { code } department { name } } } }"
    ));
    assert!(!writes("{ sites { nodes { name ... on Site { name } } } }"));
    assert!(!writes("{ s: sites { n } s: hubs { n } }"));
    assert!(!writes(
        "{ sites { nodes { name ...F } } } fragment F on Site { name }"
    ));
    assert!(!writes(
        "{ sites { ...F } } fragment F on X { ...G } fragment G on X { ...F }"
    ));
    assert!(!writes("{ sites { ...Missing } }"));
    // Each fragment spreads the next twice, under two keys: 2^30 selections, given up after the budget.
    let mut doubling = String::from("{ ...F0 }");
    for i in 0..30 {
        let j = i + 1;
        doubling.push_str(&format!(
            " fragment F{i} on Q {{ a: f {{ ...F{j} }} b: f {{ ...F{j} }} }}"
        ));
    }
    doubling.push_str(" fragment F30 on Q { x }");
    assert!(!writes(&doubling));
    let shallow = doubling.replace(
        "fragment F5 on Q { a: f { ...F6 } b: f { ...F6 } }",
        "fragment F5 on Q { x }",
    );
    assert!(writes(&shallow), "2^6 selections are checked");
}

/// What `write_key` relies on: the parser takes no alias or field name that JSON would escape.
#[test]
fn response_keys_are_names() {
    for refused in [
        "{ \"a\": x }",
        "{ a-b: x }",
        "{ é: x }",
        "{ a\\b: x }",
        "{ 1a: x }",
    ] {
        assert!(
            async_graphql::parser::parse_query(refused).is_err(),
            "{refused}"
        );
    }
    let doc = async_graphql::parser::parse_query("{ _A9z: x __typename }").unwrap();
    let mut written = Vec::new();
    write_key(&mut written, "_A9z");
    assert_eq!(written, b"\"_A9z\":");
    assert!(doc.operations.iter().next().is_some());
}

/// The eight-byte check finds every byte to escape, wherever it is in the word, and only those.
#[test]
fn the_word_check_finds_every_escape() {
    for len in 0..20 {
        for at in 0..len {
            for byte in 0u8..=255 {
                let mut bytes = vec![b'a'; len];
                bytes[at] = byte;
                assert_eq!(
                    needs_escape(&bytes),
                    ESCAPE[usize::from(byte)] != 0,
                    "byte {byte:#x} at {at} of {len}"
                );
            }
        }
        assert!(!needs_escape(&vec![0x7f; len]));
        assert!(!needs_escape(&vec![0xff; len]));
    }
}

/// A fragment's text is written in place and its fields counted.
#[test]
fn fragments_are_written_in_place() {
    let mut fragment = Fragment::new(8);
    fragment.text().extend_from_slice(b"{\"a\":1}");
    fragment.field();
    let value = fragment.finish();
    assert_eq!(fragment_fields(&value), Some(1));
    assert_eq!(fragment_fields(&Value::Binary(vec![1, 2].into())), None);
    assert_eq!(fragment_fields(&Value::Null), None);
    let tree = object(vec![("x", Value::List(vec![value.clone(), value]))]);
    let mut written = Vec::new();
    write_data(&mut written, &tree);
    assert_eq!(written, br#"{"x":[{"a":1},{"a":1}]}"#);
}

/// The text's length hint counts a fragment's text when it is copied (not its head), nothing when it is a piece of
/// its own, and is within a few bytes of what the text of a body of fragments, names and plain strings takes.
#[test]
fn the_length_hint_is_close_to_what_is_written() {
    let fragment = |repeat: usize| {
        let mut fragment = Fragment::new(0);
        let text = "{\"name\":\"Médiathèque\"}".repeat(repeat);
        fragment.text().extend_from_slice(text.as_bytes());
        fragment.finish()
    };
    for (repeat, shared) in [(1, false), (50, true)] {
        let tree = object(vec![
            ("sites", fragment(repeat)),
            ("names", Value::List(vec![Value::String("Ain".into()); 3])),
            ("none", Value::Null),
        ]);
        let mut pieces = Pieces::default();
        write_data_in_pieces(&mut pieces, &tree);
        let copied = pieces.text().len();
        let (pieces, _) = pieces.finish();
        assert_eq!(pieces.len(), if shared { 3 } else { 1 });
        let hint = text_len_hint(&tree);
        assert!(
            hint >= copied && hint <= copied + 16,
            "{hint} for {copied} bytes"
        );
    }
}

/// Written in pieces, a tree reads as written in one buffer: a large fragment is a piece of its own, shared with
/// the tree (not copied), a small one is copied into the text around it, and the length is the pieces' sum.
#[test]
fn pieces_join_into_the_text_written_in_one_buffer() {
    let large = {
        let mut fragment = Fragment::for_list(0);
        let text = format!("[{}]", vec!["{\"code\":\"69\"}"; 200].join(","));
        fragment.text().extend_from_slice(text.as_bytes());
        fragment.finish()
    };
    let small = {
        let mut fragment = Fragment::new(0);
        fragment.text().extend_from_slice(b"{\"a\":1}");
        fragment.finish()
    };
    let trees = [
        large.clone(),
        object(vec![("sites", object(vec![("nodes", large.clone())]))]),
        object(vec![
            ("first", large.clone()),
            ("small", small.clone()),
            (
                "list",
                Value::List(vec![large.clone(), small.clone(), large.clone()]),
            ),
            ("last", Value::String("fin".into())),
        ]),
        object(vec![("small", small), ("n", Value::from(1))]),
        Value::Null,
    ];
    let Value::Binary(large_bytes) = &large else {
        panic!("a fragment is binary");
    };
    for tree in trees {
        let mut one = Vec::new();
        write_data(&mut one, &tree);
        let mut pieces = Pieces::default();
        write_data_in_pieces(&mut pieces, &tree);
        let (pieces, len) = pieces.finish();
        assert_eq!(pieces.concat(), one);
        assert_eq!(len, one.len());
        assert!(pieces.iter().all(|p| !p.is_empty()));
        for piece in pieces.iter().filter(|p| p.len() >= OWN_PIECE_MIN) {
            let inside = large_bytes.as_ptr_range();
            assert!(
                inside.contains(&piece.as_ptr()),
                "a large fragment's piece is the tree's own bytes"
            );
        }
    }
}

/// A value kept in a fragment is made once and found again by its type; `make` giving nothing keeps nothing, and
/// values of other types are kept beside it.
#[test]
fn a_fragment_keeps_one_value_per_type() {
    let mut fragment = Fragment::for_list(0);
    let mut made = 0;
    for _ in 0..3 {
        let kept = fragment.kept(|| {
            made += 1;
            Some(std::sync::Arc::new(7u32))
        });
        assert_eq!(kept.as_deref(), Some(&7));
    }
    assert_eq!(made, 1);
    assert_eq!(fragment.kept::<String>(|| None), None);
    assert_eq!(fragment.kept(|| Some("a".to_owned())), Some("a".to_owned()));
    assert_eq!(fragment.kept(|| Some("b".to_owned())), Some("a".to_owned()));
    let again = fragment.kept::<std::sync::Arc<u32>>(|| None);
    assert_eq!(again.as_deref(), Some(&7));
}
