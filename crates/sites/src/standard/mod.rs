//! The national standard "lieux de médiation numérique" (La MedNum / ANCT): reading rows of v0.1.1 and v1.0.2
//! files into [`crate::model::NewSite`], and writing v1.0.2 rows.
//!
//! Reading is lenient (a bad optional value is dropped and reported, the row kept) because real files are
//! hand-made; writing is strict (only what the v1.0.2 schema accepts) because consumers validate what they receive.

pub mod export;
pub mod parse;
pub mod vocabulary;

pub use export::{V1_COLUMNS, to_v1_record};
pub use parse::{
    RawRow, RowIssue, RowOutcome, detect_version, known_columns, parse_row, split_multi,
};
