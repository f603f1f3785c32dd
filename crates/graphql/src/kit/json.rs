//! A response's `data` written as JSON text, and the JSON fragments objects resolved from memory leave in it.
//!
//! async-graphql builds a response as a tree of [`Value`]s, each object an `IndexMap` and each string a `String` of
//! its own, which the server then writes out and frees. On a page of 50 sites with their departments and regions,
//! building, writing and freeing that tree was about 45 % of Maillage's instructions (issue #16,
//! docs/PERFORMANCE.md). When the request carries [`JsonFragments`] (the HTTP endpoint's requests do), an object
//! whose whole selection is in memory (`crate::kit::memory`) is written straight to JSON text, kept in the tree as
//! one [`fragment`]; [`write_data_in_pieces`] writes the tree with each fragment's text in place (a large one
//! shared, not copied).
//!
//! A fragment is a `Value::Binary` holding a mark, the number of fields written in it (the response's actual cost
//! counts them, [`fragment_fields`]) and the text. No field of the schema returns binary data, and only requests
//! whose response [`write_data_in_pieces`] writes carry [`JsonFragments`]: a response executed without it (the
//! WebSocket transport, the CLI, tests reading `Value`s) holds no fragment. Any other value is written exactly as
//! `serde_json` writes async-graphql's tree (a test compares both), so a response reads the same either way.

use crate::kit::selection::Checked;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Value};
use bytes::Bytes;
use std::any::Any;
use std::io::Write;

/// Request data asking objects resolved from memory to be left in the response as JSON fragments: only for a
/// response whose `data` [`write_data_in_pieces`] writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonFragments;

/// Whether the responses of `doc` may hold fragments: no selection set of it has two fields under one response key,
/// directly or through its fragments (inline or spread).
///
/// Why: async-graphql merges two fields under one key into one value, object into object and list item into list
/// item (`{ nodes { name } nodes { code } }`); a fragment is text and cannot be merged, so an object written as one
/// would lose the other field's part. Such documents are rare (tools generating queries from several fragments);
/// their requests go without fragments, answered as before. A document too large to check quickly (fragments
/// spread within fragments many times, or in a cycle, which validation refuses later) is answered without either.
pub fn writes_fragments(doc: &ExecutableDocument) -> bool {
    let mut budget = FRAGMENT_CHECK_BUDGET;
    doc.operations.iter().all(|(_, operation)| {
        keys_unique(
            doc,
            &operation.node.selection_set.node,
            &mut Vec::new(),
            &mut budget,
        )
    })
}

/// The most selections [`writes_fragments`] looks at.
const FRAGMENT_CHECK_BUDGET: usize = 10_000;

/// Whether the fields of `set` (with those of its fragments, all under one object) have response keys unlike
/// each other's and unlike `keys`, and so on below each field; `budget` counts the selections looked at.
fn keys_unique<'d>(
    doc: &'d ExecutableDocument,
    set: &'d SelectionSet,
    keys: &mut Vec<&'d Name>,
    budget: &mut usize,
) -> bool {
    for selection in &set.items {
        let Some(left) = budget.checked_sub(1) else {
            return false;
        };
        *budget = left;
        let unique = match &selection.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                if keys.contains(&key) {
                    return false;
                }
                keys.push(key);
                keys_unique(doc, &field.node.selection_set.node, &mut Vec::new(), budget)
            }
            Selection::InlineFragment(inline) => {
                keys_unique(doc, &inline.node.selection_set.node, keys, budget)
            }
            Selection::FragmentSpread(spread) => {
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) => {
                        keys_unique(doc, &fragment.node.selection_set.node, keys, budget)
                    }
                    None => false,
                }
            }
        };
        if !unique {
            return false;
        }
    }
    true
}

/// What begins a fragment's bytes: no binary value of async-graphql's tree is a fragment by chance.
const MARK: &[u8; 4] = b"\0mjf";

/// The length of a fragment's head: the mark, then its number of fields (`u32`, little-endian).
const HEAD: usize = MARK.len() + 4;

/// A fragment being written: the head, then JSON text; [`Fragment::finish`] makes it the tree's value.
pub(crate) struct Fragment {
    bytes: Vec<u8>,
    fields: u32,
    /// For a list's fragment, the selection sets written so far, checked once for all the objects of the list.
    checked: Option<Checked>,
    /// Values kept for all the objects written in this fragment, one per type ([`Fragment::kept`]).
    kept: Vec<Box<dyn Any + Send + Sync>>,
}

impl Fragment {
    /// An empty fragment with room for `capacity` bytes of text.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(HEAD + capacity);
        bytes.extend_from_slice(MARK);
        bytes.extend_from_slice(&[0; 4]);
        Self {
            bytes,
            fields: 0,
            checked: None,
            kept: Vec::new(),
        }
    }

    /// An empty fragment for the objects of a list, which checks each selection set once for all of them.
    pub(crate) fn for_list(capacity: usize) -> Self {
        Self {
            checked: Some(Checked::default()),
            ..Self::new(capacity)
        }
    }

    /// The selection sets checked for this fragment, when it is a list's.
    pub(crate) fn checked(&mut self) -> Option<&mut Checked> {
        self.checked.as_mut()
    }

    /// Writes the text before the value of field `field` of the checked set `set` (its key, after `{` or `,`) and
    /// gives that field's position in the selection and whether it is `__typename`; `None` when the set has no
    /// such field. One look-up for both, inlined into the loop of `write_selection`: as a call of its own, made
    /// after a second look-up of the same field, it cost Q1 0.9 % of its instructions (issue #16).
    #[inline]
    pub(crate) fn write_checked_key(&mut self, set: usize, field: usize) -> Option<(usize, bool)> {
        let checked = self.checked.as_ref()?.fields(set)?.get(field)?;
        self.bytes.extend_from_slice(&checked.key);
        Some((checked.index, checked.typename))
    }

    /// The value of type `T` kept in this fragment, made by `make` (and kept, unless `None`) when there is none.
    ///
    /// Why: an object of a list that needs something from the request to write itself (a department its region,
    /// from the reference snapshot) would otherwise fetch it once per object. Fetching the snapshot (the request's
    /// data, a lock, a reference count and a clock read) was about 250 instructions per site of a page, 2 % of Q1
    /// (issue #16). Kept for one fragment only, that is one response being written: the page's objects are then
    /// written from one snapshot.
    pub(crate) fn kept<T: Any + Clone + Send + Sync>(
        &mut self,
        make: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        if let Some(found) = self.kept.iter().find_map(|kept| kept.downcast_ref::<T>()) {
            return Some(found.clone());
        }
        let made = make()?;
        self.kept.push(Box::new(made.clone()));
        Some(made)
    }

    /// The text written so far, to write more.
    pub(crate) fn text(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Counts one more field written (an object's entry, at any depth).
    pub(crate) fn field(&mut self) {
        self.fields = self.fields.saturating_add(1);
    }

    /// The fragment as a value of the response's tree.
    pub(crate) fn finish(mut self) -> Value {
        self.bytes[MARK.len()..HEAD].copy_from_slice(&self.fields.to_le_bytes());
        Value::Binary(self.bytes.into())
    }
}

/// The JSON text and field count of `value` when it is a fragment.
fn fragment(value: &[u8]) -> Option<(u32, &[u8])> {
    let (head, text) = value.split_at_checked(HEAD)?;
    let (mark, fields) = head.split_at(MARK.len());
    if mark != MARK {
        return None;
    }
    let fields = u32::from_le_bytes(fields.try_into().ok()?);
    Some((fields, text))
}

/// The number of fields (object entries, at every depth) written in `value` when it is a fragment: what its
/// objects would count in async-graphql's tree (`crate::cost::actual_cost`).
fn fragment_fields(value: &Value) -> Option<u64> {
    match value {
        Value::Binary(bytes) => fragment(bytes).map(|(fields, _)| u64::from(fields)),
        _ => None,
    }
}

/// What a response really contained, in the unit of the static cost: one per field present in `data` (each item
/// of a list of objects counting its own fields, a fragment the fields written in it). The static cost is
/// `crate::cost`'s. Always at most the static cost, except where a list outgrew its estimate.
pub fn actual_cost(data: &Value) -> u64 {
    fn fields(value: &Value) -> u64 {
        match value {
            Value::Object(map) => map
                .values()
                .map(|v| 1 + inner(v))
                .fold(0u64, u64::saturating_add),
            _ => 0,
        }
    }
    fn inner(value: &Value) -> u64 {
        match value {
            Value::Object(_) => fields(value),
            Value::Binary(_) => fragment_fields(value).unwrap_or(0),
            Value::List(items) => items.iter().map(inner).fold(0u64, u64::saturating_add),
            _ => 0,
        }
    }
    fields(data)
}

/// About how many bytes [`write_data_in_pieces`] writes into the text of its [`Pieces`] for `value`: a fragment's
/// text exactly when it is copied there, nothing when it is a piece of its own, the rest roughly (escapes and
/// numbers are not counted), so that the text is allocated once.
///
/// Why: a body grown as it was written copied its text again on the way (a page of 50 sites, 1.4 % of its
/// instructions before the page became a piece of its own, issue #16). Reading the lengths is a small part of
/// writing the values.
pub fn text_len_hint(value: &Value) -> usize {
    match value {
        Value::Binary(bytes) => match fragment(bytes) {
            Some((_, text)) if text.len() >= OWN_PIECE_MIN => 0,
            Some((_, text)) => text.len(),
            None => bytes.len() * 4,
        },
        Value::String(text) => text.len() + 2,
        Value::Enum(name) => name.len() + 2,
        Value::List(items) => {
            items
                .iter()
                .map(|item| text_len_hint(item) + 1)
                .sum::<usize>()
                + 2
        }
        Value::Object(map) => {
            map.iter()
                .map(|(key, item)| key.len() + 4 + text_len_hint(item))
                .sum::<usize>()
                + 2
        }
        Value::Null | Value::Boolean(_) | Value::Number(_) => 8,
    }
}

/// A response's JSON text in pieces: the text written around the fragments, and each large fragment's own text as
/// a piece of its own, shared with the tree rather than copied ([`write_data_in_pieces`]).
///
/// Why: a page of 50 sites is one fragment of about 10 KB, which a body written as one buffer copied; the copy and
/// the body's allocation were about 1.3 % of Q1's CPU (issue #16, docs/PERFORMANCE.md). The server sends the
/// pieces with vectored writes (hyper writes up to 16 buffers at once).
#[derive(Debug, Default)]
pub struct Pieces {
    /// All the text written, in one buffer: the pieces of text are slices of it.
    text: Vec<u8>,
    /// The pieces in order: the end of a piece of text in `text`, or a fragment's shared text.
    order: Vec<Piece>,
    /// Where the piece of text being written begins in `text`.
    start: usize,
}

/// One piece of [`Pieces`].
#[derive(Debug)]
enum Piece {
    /// The text of [`Pieces::text`] up to this end, from the end of the one before.
    Text(usize),
    /// A large fragment's text, shared with the tree.
    Shared(Bytes),
}

/// The shortest fragment text [`Pieces`] keeps as a piece of its own: a shorter one is cheaper to copy than to send
/// as one more buffer of the body.
const OWN_PIECE_MIN: usize = 1024;

impl Pieces {
    /// The text being written, to write more of it.
    pub fn text(&mut self) -> &mut Vec<u8> {
        &mut self.text
    }

    /// The pieces, in order, and their total length in bytes: the text is one allocation, its pieces slices of it.
    pub fn finish(mut self) -> (Vec<Bytes>, usize) {
        self.end_text();
        let text = Bytes::from(self.text);
        let mut len = 0;
        let mut from = 0;
        let pieces = self
            .order
            .into_iter()
            .map(|piece| {
                let piece = match piece {
                    Piece::Text(end) => text.slice(std::mem::replace(&mut from, end)..end),
                    Piece::Shared(shared) => shared,
                };
                len += piece.len();
                piece
            })
            .collect();
        (pieces, len)
    }

    /// Ends the piece of text being written, unless it is empty.
    fn end_text(&mut self) {
        if self.text.len() > self.start {
            self.start = self.text.len();
            self.order.push(Piece::Text(self.start));
        }
    }
}

/// Writes `value` as `serde_json` writes async-graphql's tree, each fragment's text in its place, into `pieces`:
/// each fragment's text of [`OWN_PIECE_MIN`] bytes or more as a piece of its own, the rest into the current text.
pub fn write_data_in_pieces(pieces: &mut Pieces, value: &Value) {
    write_value(pieces, value);
}

/// Writes `value` as `serde_json` writes async-graphql's tree, each fragment's text in its place.
pub fn write_data(out: &mut Vec<u8>, value: &Value) {
    write_value(out, value);
}

/// Where [`write_value`] writes: a `Vec` copies a fragment's text, [`Pieces`] may keep it as it is.
trait Sink {
    /// The text being written.
    fn text(&mut self) -> &mut Vec<u8>;
    /// Writes the fragment text `text`, which `whole` (the tree's value) holds.
    fn fragment(&mut self, whole: &Bytes, text: &[u8]);
}

impl Sink for Vec<u8> {
    fn text(&mut self) -> &mut Vec<u8> {
        self
    }

    fn fragment(&mut self, _: &Bytes, text: &[u8]) {
        self.extend_from_slice(text);
    }
}

impl Sink for Pieces {
    fn text(&mut self) -> &mut Vec<u8> {
        &mut self.text
    }

    fn fragment(&mut self, whole: &Bytes, text: &[u8]) {
        if text.len() < OWN_PIECE_MIN {
            self.text.extend_from_slice(text);
        } else {
            self.end_text();
            self.order.push(Piece::Shared(whole.slice_ref(text)));
        }
    }
}

/// The walk of the tree of [`write_data`] and [`write_data_in_pieces`].
fn write_value<S: Sink>(sink: &mut S, value: &Value) {
    match value {
        Value::Binary(bytes) => match fragment(bytes) {
            Some((_, text)) => sink.fragment(bytes, text),
            // As serde_json writes bytes: an array of numbers.
            None => {
                let out = sink.text();
                out.push(b'[');
                for (i, byte) in bytes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // A `Vec` takes every byte.
                    let _ = write!(out, "{byte}");
                }
                out.push(b']');
            }
        },
        Value::List(items) => {
            sink.text().push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sink.text().push(b',');
                }
                write_value(sink, item);
            }
            sink.text().push(b']');
        }
        Value::Object(map) => {
            sink.text().push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                let out = sink.text();
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(sink, item);
            }
            sink.text().push(b'}');
        }
        Value::Null => sink.text().extend_from_slice(b"null"),
        Value::Boolean(true) => sink.text().extend_from_slice(b"true"),
        Value::Boolean(false) => sink.text().extend_from_slice(b"false"),
        Value::Number(number) => write_number(sink.text(), number),
        Value::String(text) => write_str(sink.text(), text),
        Value::Enum(name) => write_str(sink.text(), name),
    }
}

/// Writes `text` as a JSON string, escaped as `serde_json` escapes it: `"` and `\\` with a backslash, the control
/// characters below U+0020 as `\\b`, `\\t`, `\\n`, `\\f`, `\\r` or `\\u00xx`, everything else as it is.
///
/// Why not serde_json's own: it looks up every byte in a table, about 9 instructions a byte; a page of 50 sites
/// writes 800 strings (12 % of the request, issue #16). Most strings need no escape at all, which this checks eight
/// bytes at a time ([`needs_escape`]) before copying them whole; the others are escaped byte by byte as serde_json
/// does. The test `values_are_written_as_serde_json_writes_them` compares both on every character up to U+024F and
/// more, alone, first, last and in runs.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if needs_escape(bytes) {
        write_escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Writes `key`, a response key, and the colon after it: `"key":`.
///
/// A response key is a GraphQL name (an alias or a field name), which the parser only accepts as
/// `[_A-Za-z][_0-9A-Za-z]*`: it never needs an escape (test `response_keys_are_names`).
pub fn write_key(out: &mut Vec<u8>, key: &str) {
    out.reserve(key.len() + 3);
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Whether a byte of `bytes` is escaped in JSON: one below 0x20, `"` or `\\`; eight bytes at a time.
///
/// The bytes after the last whole word are tested as the last eight bytes of `bytes`, overlapping words already
/// tested, rather than one by one: a name of 20 bytes is three word tests instead of two and four table look-ups.
/// Only a string shorter than a word goes byte by byte.
fn needs_escape(bytes: &[u8]) -> bool {
    let mut words = bytes.chunks_exact(8);
    if words.by_ref().any(word_needs_escape) {
        return true;
    }
    if words.remainder().is_empty() {
        return false;
    }
    match bytes
        .len()
        .checked_sub(8)
        .and_then(|start| bytes.get(start..))
    {
        Some(last) => word_needs_escape(last),
        None => bytes.iter().any(|&byte| ESCAPE[usize::from(byte)] != 0),
    }
}

/// [`needs_escape`] of `word`, eight bytes (any other length is taken as needing an escape, which only costs the
/// byte-by-byte writer).
#[inline]
fn word_needs_escape(word: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let Ok(word) = <[u8; 8]>::try_from(word) else {
        return true;
    };
    let x = u64::from_le_bytes(word);
    // The classic tests of a word for a byte below `n` (`x - n` borrows into the byte's high bit) and for a zero
    // byte (`x ^ c` is zero where a byte equals `c`): each exact as to whether such a byte exists, so their union
    // is exact too, tested once.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x;
    (below(x, 0x20) | below(x ^ (ONES * 0x22), 1) | below(x ^ (ONES * 0x5c), 1)) & HIGH != 0
}

/// Writes `bytes` escaped, without the quotes.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        start = i + 1;
        if escape == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.push(b'\\');
            out.push(escape);
        }
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// For each byte, the letter that follows the backslash of its escape (`u` for `\\u00xx`), or 0 when it is written
/// as it is.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes `number` as `serde_json` writes it.
fn write_number(out: &mut Vec<u8>, number: &serde_json::Number) {
    // As above: a `Vec` takes every byte, and a `Number` is always finite.
    let _ = serde::Serialize::serialize(number, &mut serde_json::Serializer::new(&mut *out));
}

#[cfg(test)]
mod tests;
