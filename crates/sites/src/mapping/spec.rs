//! The TOML form of a mapping, as written by people (see `docs/MAPPINGS.md`); [`super::Mapping::parse`] checks it
//! and compiles it once.

use serde::Deserialize;
use std::collections::BTreeMap;

/// A whole mapping file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MappingSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    /// The target version of the national standard: `0.1.1` or `1.0.2`.
    pub standard: String,
    /// Take every column named like a field of the standard as it is (the identity mappings).
    #[serde(default)]
    pub passthrough: bool,
    /// Columns never read, because they may hold personal data.
    #[serde(default)]
    pub drop: Vec<String>,
    /// For each field of the standard, where its value comes from.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldSpec>,
}

/// Where one field's value comes from, and what is done to it.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FieldSpec {
    pub column: Option<String>,
    pub columns: Option<Vec<String>>,
    pub compose: Option<String>,
    pub extract: Option<ExtractSpec>,
    pub value: Option<String>,
    pub hours: Option<BTreeMap<String, String>>,
    pub lookup: Option<String>,
    pub split: Option<String>,
    #[serde(default)]
    pub transforms: Vec<String>,
    #[serde(default)]
    pub translate: BTreeMap<String, OneOrMany>,
    #[serde(default)]
    pub only_translated: bool,
    pub default: Option<String>,
    #[serde(default)]
    pub or: Vec<FieldSpec>,
}

/// `extract = { column = "adresse", pattern = '(\d{5})' }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtractSpec {
    pub column: String,
    pub pattern: String,
    pub group: Option<usize>,
}

/// A translation's target: one value, or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}
