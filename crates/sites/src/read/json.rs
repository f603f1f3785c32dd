//! JSON files: a top-level array of objects, streamed without holding the array in memory.

use super::{FileFormat, FileInfo, Input, Location, SourceRow};
use crate::SitesError;
use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;

type JsonObject = serde_json::Map<String, Value>;

pub(super) fn scan(input: &Input) -> Result<FileInfo, SitesError> {
    let mut columns = BTreeSet::new();
    let mut rows = 0u64;
    for_each_object(input.open()?, &mut |_, row| {
        columns.extend(row.keys().cloned());
        rows += 1;
        true
    })?;
    Ok(FileInfo {
        format: FileFormat::Json,
        columns: columns.into_iter().collect(),
        rows,
        encoding: None,
        encoding_detected: false,
        delimiter: None,
        sheet: None,
        array_separator: '|',
    })
}

pub(super) fn read(
    input: &Input,
    separator: char,
    sink: &mut dyn FnMut(SourceRow) -> bool,
) -> Result<(), SitesError> {
    for_each_object(input.open()?, &mut |index, object| {
        let columns = object
            .into_iter()
            .filter_map(|(k, v)| to_text(v, separator).map(|v| (k, v)))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        sink(SourceRow {
            location: Location::Index(index),
            columns,
        })
    })
}

/// A JSON value as the text a CSV cell would carry; `None` for null.
fn to_text(value: Value, separator: char) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .into_iter()
                .filter_map(|v| to_text(v, separator))
                .collect::<Vec<_>>()
                .join(&separator.to_string()),
        ),
        Value::Object(_) => Some(value.to_string()),
    }
}

/// Streams the objects of a top-level JSON array to `sink`.
fn for_each_object<R: Read>(
    reader: R,
    sink: &mut dyn FnMut(u64, JsonObject) -> bool,
) -> Result<(), SitesError> {
    struct Rows<'a> {
        sink: &'a mut dyn FnMut(u64, JsonObject) -> bool,
    }
    impl<'de> Visitor<'de> for Rows<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of objects, one per site")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut index = 0u64;
            loop {
                let element: Option<Value> = seq.next_element()?;
                let Some(element) = element else { break };
                let Value::Object(object) = element else {
                    return Err(A::Error::custom(format!(
                        "element {index} of the array is not an object"
                    )));
                };
                if !(self.sink)(index, object) {
                    // The consumer stopped (its side failed): drain without work.
                    while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    break;
                }
                index += 1;
            }
            Ok(())
        }
    }
    impl<'de> DeserializeSeed<'de> for Rows<'_> {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    Rows { sink }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| SitesError::InvalidFile(format!("invalid JSON: {e}")))
}
