//! `maillage funding import grants|pass FILE`: historical grants (with their real decision, signature and closing
//! dates) and Pass numérique programmes, from CSV.
//!
//! All or nothing: every row is parsed and checked first (a grant against its beneficiary and rule, exactly as
//! through the API), then all are written in one write transaction, each committing in its envelope under the
//! envelope chain's locks. One rejected row (bad value, unknown beneficiary, amount differing from the rule
//! without an override reason, envelope exceeded) and nothing is written; the report gives the file line of every
//! row. `,` and `;` delimiters are accepted; column names are case-insensitive.
//!
//! Grants: `envelope` (code), `beneficiary_kind` (`host_structure`, `hub`, `ami_dossier`, `collectivite`),
//! `beneficiary_ref`, `amount` (euros), `decision_date` are required; `funded_posts` (the post request, for a host
//! structure), `host_kind`, `department`, `beneficiary_name`, `posts`, `contract_years` (salary-based rule),
//! `signed_on`, `closed_on`, `starts_on` (default: signature, else decision), `ends_on`, `override_reason` are
//! optional. Pass numérique: `collectivite`, `amount`, `signed_on` are required; `department`, `envelope` (default
//! `PASS`), `vouchers_issued`, `vouchers_used`, `vouchers_on` (default: signature) are optional.

use crate::FundingError;
use crate::access::require_admin;
use crate::beneficiary::{BeneficiaryClaim, BeneficiaryDirectory};
use crate::envelopes::list_envelopes;
use crate::grants::{CheckedGrant, GrantDates, NewGrant, check_grant_against, insert_checked};
use crate::model::{BeneficiaryKind, HostKind};
use crate::money::Money;
use crate::pass::{PassProgrammeData, create_pass_programme_in};
use chrono::NaiveDate;
use maillage_core::error::ErrorCode;
use maillage_core::{Actor, DepartmentCode};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::path::Path;

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The line in the file where the row starts (1 is the header).
    pub line: u64,
    /// The row's key (beneficiary reference or collectivité).
    pub key: Option<String>,
    /// `created`, or `rejected` (with field and reason).
    pub outcome: &'static str,
    /// The column or input field at fault (empty when created).
    pub field: String,
    /// Why (empty when created).
    pub reason: String,
}

/// What an import did: either every row created, or none (`rejected > 0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: u64,
    /// Rows stored.
    pub created: u64,
    /// Rows refused (then nothing is stored).
    pub rejected: u64,
}

struct Row {
    line: u64,
    cells: HashMap<String, String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .get(column)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// A problem with one cell of a row.
struct CellError {
    field: String,
    reason: String,
}

fn cell_err(field: &str, reason: impl Into<String>) -> CellError {
    CellError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn read_rows(path: &Path, columns: &[&str], required: &[&str]) -> Result<Vec<Row>, FundingError> {
    let invalid = |m: String| FundingError::InvalidFile(m);
    let bytes =
        std::fs::read(path).map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| invalid("the file is not UTF-8".to_owned()))?
        .trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or_default();
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| invalid(format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !header.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "missing required column(s): {}",
            missing.join(", ")
        )));
    }
    let unknown: Vec<&str> = header
        .iter()
        .map(String::as_str)
        .filter(|h| !columns.contains(h))
        .collect();
    if !unknown.is_empty() {
        return Err(invalid(format!(
            "unknown column(s): {} (known: {})",
            unknown.join(", "),
            columns.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| invalid(format!("{e} (nothing was imported)")))?;
        let line = record.position().map_or(0, csv::Position::line);
        rows.push(Row {
            line,
            cells: header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect(),
        });
    }
    Ok(rows)
}

fn date_cell(row: &Row, column: &str) -> Result<Option<NaiveDate>, CellError> {
    row.get(column)
        .map(|raw| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| cell_err(column, format!("{raw:?} is not a date (YYYY-MM-DD)")))
        })
        .transpose()
}

fn int_cell<T: std::str::FromStr>(row: &Row, column: &str) -> Result<Option<T>, CellError> {
    row.get(column)
        .map(|raw| {
            raw.parse::<T>()
                .map_err(|_| cell_err(column, format!("{raw:?} is not a whole number")))
        })
        .transpose()
}

fn money_cell(row: &Row, column: &str) -> Result<Option<Money>, CellError> {
    row.get(column)
        .map(|raw| Money::parse_euros(raw).map_err(|e| cell_err(column, e)))
        .transpose()
}

fn required<T>(value: Option<T>, column: &str) -> Result<T, CellError> {
    value.ok_or_else(|| cell_err(column, "required"))
}

fn department_cell(row: &Row) -> Result<Option<DepartmentCode>, CellError> {
    row.get("department")
        .map(|d| DepartmentCode::parse(d).map_err(|e| cell_err("department", e.to_string())))
        .transpose()
}

fn envelope_cell(
    row: &Row,
    envelopes: &HashMap<String, i32>,
    default: Option<&str>,
) -> Result<i32, CellError> {
    let code = required(row.get("envelope").or(default), "envelope")?;
    envelopes
        .get(code)
        .copied()
        .ok_or_else(|| cell_err("envelope", format!("no envelope {code:?}")))
}

const GRANT_COLUMNS: &[&str] = &[
    "envelope",
    "beneficiary_kind",
    "beneficiary_ref",
    "amount",
    "decision_date",
    "funded_posts",
    "host_kind",
    "department",
    "beneficiary_name",
    "posts",
    "contract_years",
    "signed_on",
    "closed_on",
    "starts_on",
    "ends_on",
    "override_reason",
];

fn parse_grant(
    row: &Row,
    envelopes: &HashMap<String, i32>,
) -> Result<(NewGrant, GrantDates), CellError> {
    let kind_raw = required(row.get("beneficiary_kind"), "beneficiary_kind")?;
    let kind = BeneficiaryKind::parse(kind_raw).ok_or_else(|| {
        cell_err(
            "beneficiary_kind",
            format!("{kind_raw:?} is not one of host_structure, hub, ami_dossier, collectivite"),
        )
    })?;
    let host_kind = row
        .get("host_kind")
        .map(|k| {
            HostKind::parse(k)
                .ok_or_else(|| cell_err("host_kind", format!("{k:?} is not public or private")))
        })
        .transpose()?;
    let decision_date = required(date_cell(row, "decision_date")?, "decision_date")?;
    let dates = GrantDates {
        signed_on: date_cell(row, "signed_on")?,
        closed_on: date_cell(row, "closed_on")?,
    };
    let new = NewGrant {
        envelope_id: envelope_cell(row, envelopes, None)?,
        beneficiary: BeneficiaryClaim {
            kind,
            reference: required(row.get("beneficiary_ref"), "beneficiary_ref")?.to_owned(),
            funded_posts: row.get("funded_posts").map(str::to_owned),
            host_kind,
            department: department_cell(row)?,
            name: row.get("beneficiary_name").map(str::to_owned),
        },
        contact: None,
        amount: required(money_cell(row, "amount")?, "amount")?,
        posts: int_cell(row, "posts")?.unwrap_or(0),
        contract_years: int_cell(row, "contract_years")?,
        decision_date: Some(decision_date),
        starts_on: date_cell(row, "starts_on")?
            .or(dates.signed_on)
            .unwrap_or(decision_date),
        ends_on: date_cell(row, "ends_on")?,
        override_reason: row.get("override_reason").map(str::to_owned),
    };
    Ok((new, dates))
}

fn rejected(line: u64, key: Option<String>, field: String, reason: String) -> ReportLine {
    ReportLine {
        line,
        key,
        outcome: "rejected",
        field,
        reason,
    }
}

fn rejected_by(line: u64, key: Option<String>, e: &FundingError) -> Vec<ReportLine> {
    e.each()
        .into_iter()
        .map(|one| {
            let reason = if one.is_internal() {
                "internal error; the incident is logged".to_owned()
            } else {
                one.to_string()
            };
            rejected(
                line,
                key.clone(),
                one.field().map(ToString::to_string).unwrap_or_default(),
                reason,
            )
        })
        .collect()
}

async fn envelope_codes(db: &DatabaseConnection) -> Result<HashMap<String, i32>, FundingError> {
    Ok(list_envelopes(db)
        .await?
        .into_iter()
        .map(|e| (e.code, e.id))
        .collect())
}

fn finish(
    summary: &mut ImportSummary,
    lines: &[ReportLine],
    report: &mut dyn FnMut(&ReportLine),
) -> Result<(), FundingError> {
    for l in lines {
        report(l);
    }
    summary.rejected = lines
        .iter()
        .filter(|l| l.outcome == "rejected")
        .map(|l| l.line)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    if summary.rejected > 0 {
        summary.created = 0;
        return Err(FundingError::ImportRejected {
            rejected: summary.rejected,
            rows: summary.rows,
        });
    }
    Ok(())
}

/// Imports historical grants (admins): every row checked, then all written or none. `report` receives one line
/// per row (or per problem of a rejected row).
pub async fn import_grants<D: BeneficiaryDirectory>(
    db: &DatabaseConnection,
    actor: &Actor,
    directory: &D,
    path: &Path,
    report: &mut dyn FnMut(&ReportLine),
) -> Result<ImportSummary, FundingError> {
    require_admin(actor)?;
    let rows = read_rows(
        path,
        GRANT_COLUMNS,
        &[
            "envelope",
            "beneficiary_kind",
            "beneficiary_ref",
            "amount",
            "decision_date",
        ],
    )?;
    let envelopes = envelope_codes(db).await?;
    let mut summary = ImportSummary {
        rows: rows.len() as u64,
        ..Default::default()
    };
    let mut lines = Vec::new();
    let mut checked: Vec<(u64, Option<String>, CheckedGrant, GrantDates)> = Vec::new();
    for row in &rows {
        let key = row.get("beneficiary_ref").map(str::to_owned);
        match parse_grant(row, &envelopes) {
            Err(e) => lines.push(rejected(row.line, key, e.field, e.reason)),
            Ok((new, dates)) => match check_grant_against(db, directory, new).await {
                Ok(c) => checked.push((row.line, key, c, dates)),
                Err(e) => lines.extend(rejected_by(row.line, key, &e)),
            },
        }
    }
    if !lines.is_empty() {
        return finish(&mut summary, &lines, report).map(|()| summary);
    }
    let txn = maillage_core::db::begin_write(db).await?;
    for (line, key, c, dates) in &checked {
        match insert_checked(&txn, actor, c, *dates, "import").await {
            Ok(g) => {
                summary.created += 1;
                lines.push(ReportLine {
                    line: *line,
                    key: key.clone(),
                    outcome: "created",
                    field: String::new(),
                    reason: format!("grant {} ({}, {})", g.id, g.status, g.amount),
                });
            }
            Err(e) => lines.extend(rejected_by(*line, key.clone(), &e)),
        }
    }
    finish(&mut summary, &lines, report)?;
    txn.commit().await?;
    Ok(summary)
}

const PASS_COLUMNS: &[&str] = &[
    "collectivite",
    "amount",
    "signed_on",
    "department",
    "envelope",
    "vouchers_issued",
    "vouchers_used",
    "vouchers_on",
];

fn parse_pass(row: &Row, envelopes: &HashMap<String, i32>) -> Result<PassProgrammeData, CellError> {
    let signed_on = required(date_cell(row, "signed_on")?, "signed_on")?;
    Ok(PassProgrammeData {
        collectivite: required(row.get("collectivite"), "collectivite")?.to_owned(),
        department: department_cell(row)?,
        amount: required(money_cell(row, "amount")?, "amount")?,
        vouchers_issued: int_cell(row, "vouchers_issued")?.unwrap_or(0),
        vouchers_used: int_cell(row, "vouchers_used")?.unwrap_or(0),
        sites: Vec::new(),
        envelope_id: Some(envelope_cell(
            row,
            envelopes,
            Some(crate::pass::PASS_ENVELOPE),
        )?),
        signed_on: Some(signed_on),
        vouchers_on: date_cell(row, "vouchers_on")?.or(Some(signed_on)),
    })
}

/// Imports Pass numérique programmes (admins), each committed in its envelope (default `PASS`) at its signature
/// date; all written or none.
pub async fn import_pass(
    db: &DatabaseConnection,
    actor: &Actor,
    path: &Path,
    report: &mut dyn FnMut(&ReportLine),
) -> Result<ImportSummary, FundingError> {
    require_admin(actor)?;
    let rows = read_rows(path, PASS_COLUMNS, &["collectivite", "amount", "signed_on"])?;
    let envelopes = envelope_codes(db).await?;
    let mut summary = ImportSummary {
        rows: rows.len() as u64,
        ..Default::default()
    };
    let mut lines = Vec::new();
    let mut parsed = Vec::new();
    for row in &rows {
        let key = row.get("collectivite").map(str::to_owned);
        match parse_pass(row, &envelopes) {
            Ok(data) => parsed.push((row.line, key, data)),
            Err(e) => lines.push(rejected(row.line, key, e.field, e.reason)),
        }
    }
    if !lines.is_empty() {
        return finish(&mut summary, &lines, report).map(|()| summary);
    }
    let txn = maillage_core::db::begin_write(db).await?;
    for (line, key, data) in parsed {
        match create_pass_programme_in(&txn, actor, data, "import").await {
            Ok(p) => {
                summary.created += 1;
                lines.push(ReportLine {
                    line,
                    key,
                    outcome: "created",
                    field: String::new(),
                    reason: format!("programme {} ({})", p.id, p.amount),
                });
            }
            Err(e) => lines.extend(rejected_by(line, key, &e)),
        }
    }
    finish(&mut summary, &lines, report)?;
    txn.commit().await?;
    Ok(summary)
}
