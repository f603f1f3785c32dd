//! CSV import of host structures (with their posts) and of counsellors.
//!
//! Same semantics as the sites import: the whole file is read and its header checked before anything is written
//! (a file that is not readable as a whole is refused with nothing stored); then every row is either stored
//! (created, updated or unchanged) or rejected with its reasons, in one transaction; importing the same file again
//! changes nothing. Columns are documented in the crate's README; `,` and `;` delimiters are both accepted.

use crate::CounsellorsError;
use crate::draft::{CounsellorDraft, PersonalDraft, PostDraft, StructureDraft};
use crate::model::{
    CommitteeDecision, ContractType, CounsellorId, CounsellorStatus, NewCounsellor, NewPost,
    NewStructure, StructureId, StructureKind,
};
use crate::write::{
    StoreOutcome, can_write, check_counsellor, counsellor_by_external_id, post_of_structure,
    store_counsellor, store_post, store_structure, structure_by_siret,
};
use chrono::NaiveDate;
use maillage_core::{Actor, FieldProblems, Role, Siret};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::collections::HashMap;
use std::path::Path;

/// Columns of a structures file; the first four are required.
pub const STRUCTURE_COLUMNS: &[&str] = &[
    "siret",
    "nom",
    "type",
    "departement",
    "adresse",
    "code_postal",
    "commune",
    "france_services",
    "zrr",
    "qpv",
    "renouvellement",
    "postes_demandes",
    "postes_accordes",
    "decision_comite",
    "date_comite",
    "date_debut_convention",
    "date_fin_convention",
];

/// Columns of a counsellors file; the first five are required.
pub const COUNSELLOR_COLUMNS: &[&str] = &[
    "id",
    "siret_structure",
    "prenom",
    "nom",
    "statut",
    "email",
    "email_personnel",
    "telephone",
    "date_recrutement",
    "date_debut_formation",
    "date_entree_activite",
    "date_fin",
    "type_contrat",
    "date_debut_contrat",
    "date_fin_contrat",
    "date_fin_formation",
    "pix",
    "part_structure",
    "coordinateur",
    "id_coordinateur",
    "poste",
];

/// One rejected row's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// The CSV line (1 is the header).
    pub line: u64,
    /// The row's identity (SIRET or id), when it has one.
    pub id: Option<String>,
    /// The column at fault.
    pub field: String,
    /// Why, in plain words.
    pub reason: String,
}

/// What an import did; `stored() + rejected == rows`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: u64,
    /// Rows that created an entity.
    pub created: u64,
    /// Rows that changed a stored entity (or its post).
    pub updated: u64,
    /// Rows identical to what was stored.
    pub unchanged: u64,
    /// Rows not stored (each has report lines).
    pub rejected: u64,
    /// Columns this import does not know (ignored).
    pub unknown_columns: Vec<String>,
}

impl ImportSummary {
    /// Rows stored (created, updated or unchanged).
    pub fn stored(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }

    /// Rows that changed the database.
    pub fn changes(&self) -> u64 {
        self.created + self.updated
    }

    fn count(&mut self, outcome: StoreOutcome) {
        match outcome {
            StoreOutcome::Created(_) => self.created += 1,
            StoreOutcome::Updated(_) => self.updated += 1,
            StoreOutcome::Unchanged(_) => self.unchanged += 1,
        }
    }
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

type Issue = (String, String);

/// A row's line, its id, and its parsed content or its issues.
type ParsedRow = (u64, Option<String>, Result<CounsellorRow, Vec<Issue>>);

fn issue(field: &str, reason: impl Into<String>) -> Issue {
    (field.to_owned(), reason.into())
}

/// Reads the whole file: header, delimiter, every record. Any syntax error refuses the file.
fn read_file(
    path: &Path,
    columns: &[&str],
    required: usize,
) -> Result<(Vec<Row>, Vec<String>), CounsellorsError> {
    let bytes = std::fs::read(path).map_err(|e| {
        CounsellorsError::InvalidFile(format!("cannot read {}: {e}", path.display()))
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CounsellorsError::InvalidFile("the file is not UTF-8".to_owned()))?;
    let text = text.trim_start_matches('\u{feff}');
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() {
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
        .map_err(|e| CounsellorsError::InvalidFile(format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let missing: Vec<&str> = columns[..required]
        .iter()
        .copied()
        .filter(|c| !header.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(CounsellorsError::InvalidFile(format!(
            "missing required column(s): {}",
            missing.join(", ")
        )));
    }
    let unknown = header
        .iter()
        .filter(|h| !columns.contains(&h.as_str()))
        .cloned()
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            CounsellorsError::InvalidFile(format!("line {}: {e} (nothing was imported)", i + 2))
        })?;
        let cells = header
            .iter()
            .cloned()
            .zip(record.iter().map(str::to_owned))
            .collect();
        rows.push(Row {
            line: i as u64 + 2,
            cells,
        });
    }
    Ok((rows, unknown))
}

fn bool_cell(row: &Row, column: &str, issues: &mut Vec<Issue>) -> bool {
    match row.get(column).map(maillage_core::text::fold) {
        None => false,
        Some(v) => match v.as_str() {
            "oui" | "o" | "yes" | "true" | "1" | "vrai" => true,
            "non" | "n" | "no" | "false" | "0" | "faux" => false,
            _ => {
                issues.push(issue(column, format!("{v:?} is not oui/non")));
                false
            }
        },
    }
}

fn date_cell(row: &Row, column: &str, issues: &mut Vec<Issue>) -> Option<NaiveDate> {
    let v = row.get(column)?;
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y"))
        .map_err(|_| issues.push(issue(column, format!("{v:?} is not a date (YYYY-MM-DD)"))))
        .ok()
}

fn int_cell(row: &Row, column: &str, issues: &mut Vec<Issue>) -> Option<i32> {
    let v = row.get(column)?;
    v.parse::<i32>()
        .map_err(|_| issues.push(issue(column, format!("{v:?} is not a whole number"))))
        .ok()
}

/// The CSV column of each structure or post field, by the name the rules (and the API) give it.
const STRUCTURE_FIELDS: &[(&str, &str)] = &[
    ("siret", "siret"),
    ("name", "nom"),
    ("department", "departement"),
    ("address", "adresse"),
    ("postalCode", "code_postal"),
    ("commune", "commune"),
    ("requested", "postes_demandes"),
    ("granted", "postes_accordes"),
    ("agreementEnd", "date_fin_convention"),
];

/// The CSV column of each counsellor field, by the name the rules (and the API) give it.
const COUNSELLOR_FIELDS: &[(&str, &str)] = &[
    ("externalId", "id"),
    ("firstName", "prenom"),
    ("lastName", "nom"),
    ("email", "email"),
    ("personalEmail", "email_personnel"),
    ("phone", "telephone"),
    ("hostShare", "part_structure"),
    ("contractEnd", "date_fin_contrat"),
    ("postId", "poste"),
    ("coordinatorId", "id_coordinateur"),
    ("structureId", "siret_structure"),
];

/// The column of a field named as the rules name it (the field's own name when no column carries it).
fn column(columns: &[(&str, &'static str)], field: &str) -> String {
    columns
        .iter()
        .find(|(f, _)| *f == field)
        .map_or_else(|| field.to_owned(), |(_, c)| (*c).to_owned())
}

/// A draft's broken rules as report issues, each at its CSV column.
fn rule_issues(problems: FieldProblems, columns: &[(&str, &'static str)], issues: &mut Vec<Issue>) {
    for p in problems {
        let field = p.field.to_string();
        let column = column(columns, &field);
        issues.push((column.clone(), in_column(p.message, &field, &column)));
    }
}

/// A rule's message speaks of the field as the API names it (`lastName must not be blank`); a report reader knows
/// the column (`nom must not be blank`).
fn in_column(message: String, field: &str, column: &str) -> String {
    match message.strip_prefix(field) {
        Some(rest) => format!("{column}{rest}"),
        None => message,
    }
}

fn cell(row: &Row, column: &str) -> String {
    row.get(column).unwrap_or_default().to_owned()
}

fn parse_structure_row(row: &Row) -> Result<(NewStructure, Option<NewPost>), Vec<Issue>> {
    let mut issues = Vec::new();
    let kind = match row.get("type") {
        Some(v) => StructureKind::parse(v).or_else(|| {
            issues.push(issue(
                "type",
                format!(
                    "{v:?} is not one of {}",
                    StructureKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
            None
        }),
        None => {
            issues.push(issue("type", "required"));
            None
        }
    };
    let draft = StructureDraft {
        siret: cell(row, "siret"),
        name: cell(row, "nom"),
        // Only a placeholder when the kind is missing or wrong: the row is rejected for it.
        kind: kind.unwrap_or(StructureKind::OtherPrivate),
        department: cell(row, "departement"),
        address: row.get("adresse").map(str::to_owned),
        postal_code: row.get("code_postal").map(str::to_owned),
        commune: row.get("commune").map(str::to_owned),
        france_services: bool_cell(row, "france_services", &mut issues),
        zrr: bool_cell(row, "zrr", &mut issues),
        qpv: bool_cell(row, "qpv", &mut issues),
    };
    let structure = NewStructure::try_from(draft)
        .map_err(|p| rule_issues(p, STRUCTURE_FIELDS, &mut issues))
        .ok();
    let post = if row.get("postes_demandes").is_some() {
        let renewal = bool_cell(row, "renouvellement", &mut issues);
        let requested = int_cell(row, "postes_demandes", &mut issues).unwrap_or(0);
        let granted = int_cell(row, "postes_accordes", &mut issues).unwrap_or(0);
        let decision = match row.get("decision_comite") {
            None => Some(CommitteeDecision::Pending),
            Some(v) => CommitteeDecision::parse(v).or_else(|| {
                issues.push(issue(
                    "decision_comite",
                    format!("{v:?} is not pending, accepted or refused"),
                ));
                None
            }),
        };
        let draft = PostDraft {
            renewal,
            requested,
            granted,
            decision,
            committee_date: date_cell(row, "date_comite", &mut issues),
            agreement_start: date_cell(row, "date_debut_convention", &mut issues),
            agreement_end: date_cell(row, "date_fin_convention", &mut issues),
        };
        match decision.map(|_| NewPost::try_from(draft)) {
            Some(Ok(post)) => Some(post),
            Some(Err(p)) => {
                rule_issues(p, STRUCTURE_FIELDS, &mut issues);
                None
            }
            None => None,
        }
    } else {
        None
    };
    match structure {
        Some(structure) if issues.is_empty() => Ok((structure, post)),
        _ => Err(issues),
    }
}

fn refuse_unless_writer(actor: &Actor) -> Result<(), CounsellorsError> {
    if matches!(actor.role(), Role::Admin | Role::HubCoordinator) {
        Ok(())
    } else {
        Err(CounsellorsError::Forbidden(
            "only admins and hub coordinators may import structures and counsellors".to_owned(),
        ))
    }
}

/// Imports host structures (and the post described on each row) from a CSV file; identity: the SIRET.
#[tracing::instrument(skip_all, fields(path = %path.display()))]
pub async fn import_structures(
    db: &DatabaseConnection,
    actor: &Actor,
    path: &Path,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<ImportSummary, CounsellorsError> {
    refuse_unless_writer(actor)?;
    let (rows, unknown_columns) = read_file(path, STRUCTURE_COLUMNS, 4)?;
    let mut summary = ImportSummary {
        unknown_columns,
        ..ImportSummary::default()
    };
    let txn = maillage_core::db::begin_write(db).await?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for row in rows {
        summary.rows += 1;
        let id = row.get("siret").map(str::to_owned);
        let mut reject = |summary: &mut ImportSummary, issues: Vec<Issue>| {
            summary.rejected += 1;
            for (field, reason) in issues {
                on_report(&ReportLine {
                    line: row.line,
                    id: id.clone(),
                    field,
                    reason,
                });
            }
        };
        let (structure, post) = match parse_structure_row(&row) {
            Ok(v) => v,
            Err(issues) => {
                reject(&mut summary, issues);
                continue;
            }
        };
        if let Some(first) = seen.insert(structure.siret.as_str().to_owned(), row.line) {
            reject(
                &mut summary,
                vec![issue(
                    "siret",
                    format!("duplicate SIRET: already used at line {first} of this file"),
                )],
            );
            continue;
        }
        let existing = structure_by_siret(&txn, structure.siret.as_str()).await?;
        let outside = !can_write(actor, &structure.department)
            || existing
                .as_ref()
                .is_some_and(|e| !can_write(actor, &e.data.department));
        if outside {
            reject(
                &mut summary,
                vec![issue(
                    "departement",
                    "this structure is outside the departments you may edit",
                )],
            );
            continue;
        }
        let mut outcome =
            store_structure(&txn, actor, "import", &structure, existing.as_ref()).await?;
        if let Some(post) = post {
            let stored = crate::query::get_structure(&txn, crate::StructureId(outcome.id()))
                .await?
                .ok_or_else(|| {
                    CounsellorsError::corrupt("host_structure", outcome.id(), "vanished")
                })?;
            let old = post_of_structure(&txn, stored.id, post.renewal).await?;
            let post_outcome =
                store_post(&txn, actor, "import", &stored, &post, old.as_ref()).await?;
            if matches!(outcome, StoreOutcome::Unchanged(_))
                && !matches!(post_outcome, StoreOutcome::Unchanged(_))
            {
                outcome = StoreOutcome::Updated(outcome.id());
            }
        }
        summary.count(outcome);
    }
    record_import(&txn, actor, "host_structure_import", path, &summary).await?;
    txn.commit().await?;
    Ok(summary)
}

async fn record_import<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    entity: &'static str,
    path: &Path,
    summary: &ImportSummary,
) -> Result<(), CounsellorsError> {
    let mut changes = maillage_access::AuditChanges::new();
    changes.note("file", &path.display().to_string());
    changes.note("rows", &summary.rows);
    changes.note("created", &summary.created);
    changes.note("updated", &summary.updated);
    changes.note("unchanged", &summary.unchanged);
    changes.note("rejected", &summary.rejected);
    maillage_access::record(
        db,
        actor,
        maillage_access::AuditEntry::new(entity, String::new(), "import", changes),
    )
    .await?;
    Ok(())
}

/// A counsellor row, parsed and checked; references (structure, post, coordinator) are resolved against the
/// database, so `new` holds placeholders for them until then.
struct CounsellorRow {
    siret: Siret,
    new: NewCounsellor,
    coordinator: Option<String>,
    post: Option<bool>,
}

fn parse_counsellor_row(row: &Row) -> Result<CounsellorRow, Vec<Issue>> {
    let mut issues = Vec::new();
    let siret = match row.get("siret_structure").map(Siret::parse) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            issues.push(issue("siret_structure", e.to_string()));
            None
        }
        None => {
            issues.push(issue("siret_structure", "required"));
            None
        }
    };
    let status = match row.get("statut") {
        Some(v) => CounsellorStatus::parse(v).or_else(|| {
            issues.push(issue(
                "statut",
                format!("{v:?} is not recrute, en_formation, actif or contrat_termine"),
            ));
            None
        }),
        None => {
            issues.push(issue("statut", "required"));
            None
        }
    };
    let [
        recruited_on,
        training_started_on,
        active_since,
        ended_on,
        contract_start,
        contract_end,
        training_completed_on,
    ] = [
        "date_recrutement",
        "date_debut_formation",
        "date_entree_activite",
        "date_fin",
        "date_debut_contrat",
        "date_fin_contrat",
        "date_fin_formation",
    ]
    .map(|c| date_cell(row, c, &mut issues));
    let contract_type = row.get("type_contrat").and_then(|v| {
        ContractType::parse(v).or_else(|| {
            issues.push(issue(
                "type_contrat",
                format!("{v:?} is not a known contract type"),
            ));
            None
        })
    });
    let draft = CounsellorDraft {
        external_id: cell(row, "id"),
        // Resolved from the SIRET once the row's own rules pass.
        structure_id: StructureId(0),
        post_id: None,
        personal: PersonalDraft {
            first_name: cell(row, "prenom"),
            last_name: cell(row, "nom"),
            email: row.get("email").map(str::to_owned),
            personal_email: row.get("email_personnel").map(str::to_owned),
            phone: row.get("telephone").map(str::to_owned),
        },
        // Only a placeholder when the status is missing or wrong: the row is rejected for it.
        status: status.unwrap_or(CounsellorStatus::Recruited),
        recruited_on,
        training_started_on,
        active_since,
        ended_on,
        contract_type,
        contract_start,
        contract_end,
        training_completed_on,
        pix_certified: bool_cell(row, "pix", &mut issues),
        host_share: int_cell(row, "part_structure", &mut issues).unwrap_or(0),
        is_coordinator: bool_cell(row, "coordinateur", &mut issues),
        coordinator_id: None,
    };
    let new = NewCounsellor::try_from(draft)
        .map_err(|p| rule_issues(p, COUNSELLOR_FIELDS, &mut issues))
        .ok();
    let post = match row.get("poste").map(maillage_core::text::fold) {
        None => None,
        Some(v) if v == "initial" => Some(false),
        Some(v) if v == "renouvellement" => Some(true),
        Some(v) => {
            issues.push(issue(
                "poste",
                format!("{v:?} is not initial or renouvellement"),
            ));
            None
        }
    };
    match (siret, new) {
        (Some(siret), Some(new)) if issues.is_empty() => Ok(CounsellorRow {
            siret,
            new,
            coordinator: row.get("id_coordinateur").map(str::to_owned),
            post,
        }),
        _ => Err(issues),
    }
}

/// Imports counsellors from a CSV file; identity: the `id` column (the national platform's id).
///
/// Coordinators (`coordinateur = oui`) are stored before the others, so `id_coordinateur` may name a coordinator
/// anywhere in the file (or one already stored). Report lines keep the file's line numbers.
#[tracing::instrument(skip_all, fields(path = %path.display()))]
pub async fn import_counsellors(
    db: &DatabaseConnection,
    actor: &Actor,
    path: &Path,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<ImportSummary, CounsellorsError> {
    refuse_unless_writer(actor)?;
    let (rows, unknown_columns) = read_file(path, COUNSELLOR_COLUMNS, 5)?;
    let mut summary = ImportSummary {
        unknown_columns,
        ..ImportSummary::default()
    };
    let mut parsed: Vec<ParsedRow> = rows
        .iter()
        .map(|r| {
            (
                r.line,
                r.get("id").map(str::to_owned),
                parse_counsellor_row(r),
            )
        })
        .collect();
    // Coordinators first, each group in file order.
    parsed.sort_by_key(|(line, _, r)| (!r.as_ref().is_ok_and(|c| c.new.is_coordinator), *line));
    let txn = maillage_core::db::begin_write(db).await?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, id, parsed) in parsed {
        summary.rows += 1;
        let mut reject = |summary: &mut ImportSummary, issues: Vec<Issue>| {
            summary.rejected += 1;
            for (field, reason) in issues {
                on_report(&ReportLine {
                    line,
                    id: id.clone(),
                    field,
                    reason,
                });
            }
        };
        let row = match parsed {
            Ok(r) => r,
            Err(issues) => {
                reject(&mut summary, issues);
                continue;
            }
        };
        if let Some(first) = seen.insert(row.new.external_id.clone(), line) {
            reject(
                &mut summary,
                vec![issue(
                    "id",
                    format!("duplicate id: already used at line {first} of this file"),
                )],
            );
            continue;
        }
        let Some(structure) = structure_by_siret(&txn, row.siret.as_str()).await? else {
            reject(
                &mut summary,
                vec![issue(
                    "siret_structure",
                    format!(
                        "no structure with SIRET {}: import the structures first",
                        row.siret
                    ),
                )],
            );
            continue;
        };
        let existing = counsellor_by_external_id(&txn, &row.new.external_id).await?;
        if existing
            .as_ref()
            .is_some_and(|e| !can_write(actor, &e.department))
            || !can_write(actor, &structure.data.department)
        {
            reject(
                &mut summary,
                vec![issue(
                    "siret_structure",
                    "this counsellor is outside the departments you may edit",
                )],
            );
            continue;
        }
        let post_id = match row.post {
            None => None,
            Some(renewal) => match post_of_structure(&txn, structure.id, renewal).await? {
                Some(p) => Some(p.id),
                None => {
                    reject(
                        &mut summary,
                        vec![issue("poste", "the structure has no such post")],
                    );
                    continue;
                }
            },
        };
        let coordinator_id = match &row.coordinator {
            None => None,
            Some(ext) => match counsellor_by_external_id(&txn, ext).await? {
                Some(c) => Some(CounsellorId(c.id.0)),
                None => {
                    reject(
                        &mut summary,
                        vec![issue(
                            "id_coordinateur",
                            format!("no counsellor with id {ext:?}"),
                        )],
                    );
                    continue;
                }
            },
        };
        let new = NewCounsellor {
            structure_id: structure.id,
            post_id,
            coordinator_id,
            ..row.new
        };
        let stored =
            match check_counsellor(&txn, actor, existing.as_ref().map(|e| e.id), &new).await {
                Ok(s) => s,
                Err(e) if e_is_row_error(&e) => {
                    reject(&mut summary, vec![(csv_column(&e), e.to_string())]);
                    continue;
                }
                Err(e) => return Err(e),
            };
        let outcome =
            store_counsellor(&txn, actor, "import", &stored, &new, existing.as_ref()).await?;
        summary.count(outcome);
    }
    record_import(&txn, actor, "counsellor_import", path, &summary).await?;
    txn.commit().await?;
    Ok(summary)
}

fn e_is_row_error(e: &CounsellorsError) -> bool {
    use maillage_core::ErrorCode as _;
    e.is_user_error()
}

/// The CSV column behind a service error's input field.
fn csv_column(e: &CounsellorsError) -> String {
    use maillage_core::ErrorCode as _;
    if matches!(e, CounsellorsError::TimeShareExceeded { .. }) {
        return "part_structure".to_owned();
    }
    match e.field().and_then(|f| f.0.last()) {
        Some(field) => column(COUNSELLOR_FIELDS, field),
        None => "id".to_owned(),
    }
}
