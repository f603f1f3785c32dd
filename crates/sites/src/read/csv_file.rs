//! CSV files: delimiter sniffing, encoding detection and decoding, the file's own line numbers.

use super::{
    Encoding, FileFormat, FileInfo, Input, Location, SourceRow, clean_headers, named_cells,
};
use crate::SitesError;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::rc::Rc;

pub(super) fn scan(input: &Input, forced: Option<Encoding>) -> Result<FileInfo, SitesError> {
    let mut file = input.open()?;
    let delimiter = sniff_delimiter(&mut file).map_err(|e| input.io_error(e))?;
    let newlines = Rc::new(RefCell::new(Newlines::default()));
    let file = LineCounter {
        inner: decoding(file, forced),
        offset: 0,
        newlines: Rc::clone(&newlines),
    };
    let mut reader = csv_reader(file, delimiter);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(&e, &newlines))?
        .clone();
    let mut latin = forced.is_some_and(|e| e != Encoding::Utf8);
    let mut detected = false;
    let mut not_utf8 = |bytes: &[u8], line: u64| -> Result<(), SitesError> {
        if latin || std::str::from_utf8(bytes).is_ok() {
            return Ok(());
        }
        if forced == Some(Encoding::Utf8) {
            return Err(SitesError::InvalidFile(format!(
                "line {line} is not valid UTF-8: save the file as UTF-8, or pass --encoding latin-1"
            )));
        }
        latin = true;
        detected = true;
        Ok(())
    };
    not_utf8(header.as_slice(), 1)?;
    let mut record = csv::ByteRecord::new();
    let mut rows = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e, &newlines)),
        }
        rows += 1;
        let start = record.position().map_or(0, csv::Position::byte);
        let line = newlines.borrow_mut().line_at(start);
        not_utf8(record.as_slice(), line)?;
    }
    let encoding = match forced {
        Some(encoding) => encoding,
        None if detected => Encoding::Windows1252,
        None => Encoding::Utf8,
    };
    // Only a header that was read before the encoding was known needs decoding here.
    let header_text: Vec<String> = header
        .iter()
        .map(|cell| {
            decode_cell(
                cell,
                if forced.is_some() {
                    None
                } else {
                    Some(encoding)
                },
            )
        })
        .collect();
    let columns = clean_headers(header_text.iter().map(String::as_str), input)?;
    Ok(FileInfo {
        format: FileFormat::Csv,
        columns,
        rows,
        encoding: Some(encoding),
        encoding_detected: detected,
        delimiter: Some(delimiter),
        sheet: None,
        array_separator: '|',
    })
}

pub(super) fn read(
    input: &Input,
    info: &FileInfo,
    sink: &mut dyn FnMut(SourceRow) -> bool,
) -> Result<(), SitesError> {
    let newlines = Rc::new(RefCell::new(Newlines::default()));
    let file = LineCounter {
        inner: decoding(input.open()?, info.encoding),
        offset: 0,
        newlines: Rc::clone(&newlines),
    };
    let mut reader = csv_reader(file, info.delimiter.unwrap_or(b','));
    reader
        .byte_headers()
        .map_err(|e| csv_error(&e, &newlines))?;
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&e, &newlines)),
        }
        let start = record.position().map_or(0, csv::Position::byte);
        // The csv crate's own line count misses the line ends of CRLF files: count them.
        let line = newlines.borrow_mut().line_at(start);
        let row = SourceRow {
            location: Location::Line(line),
            columns: named_cells(&info.columns, record.iter()),
        };
        if !sink(row) {
            break;
        }
    }
    Ok(())
}

/// Wraps the file in a decoder when its encoding is not UTF-8.
fn decoding(file: Box<dyn BufRead + Send>, encoding: Option<Encoding>) -> Box<dyn Read + Send> {
    match encoding.and_then(Encoding::decoder) {
        Some(encoding) => Box::new(DecodingReader {
            inner: file,
            decoder: encoding.new_decoder_without_bom_handling(),
            raw: vec![0; 32 * 1024],
            out: Vec::new(),
            pos: 0,
            done: false,
        }),
        None => Box::new(file),
    }
}

fn decode_cell(bytes: &[u8], encoding: Option<Encoding>) -> String {
    match encoding.and_then(Encoding::decoder) {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn csv_reader<R: Read>(reader: R, delimiter: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(false)
        .from_reader(reader)
}

fn csv_error(e: &csv::Error, newlines: &RefCell<Newlines>) -> SitesError {
    let at = e
        .position()
        .map(|p| format!(" at line {}", newlines.borrow_mut().line_at(p.byte())))
        .unwrap_or_default();
    // The csv crate's own message repeats its line count, which is wrong for CRLF files.
    let what = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => e.to_string(),
    };
    SitesError::InvalidFile(format!("invalid CSV{at}: {what}"))
}

/// French spreadsheets export with `;`, some tools with tabs: take the most frequent of `,`, `;` and tab in the
/// header line, outside quotes (`,` on a tie, as RFC 4180 says).
fn sniff_delimiter<R: BufRead>(reader: &mut R) -> std::io::Result<u8> {
    let buf = reader.fill_buf()?;
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in buf {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                for (d, n) in &mut counts {
                    if *d == b {
                        *n += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let best = counts.iter().fold(
        (b',', 0),
        |best, &(d, n)| if n > best.1 { (d, n) } else { best },
    );
    Ok(best.0)
}

/// Decodes a single-byte encoding into UTF-8 as the CSV parser reads.
struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.out.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.raw)?;
            let last = n == 0;
            let capacity = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.out.clear();
            self.out.resize(capacity, 0);
            self.pos = 0;
            let (_, read, written, _) =
                self.decoder
                    .decode_to_utf8(&self.raw[..n], &mut self.out, last);
            debug_assert_eq!(read, n, "the buffer holds the worst case");
            self.out.truncate(written);
            self.done = last;
        }
        let k = buf.len().min(self.out.len() - self.pos);
        buf[..k].copy_from_slice(&self.out[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// The offsets of the line-end bytes (`\r` or `\n`) read so far and not yet passed by a record.
#[derive(Default)]
struct Newlines {
    pending: VecDeque<(u64, u8)>,
    passed: u64,
}

impl Newlines {
    /// The 1-based line of the first byte of the record at `offset` (records come in increasing offsets). The
    /// parser places a record after blank lines at the start of those lines: they are skipped here.
    fn line_at(&mut self, offset: u64) -> u64 {
        let mut at = offset;
        while let Some(&(n, byte)) = self.pending.front() {
            if n < at {
            } else if n == at {
                at += 1;
            } else {
                break;
            }
            self.pending.pop_front();
            if byte == b'\n' {
                self.passed += 1;
            }
        }
        self.passed + 1
    }
}

/// Notes where each line feed is, as the parser reads.
struct LineCounter<R> {
    inner: R,
    offset: u64,
    newlines: Rc<RefCell<Newlines>>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut newlines = self.newlines.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            if matches!(*b, b'\n' | b'\r') {
                newlines.pending.push_back((self.offset + i as u64, *b));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}
