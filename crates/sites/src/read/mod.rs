//! Reading a hub's file as rows of columns, whatever its format: the first step of an import.
//!
//! A file is read twice. [`scan`] reads it whole without keeping its rows: it checks the syntax, the header (no
//! duplicate column), the encoding (CSV files that are not valid UTF-8 are Windows-1252, the superset of Latin-1
//! that Excel writes), and counts the rows. [`for_each_row`] then streams the rows as [`SourceRow`]s. A file that
//! cannot be read as a whole is refused by the scan, before anything is written.
//!
//! Formats: CSV (UTF-8 with or without BOM, or Latin-1/Windows-1252; `,`, `;` or tab, sniffed from the header
//! line), `.xlsx` (the first sheet or a named one, through `calamine`), and JSON arrays of objects (streamed).
//! Locations are the file's own line numbers (the header is line 1; a spreadsheet's row numbers), or the index in a
//! JSON array.

mod csv_file;
mod json;
mod xlsx;

use crate::SitesError;
use std::fmt;
use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file format the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma-, semicolon- or tab-separated values with a header row.
    Csv,
    /// A JSON array of objects, one per row.
    Json,
    /// An Excel workbook (Office Open XML).
    Xlsx,
}

impl FileFormat {
    /// Parses `csv`, `tsv`, `json` or `xlsx`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Some(Self::Csv),
            "json" => Some(Self::Json),
            "xlsx" => Some(Self::Xlsx),
            _ => None,
        }
    }

    /// Guesses from a file name's extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        path.extension()
            .and_then(|e| e.to_str())
            .and_then(Self::parse)
    }

    /// Guesses from the first bytes: a ZIP archive is a workbook, `[` a JSON array, anything else CSV.
    pub fn sniff(bytes: &[u8]) -> Self {
        let start = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let first = start.iter().find(|b| !b.is_ascii_whitespace());
        if bytes.starts_with(b"PK\x03\x04") {
            Self::Xlsx
        } else if first == Some(&b'[') {
            Self::Json
        } else {
            Self::Csv
        }
    }
}

impl fmt::Display for FileFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Xlsx => "xlsx",
        })
    }
}

/// The text encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// ISO-8859-1, read as Windows-1252 (its superset; what "Latin-1" means in files saved by Excel).
    Latin1,
    /// Windows-1252.
    Windows1252,
}

impl Encoding {
    /// Parses `utf-8`, `latin-1` (`iso-8859-1`, `latin1`) or `windows-1252` (`cp1252`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(Self::Utf8),
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "l1" => Some(Self::Latin1),
            "windows-1252" | "cp1252" | "win-1252" => Some(Self::Windows1252),
            _ => None,
        }
    }

    /// The `encoding_rs` decoder, `None` for UTF-8 (read as is).
    fn decoder(self) -> Option<&'static encoding_rs::Encoding> {
        match self {
            Self::Utf8 => None,
            // The WHATWG Encoding Standard maps the label "iso-8859-1" to windows-1252 too.
            Self::Latin1 | Self::Windows1252 => Some(encoding_rs::WINDOWS_1252),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Utf8 => "utf-8",
            Self::Latin1 => "latin-1",
            Self::Windows1252 => "windows-1252",
        })
    }
}

/// Where a row is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// The file's own line number (CSV) or row number (spreadsheet); the header is line 1.
    Line(u64),
    /// A 0-based index in a JSON array.
    Index(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(n) => write!(f, "line {n}"),
            Self::Index(n) => write!(f, "index {n}"),
        }
    }
}

/// One row of a source file: its location and its non-empty cells, in the file's column order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRow {
    /// Where the row is in the file.
    pub location: Location,
    /// (column name, value) for each cell that is not blank.
    pub columns: Vec<(String, String)>,
}

impl SourceRow {
    /// The value of a column, if the row has one.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.columns
            .iter()
            .find(|(name, _)| name == column)
            .map(|(_, value)| value.as_str())
    }
}

/// The bytes to read: a file on disk, or a buffer (an HTTP upload).
#[derive(Debug, Clone)]
pub enum Input {
    /// A file path.
    Path(PathBuf),
    /// The whole file in memory, with the name it was sent under (for the format guess and messages).
    Bytes {
        /// The file's name, if known.
        name: Option<String>,
        /// Its content.
        bytes: Arc<[u8]>,
    },
}

impl Input {
    /// A name for messages.
    pub fn display_name(&self) -> String {
        match self {
            Self::Path(path) => path.display().to_string(),
            Self::Bytes { name, .. } => name.clone().unwrap_or_else(|| "upload".to_owned()),
        }
    }

    fn format_from_name(&self) -> Option<FileFormat> {
        match self {
            Self::Path(path) => FileFormat::from_path(path),
            Self::Bytes { name, .. } => name
                .as_deref()
                .map(Path::new)
                .and_then(FileFormat::from_path),
        }
    }

    fn io_error(&self, source: std::io::Error) -> SitesError {
        SitesError::Io {
            path: self.display_name(),
            source,
        }
    }

    fn open(&self) -> Result<Box<dyn BufRead + Send>, SitesError> {
        Ok(match self {
            Self::Path(path) => Box::new(BufReader::with_capacity(
                64 * 1024,
                std::fs::File::open(path).map_err(|e| self.io_error(e))?,
            )),
            Self::Bytes { bytes, .. } => Box::new(Cursor::new(Arc::clone(bytes))),
        })
    }

    fn first_bytes(&self) -> Result<Vec<u8>, SitesError> {
        let mut reader = self.open()?;
        let buf = reader.fill_buf().map_err(|e| self.io_error(e))?;
        Ok(buf[..buf.len().min(512)].to_vec())
    }
}

/// How to read a file; `None` fields are detected.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Force the format instead of guessing it from the name or the first bytes.
    pub format: Option<FileFormat>,
    /// Force a CSV file's encoding instead of detecting it.
    pub encoding: Option<Encoding>,
    /// The spreadsheet's sheet to read (default: the first).
    pub sheet: Option<String>,
    /// How the values of a JSON array are joined into one cell (default `|`).
    pub array_separator: Option<char>,
}

/// What [`scan`] learnt about a file; pass it to [`for_each_row`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The format read.
    pub format: FileFormat,
    /// The columns, in file order (for JSON, the union of all objects' keys, sorted).
    pub columns: Vec<String>,
    /// Rows (not counting the header).
    pub rows: u64,
    /// A CSV file's encoding (detected or forced).
    pub encoding: Option<Encoding>,
    /// Whether the encoding was detected because the file is not valid UTF-8.
    pub encoding_detected: bool,
    /// A CSV file's field separator.
    pub delimiter: Option<u8>,
    /// A spreadsheet's sheet.
    pub sheet: Option<String>,
    array_separator: char,
}

impl FileInfo {
    /// Sets how the values of a JSON array are joined into one cell, once the target version is known (a file's
    /// version may be detected from the columns that the scan found).
    pub fn set_array_separator(&mut self, separator: char) {
        self.array_separator = separator;
    }
}

/// Pass 1: reads the whole file once without keeping its rows, and refuses it if it cannot be read as a whole.
pub fn scan(input: &Input, options: &ReadOptions) -> Result<FileInfo, SitesError> {
    let format = match options.format.or_else(|| input.format_from_name()) {
        Some(format) => format,
        None => FileFormat::sniff(&input.first_bytes()?),
    };
    let array_separator = options.array_separator.unwrap_or('|');
    let mut info = match format {
        FileFormat::Csv => csv_file::scan(input, options.encoding)?,
        FileFormat::Json => json::scan(input)?,
        FileFormat::Xlsx => xlsx::scan(input, options.sheet.as_deref())?,
    };
    info.array_separator = array_separator;
    Ok(info)
}

/// Pass 2: hands each row to `sink`, in file order, until it returns false.
pub fn for_each_row(
    input: &Input,
    info: &FileInfo,
    sink: &mut dyn FnMut(SourceRow) -> bool,
) -> Result<(), SitesError> {
    match info.format {
        FileFormat::Csv => csv_file::read(input, info, sink),
        FileFormat::Json => json::read(input, info.array_separator, sink),
        FileFormat::Xlsx => xlsx::read(input, info, sink),
    }
}

/// Reads a whole (small) file into memory: for `mapping check` and tests.
pub fn read_all(
    input: &Input,
    options: &ReadOptions,
) -> Result<(FileInfo, Vec<SourceRow>), SitesError> {
    let info = scan(input, options)?;
    let mut rows = Vec::with_capacity(usize::try_from(info.rows).unwrap_or(0));
    for_each_row(input, &info, &mut |row| {
        rows.push(row);
        true
    })?;
    Ok((info, rows))
}

/// Cleans a header: a BOM, surrounding spaces; refuses duplicate names (the last would silently win otherwise).
///
/// Blank header cells are kept as empty names (their cells are ignored), since spreadsheets often leave trailing
/// empty columns.
fn clean_headers<'a>(
    raw: impl Iterator<Item = &'a str>,
    input: &Input,
) -> Result<Vec<String>, SitesError> {
    let headers: Vec<String> = raw
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let mut duplicates: Vec<&str> = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if !h.is_empty() && headers[..i].contains(h) && !duplicates.contains(&h.as_str()) {
            duplicates.push(h);
        }
    }
    if duplicates.is_empty() {
        Ok(headers)
    } else {
        Err(SitesError::InvalidFile(format!(
            "{}: duplicate column(s) in the header: {}; rename or remove them so that each column has one meaning",
            input.display_name(),
            duplicates.join(", ")
        )))
    }
}

/// The non-blank cells of a row, named by their header.
fn named_cells<'a>(
    headers: &[String],
    cells: impl Iterator<Item = &'a str>,
) -> Vec<(String, String)> {
    headers
        .iter()
        .zip(cells)
        .filter(|(h, v)| !h.is_empty() && !v.trim().is_empty())
        .map(|(h, v)| (h.clone(), v.to_owned()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
