//! Excel workbooks (`.xlsx`), through `calamine`: the first sheet or a named one, row numbers as Excel shows them.

use super::{FileFormat, FileInfo, Input, Location, SourceRow, clean_headers, named_cells};
use crate::SitesError;
use calamine::{Data, Range, Reader, Xlsx};
use std::io::Cursor;

pub(super) fn scan(input: &Input, sheet: Option<&str>) -> Result<FileInfo, SitesError> {
    let (name, range) = load(input, sheet)?;
    let columns = split(input, &range)?;
    let rows = body(&range).filter(|(_, cells)| !blank(cells)).count() as u64;
    Ok(FileInfo {
        format: FileFormat::Xlsx,
        columns,
        rows,
        encoding: None,
        encoding_detected: false,
        delimiter: None,
        sheet: Some(name),
        array_separator: '|',
    })
}

pub(super) fn read(
    input: &Input,
    info: &FileInfo,
    sink: &mut dyn FnMut(SourceRow) -> bool,
) -> Result<(), SitesError> {
    let (_, range) = load(input, info.sheet.as_deref())?;
    let columns = split(input, &range)?;
    for (line, cells) in body(&range) {
        if blank(&cells) {
            continue;
        }
        let row = SourceRow {
            location: Location::Line(line),
            columns: named_cells(&columns, cells.iter().map(String::as_str)),
        };
        if !sink(row) {
            break;
        }
    }
    Ok(())
}

fn blank(cells: &[String]) -> bool {
    cells.iter().all(|c| c.trim().is_empty())
}

/// The header's columns; [`body`] gives the rows under it.
fn split(input: &Input, range: &Range<Data>) -> Result<Vec<String>, SitesError> {
    let header: Vec<String> = range
        .rows()
        .next()
        .map(|r| r.iter().map(cell_text).collect())
        .unwrap_or_default();
    if header.iter().all(String::is_empty) {
        return Err(SitesError::InvalidFile(format!(
            "{}: the sheet is empty (no header row)",
            input.display_name()
        )));
    }
    clean_headers(header.iter().map(String::as_str), input)
}

/// The rows under the header, each with its 1-based row number in the sheet (as Excel shows it).
fn body(range: &Range<Data>) -> impl Iterator<Item = (u64, Vec<String>)> + '_ {
    let header_row = u64::from(range.start().map_or(0, |(row, _)| row)) + 1;
    range
        .rows()
        .skip(1)
        .enumerate()
        .map(move |(i, r)| (header_row + 1 + i as u64, r.iter().map(cell_text).collect()))
}

fn load(input: &Input, sheet: Option<&str>) -> Result<(String, Range<Data>), SitesError> {
    let unreadable = |e: calamine::XlsxError| {
        SitesError::InvalidFile(format!(
            "{} is not a readable .xlsx workbook: {e}",
            input.display_name()
        ))
    };
    match input {
        Input::Path(path) => {
            let workbook: Xlsx<_> = calamine::open_workbook(path).map_err(unreadable)?;
            pick(input, workbook, sheet, unreadable)
        }
        Input::Bytes { bytes, .. } => {
            let workbook =
                Xlsx::new(Cursor::new(std::sync::Arc::clone(bytes))).map_err(unreadable)?;
            pick(input, workbook, sheet, unreadable)
        }
    }
}

fn pick<RS: std::io::Read + std::io::Seek>(
    input: &Input,
    mut workbook: Xlsx<RS>,
    sheet: Option<&str>,
    unreadable: impl Fn(calamine::XlsxError) -> SitesError,
) -> Result<(String, Range<Data>), SitesError> {
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.as_str() == wanted)
            .cloned()
            .ok_or_else(|| {
                SitesError::InvalidFile(format!(
                    "{} has no sheet named {wanted:?}; its sheets: {}",
                    input.display_name(),
                    names.join(", ")
                ))
            })?,
        None => names.first().cloned().ok_or_else(|| {
            SitesError::InvalidFile(format!("{} has no sheet", input.display_name()))
        })?,
    };
    let range = workbook.worksheet_range(&name).map_err(unreadable)?;
    Ok((name, range))
}

/// A cell as the text a CSV export of the sheet would hold: whole numbers without `.0`, dates as ISO dates.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) if dt.is_datetime() => {
            let (y, mo, d, h, mi, s, _) = dt.to_ymd_hms_milli();
            if (h, mi, s) == (0, 0, 0) {
                format!("{y:04}-{mo:02}-{d:02}")
            } else {
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}")
            }
        }
        Data::DateTime(dt) => dt.as_f64().to_string(),
        Data::Error(_) | Data::Empty => String::new(),
    }
}
