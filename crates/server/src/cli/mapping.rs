//! `maillage mapping list|check`: the built-in mappings, and what a mapping does to a file, without writing anything.

use clap::Subcommand;
use maillage_core::ErrorCode;
use maillage_sites::import::{Encoding, FileFormat};
use maillage_sites::mapping::{BUILT_IN, Mapping, MappingReport};
use maillage_sites::read::{self, Input, ReadOptions};
use maillage_sites::standard::parse::{RowOutcome, parse_row};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// `writeln!` into the output buffer (writing to a `String` cannot fail).
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        let _ = writeln!($out, $($arg)*);
    };
}

/// `maillage mapping …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MappingAction {
    /// List the built-in mappings.
    List,
    /// Show what a mapping does to a file: rows, sample values per field, untranslated values, rejected rows.
    Check {
        /// The file (CSV, JSON or .xlsx).
        file: PathBuf,
        /// A built-in mapping's name or a mapping file (TOML).
        #[arg(long)]
        mapping: String,
        /// A CSV file's encoding (utf-8, latin-1, windows-1252), when detection is not wanted.
        #[arg(long)]
        encoding: Option<String>,
        /// The spreadsheet's sheet (default: the first).
        #[arg(long)]
        sheet: Option<String>,
        /// File format (csv, json, xlsx), when the extension does not tell.
        #[arg(long)]
        format: Option<String>,
        /// Sample values shown per field.
        #[arg(long, default_value_t = 3)]
        samples: usize,
        /// Rejected rows listed (all are counted).
        #[arg(long, default_value_t = 20)]
        rejected: usize,
    },
}

pub(crate) fn run(action: MappingAction) -> Result<ExitCode, String> {
    match action {
        MappingAction::List => {
            for (name, _) in BUILT_IN {
                let mapping = Mapping::load(name).map_err(|e| e.to_string())?;
                println!(
                    "{name:<28} standard {}  {}",
                    mapping.version(),
                    mapping.description()
                );
            }
            println!("(or --mapping path/to/mapping.toml; format: docs/MAPPINGS.md)");
            Ok(ExitCode::SUCCESS)
        }
        MappingAction::Check {
            file,
            mapping,
            encoding,
            sheet,
            format,
            samples,
            rejected,
        } => check(&file, &mapping, encoding, sheet, format, samples, rejected),
    }
}

/// Parses `--encoding`.
pub(crate) fn encoding_arg(raw: Option<&str>) -> Result<Option<Encoding>, String> {
    raw.map(|e| {
        Encoding::parse(e)
            .ok_or_else(|| format!("unknown encoding {e:?}: use utf-8, latin-1 or windows-1252"))
    })
    .transpose()
}

fn check(
    file: &std::path::Path,
    mapping: &str,
    encoding: Option<String>,
    sheet: Option<String>,
    format: Option<String>,
    samples: usize,
    rejected_shown: usize,
) -> Result<ExitCode, String> {
    let fail = |e: maillage_sites::SitesError| format!("{e} [{}]", e.code());
    // Written at the end in one go: `| head` closing the pipe early ends the command quietly.
    let mut out = String::new();
    let mapping = Mapping::load(mapping).map_err(fail)?;
    let format = format
        .map(|f| {
            FileFormat::parse(&f)
                .ok_or_else(|| format!("unknown format {f:?}: use csv, json or xlsx"))
        })
        .transpose()?;
    let options = ReadOptions {
        format,
        encoding: encoding_arg(encoding.as_deref())?,
        sheet,
        array_separator: Some(mapping.version().separator()),
    };
    let input = Input::Path(file.to_owned());
    let info = read::scan(&input, &options).map_err(fail)?;
    say!(
        out,
        "{}: {} rows ({}{}{}), mapping {} → standard {}",
        file.display(),
        info.rows,
        info.format,
        info.encoding
            .map(|e| format!(
                ", {e}{}",
                if info.encoding_detected {
                    " (detected)"
                } else {
                    ""
                }
            ))
            .unwrap_or_default(),
        info.sheet
            .as_deref()
            .map(|s| format!(", sheet {s:?}"))
            .unwrap_or_default(),
        mapping.name(),
        mapping.version(),
    );
    let missing = mapping.missing_columns(&info.columns);
    if !missing.is_empty() {
        say!(
            out,
            "  missing required column(s): {} (an import is refused)",
            missing.join(", ")
        );
    }
    let unused = mapping.unused_columns(&info.columns);
    if !unused.is_empty() {
        say!(out, "  columns not read: {}", unused.join(", "));
    }
    let mut report = MappingReport::default();
    let mut values: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
    let (mut valid, mut corrected) = (0u64, 0u64);
    let mut rejected: Vec<String> = Vec::new();
    let mut rejected_count = 0u64;
    let mut notes = 0u64;
    read::for_each_row(&input, &info, &mut |row| {
        let mapped = mapping.apply(&row);
        report.merge(mapped.report);
        notes += mapped.notes.len() as u64;
        for (field, value) in &mapped.row {
            let entry = values.entry(field.clone()).or_default();
            entry.0 += 1;
            if entry.1.len() < samples && !entry.1.contains(value) {
                entry.1.push(value.clone());
            }
        }
        match parse_row(mapping.version(), &mapped.row) {
            RowOutcome::Valid { corrections, .. } => {
                valid += 1;
                corrected += u64::from(!corrections.is_empty() || !mapped.notes.is_empty());
            }
            RowOutcome::Rejected { issues } => {
                rejected_count += 1;
                if rejected.len() < rejected_shown {
                    let issues: Vec<String> = issues.iter().map(ToString::to_string).collect();
                    rejected.push(format!("{}: {}", row.location, issues.join("; ")));
                }
            }
        }
        true
    })
    .map_err(fail)?;
    say!(
        out,
        "  would store {valid} ({corrected} with corrections), reject {rejected_count}; {notes} value(s) the mapping could not use"
    );
    say!(out, "fields (rows with a value, samples):");
    for (field, (count, sample)) in &values {
        let sample: Vec<String> = sample.iter().map(|s| format!("{:?}", shorten(s))).collect();
        say!(out, "  {field:<32} {count:>6}  {}", sample.join(", "));
    }
    if !report.untranslated.is_empty() {
        say!(
            out,
            "untranslated values (kept raw; add them to the mapping's translate tables):"
        );
        for ((column, value), count) in &report.untranslated {
            say!(out, "  {column:<28} {count:>6}  {value:?}");
        }
    }
    if rejected_count > 0 {
        say!(out, "rejected rows ({rejected_count}):");
        for line in &rejected {
            say!(out, "  {line}");
        }
        if rejected_count > rejected.len() as u64 {
            say!(out, "  … {} more", rejected_count - rejected.len() as u64);
        }
    }
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the output: {e}"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 50 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(49).collect::<String>())
    }
}
