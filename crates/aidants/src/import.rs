//! CSV import of organisations, aidants and monthly mandate aggregates: whole-file checks first, then one
//! transaction, every row stored or reported, and importing the same file again changes nothing.
//!
//! # Columns: an allow-list per file type
//! Each file type has a fixed list of columns ([`ImportKind::columns`]). A file with **any other column** is refused
//! as a whole before anything is written: an unexpected column might carry the identity of a person helped
//! (usager), which Maillage must never hold, and guessing which free-text column is harmless is not a safe game.
//! When the unknown column looks like a person's identity (`nom`, `prenom`, `naissance`, `usager`, `email`,
//! `telephone`, `adresse`, `nir`…), the error says so. The mandates file has no column for any person at all; the
//! aidants file names the aidant (a professional, whose data is personal and masked in the API), never an usager.

use crate::AidantsError;
use crate::aidants::{aidants_by_emails, store_aidant};
use crate::draft::{AidantDraft, OrganisationDraft};
use crate::entity::mandate_month;
use crate::model::{
    Aidant, AidantStatus, CounsellorRef, Demarche, MandateCounts, MandateDuration, Month,
    NewAidant, NewOrganisation, Organisation, OrganisationId, OrganisationKind,
};
use crate::organisations::{
    StoreOutcome, can_write_in, organisations_by_sirets, store_organisation,
};
use chrono::NaiveDate;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::{Actor, DepartmentCode, Email, FieldProblems, HubId, Role, Siret, SiteId};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    Set,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// Rows looked up per statement when loading what is stored already.
const BATCH: usize = 500;

/// The three files an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// Organisations, identified by SIRET.
    Organisations,
    /// Aidants, identified by professional e-mail; their organisations by SIRET.
    Aidants,
    /// Monthly mandate aggregates, identified by (SIRET, démarche, month, duration).
    Mandates,
}

impl ImportKind {
    /// Parses `organisations`, `aidants` or `mandates` (also `mandats`).
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "organisations" | "organisation" => Some(Self::Organisations),
            "aidants" | "aidant" => Some(Self::Aidants),
            "mandates" | "mandats" | "mandate" => Some(Self::Mandates),
            _ => None,
        }
    }

    /// The only columns this file type may have, with whether each is required. Exports write exactly these.
    pub fn columns(self) -> &'static [(&'static str, bool)] {
        match self {
            Self::Organisations => &[
                ("siret", true),
                ("nom", true),
                ("type", true),
                ("adresse", true),
                ("code_postal", false),
                ("commune", false),
                ("departement", true),
                ("france_services", false),
                ("actif", false),
                ("site_id", false),
            ],
            Self::Aidants => &[
                ("email", true),
                ("nom", true),
                ("prenom", true),
                ("profession", false),
                ("organisations", true),
                ("statut", true),
                ("date_demande", false),
                ("date_formation", false),
                ("hub_formation", false),
                ("date_habilitation", false),
                ("date_revocation", false),
                ("conseiller_numerique_id", false),
            ],
            Self::Mandates => &[
                ("siret", true),
                ("demarche", true),
                ("mois", true),
                ("duree", true),
                ("crees", true),
                ("renouveles", true),
                ("revoques", true),
                ("actifs_fin_de_mois", true),
            ],
        }
    }
}

impl fmt::Display for ImportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Organisations => "organisations",
            Self::Aidants => "aidants",
            Self::Mandates => "mandates",
        })
    }
}

/// Fragments of column names that would carry a person's identity; only used to explain a refusal (the rule is the
/// allow-list).
const IDENTITY_HINTS: &[&str] = &[
    "nom",
    "prenom",
    "name",
    "naissance",
    "birth",
    "usager",
    "beneficiaire",
    "personne",
    "person",
    "mail",
    "courriel",
    "telephone",
    "phone",
    "tel",
    "portable",
    "adresse",
    "address",
    "nir",
    "secu",
    "franceconnect",
    "france_connect",
    "identite",
    "identity",
    "sexe",
    "genre",
    "age",
    "ddn",
];

fn looks_like_identity(column: &str) -> bool {
    column
        .split('_')
        .any(|token| IDENTITY_HINTS.contains(&token))
        || IDENTITY_HINTS
            .iter()
            .filter(|h| h.len() >= 5)
            .any(|h| column.contains(h))
}

/// A header as compared: trimmed, folded (no accents, lower case), spaces and hyphens as underscores.
fn normalise_header(raw: &str) -> String {
    maillage_core::text::fold(raw.trim().trim_start_matches('\u{feff}')).replace([' ', '-'], "_")
}

/// One line of the import report: a rejected row and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportLine {
    /// CSV line number (1 is the header).
    pub line: u64,
    /// The row's identity (SIRET, e-mail, or SIRET/démarche/month/duration), when readable.
    pub key: Option<String>,
    /// The column concerned.
    pub field: String,
    /// Why, in plain words.
    pub reason: String,
}

/// What an import did. `created + updated + unchanged + rejected = rows`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Data rows in the file.
    pub rows: u64,
    /// Rows stored as new records.
    pub created: u64,
    /// Rows that changed a record.
    pub updated: u64,
    /// Rows identical to what was stored.
    pub unchanged: u64,
    /// Rows not stored (each has report lines).
    pub rejected: u64,
}

impl ImportSummary {
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

/// A parsed file: normalised headers and every record with its line number.
struct Table {
    headers: Vec<String>,
    rows: Vec<(u64, csv::StringRecord)>,
}

impl Table {
    fn get<'a>(&self, record: &'a csv::StringRecord, column: &str) -> &'a str {
        self.headers
            .iter()
            .position(|h| h == column)
            .and_then(|i| record.get(i))
            .map_or("", str::trim)
    }
}

/// Pass 1: the whole file, no write. Syntax, then columns against the allow-list.
fn read_table(bytes: &[u8], kind: ImportKind) -> Result<Table, AidantsError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| AidantsError::InvalidFile(format!("the file is not UTF-8: {e}")))?;
    let first_line = text.lines().next().unwrap_or_default();
    let delimiter = if first_line.matches(';').count() > first_line.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| AidantsError::InvalidFile(format!("cannot read the header row: {e}")))?
        .iter()
        .map(normalise_header)
        .collect();
    let allowed = kind.columns();
    let allowed_list = allowed
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ");
    let mut identity = Vec::new();
    let mut unknown = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(AidantsError::InvalidFile(format!(
                "column {} has no name: every column must be one of {allowed_list}",
                i + 1
            )));
        }
        if headers[..i].contains(h) {
            return Err(AidantsError::InvalidFile(format!(
                "column {h:?} appears twice"
            )));
        }
        if !allowed.iter().any(|(c, _)| c == h) {
            if looks_like_identity(h) {
                identity.push(h.clone());
            } else {
                unknown.push(h.clone());
            }
        }
    }
    if !identity.is_empty() {
        return Err(AidantsError::InvalidFile(format!(
            "refused, nothing imported: column(s) {} could carry the identity of a person (an usager's name, birth \
             date or contact details). Maillage keeps Aidants Connect activity as aggregates only and never stores \
             who was helped. A {kind} file may only have these columns: {allowed_list}",
            quoted(&identity)
        )));
    }
    if !unknown.is_empty() {
        return Err(AidantsError::InvalidFile(format!(
            "refused, nothing imported: unknown column(s) {} (an unlisted column might carry personal data). A \
             {kind} file may only have these columns: {allowed_list}",
            quoted(&unknown)
        )));
    }
    let missing: Vec<&str> = allowed
        .iter()
        .filter(|(c, required)| *required && !headers.iter().any(|h| h == c))
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        return Err(AidantsError::InvalidFile(format!(
            "missing required column(s) for a {kind} file: {}",
            missing.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            AidantsError::InvalidFile(format!("CSV syntax error at line {line}: {e}"))
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        rows.push((line, record));
    }
    Ok(Table { headers, rows })
}

fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The CSV column of each organisation field, by the name the rules (and the API) give it.
const ORGANISATION_FIELDS: &[(&str, &str)] = &[
    ("siret", "siret"),
    ("name", "nom"),
    ("address", "adresse"),
    ("postalCode", "code_postal"),
    ("commune", "commune"),
    ("department", "departement"),
];

/// The CSV column of each aidant field, by the name the rules (and the API) give it.
const AIDANT_FIELDS: &[(&str, &str)] = &[
    ("email", "email"),
    ("firstName", "prenom"),
    ("lastName", "nom"),
    ("profession", "profession"),
    ("organisations", "organisations"),
];

/// The problems of one row; the row is stored only when there are none.
struct RowCheck<'a> {
    line: u64,
    key: Option<String>,
    issues: Vec<(String, String)>,
    report: &'a mut Vec<ReportLine>,
}

impl RowCheck<'_> {
    fn parse<T, E: fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.issues.push((field.to_owned(), e.to_string()));
                None
            }
        }
    }

    fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.issues.push((field.to_owned(), reason.into()));
    }

    /// The value of a draft, or its broken rules recorded at their columns. A rule on a column that has an issue
    /// already (an organisation SIRET not found leaves the list empty) adds nothing the reader needs.
    fn rules<T>(&mut self, r: Result<T, FieldProblems>, columns: &[(&str, &str)]) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(problems) => {
                for p in problems {
                    let field = p.field.to_string();
                    let column = columns
                        .iter()
                        .find(|(f, _)| *f == field)
                        .map_or(field.as_str(), |(_, c)| *c)
                        .to_owned();
                    if !self.issues.iter().any(|(c, _)| *c == column) {
                        // The message speaks of the API's field; a report reader knows the column.
                        let message = match p.message.strip_prefix(field.as_str()) {
                            Some(rest) => format!("{column}{rest}"),
                            None => p.message,
                        };
                        self.issues.push((column, message));
                    }
                }
                None
            }
        }
    }

    /// Reports the row's issues; true when it is rejected.
    fn finish(self) -> bool {
        let rejected = !self.issues.is_empty();
        for (field, reason) in self.issues {
            self.report.push(ReportLine {
                line: self.line,
                key: self.key.clone(),
                field,
                reason,
            });
        }
        rejected
    }
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn parse_bool(raw: &str, default: bool) -> Result<bool, String> {
    match maillage_core::text::fold(raw).as_str() {
        "" => Ok(default),
        "oui" | "true" | "vrai" | "1" | "yes" | "o" => Ok(true),
        "non" | "false" | "faux" | "0" | "no" | "n" => Ok(false),
        _ => Err(format!("expected oui or non, got {raw:?}")),
    }
}

fn parse_date(raw: &str) -> Result<Option<NaiveDate>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y"))
        .map(Some)
        .map_err(|_| format!("expected a date YYYY-MM-DD, got {raw:?}"))
}

fn parse_count(raw: &str) -> Result<i32, String> {
    if raw.is_empty() {
        return Ok(0);
    }
    raw.parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("expected a count (0 or more), got {raw:?}"))
}

fn outside(actor: &Actor, department: &DepartmentCode) -> Option<String> {
    (!can_write_in(actor, Some(department)))
        .then(|| format!("department {department} is outside the departments of your hub"))
}

/// Imports a CSV file of `kind`. See [`import_bytes`].
#[tracing::instrument(skip_all, fields(kind = %kind, path = %path.display()))]
pub async fn import_file(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: ImportKind,
    path: &Path,
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<ImportSummary, AidantsError> {
    let bytes = tokio_free_read(path)?;
    import_bytes(db, actor, kind, &bytes, on_report).await
}

fn tokio_free_read(path: &Path) -> Result<Vec<u8>, AidantsError> {
    std::fs::read(path).map_err(|source| AidantsError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Imports CSV content of `kind` (`,` or `;`, UTF-8, header row).
///
/// Refused as a whole, nothing written, when the caller may not write, the CSV is broken anywhere, or a column is
/// missing or not in the file type's allow-list (see the module documentation). Then every row is either stored
/// (created, updated or unchanged) or rejected with report lines, in one transaction. A hub coordinator's rows
/// outside its departments are rejected.
pub async fn import_bytes(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: ImportKind,
    bytes: &[u8],
    on_report: &mut (dyn FnMut(&ReportLine) + Send),
) -> Result<ImportSummary, AidantsError> {
    if !matches!(actor.role(), Role::Admin | Role::HubCoordinator) {
        return Err(AidantsError::Forbidden(
            "only admins and hub coordinators may import aidants data".to_owned(),
        ));
    }
    let table = read_table(bytes, kind)?;
    let mut report = Vec::new();
    let txn = maillage_core::db::begin_write(db).await?;
    let mut summary = ImportSummary {
        rows: table.rows.len() as u64,
        ..ImportSummary::default()
    };
    match kind {
        ImportKind::Organisations => {
            import_organisations(&txn, actor, &table, &mut summary, &mut report).await?;
        }
        ImportKind::Aidants => {
            import_aidants(&txn, actor, &table, &mut summary, &mut report).await?;
        }
        ImportKind::Mandates => {
            import_mandates(&txn, actor, &table, &mut summary, &mut report).await?;
        }
    }
    summary.rejected = summary.rows - summary.created - summary.updated - summary.unchanged;
    if summary.changes() > 0 {
        let mut changes = AuditChanges::new();
        changes.note("kind", &kind.to_string());
        changes.note("rows", &summary.rows);
        changes.note("created", &summary.created);
        changes.note("updated", &summary.updated);
        changes.note("unchanged", &summary.unchanged);
        changes.note("rejected", &summary.rejected);
        record(
            &txn,
            actor,
            AuditEntry::new("aidants_import", kind.to_string(), "import", changes)
                .hub(actor.hub_scope().map(|s| s.hub)),
        )
        .await?;
    }
    txn.commit().await?;
    for line in &report {
        on_report(line);
    }
    Ok(summary)
}

/// Existing organisations by SIRET, loaded in batches.
async fn organisations_by_siret<C: ConnectionTrait>(
    db: &C,
    sirets: Vec<String>,
) -> Result<HashMap<String, Organisation>, AidantsError> {
    let mut out = HashMap::new();
    for chunk in sirets.chunks(BATCH) {
        for org in organisations_by_sirets(db, chunk).await? {
            out.insert(org.data.siret.as_str().to_owned(), org);
        }
    }
    Ok(out)
}

async fn import_organisations<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    table: &Table,
    summary: &mut ImportSummary,
    report: &mut Vec<ReportLine>,
) -> Result<(), AidantsError> {
    let sirets: Vec<String> = table
        .rows
        .iter()
        .filter_map(|(_, r)| Siret::parse(table.get(r, "siret")).ok())
        .map(|s| s.as_str().to_owned())
        .collect();
    let existing = organisations_by_siret(db, sirets).await?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, r) in &table.rows {
        let raw_siret = table.get(r, "siret");
        let mut c = RowCheck {
            line: *line,
            key: optional(raw_siret),
            issues: Vec::new(),
            report,
        };
        let kind = c.parse("type", OrganisationKind::parse(table.get(r, "type")));
        let draft = OrganisationDraft {
            name: table.get(r, "nom").to_owned(),
            siret: raw_siret.to_owned(),
            // Only a placeholder when the type is wrong: the row is rejected for it.
            kind: kind.unwrap_or(OrganisationKind::Autre),
            address: table.get(r, "adresse").to_owned(),
            postal_code: optional(table.get(r, "code_postal")),
            commune: optional(table.get(r, "commune")),
            department: table.get(r, "departement").to_owned(),
            france_services: c
                .parse(
                    "france_services",
                    parse_bool(table.get(r, "france_services"), false),
                )
                .unwrap_or_default(),
            site: match optional(table.get(r, "site_id")) {
                Some(s) => c
                    .parse(
                        "site_id",
                        s.parse::<i32>()
                            .map_err(|_| format!("expected a site id, got {s:?}")),
                    )
                    .map(SiteId),
                None => None,
            },
        };
        let active = c.parse("actif", parse_bool(table.get(r, "actif"), true));
        let new = c.rules(NewOrganisation::try_from(draft), ORGANISATION_FIELDS);
        if let Some(new) = &new {
            if let Some(reason) = outside(actor, &new.department) {
                c.fail("departement", reason);
            }
            if let Some(first) = seen.get(new.siret.as_str()) {
                c.fail(
                    "siret",
                    format!("same SIRET as line {first}: the first row is kept"),
                );
            }
        }
        let rejected = c.finish();
        let (Some(new), Some(active), false) = (new, active, rejected) else {
            continue;
        };
        seen.insert(new.siret.as_str().to_owned(), *line);
        let old = existing.get(new.siret.as_str());
        if let Some(old) = old
            && let Some(reason) = outside(actor, &old.data.department)
        {
            report.push(ReportLine {
                line: *line,
                key: Some(new.siret.as_str().to_owned()),
                field: "departement".to_owned(),
                reason,
            });
            continue;
        }
        let outcome = store_organisation(db, actor, "import", &new, active, old).await?;
        summary.count(outcome);
    }
    Ok(())
}

async fn import_aidants<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    table: &Table,
    summary: &mut ImportSummary,
    report: &mut Vec<ReportLine>,
) -> Result<(), AidantsError> {
    let split = |raw: &str| -> Vec<String> {
        raw.split(['|', ','])
            .map(|s| s.chars().filter(|c| !c.is_whitespace()).collect::<String>())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let sirets: Vec<String> = table
        .rows
        .iter()
        .flat_map(|(_, r)| split(table.get(r, "organisations")))
        .collect();
    let organisations = organisations_by_siret(db, sirets).await?;
    let emails: Vec<String> = table
        .rows
        .iter()
        .filter_map(|(_, r)| Email::parse(table.get(r, "email")).ok())
        .map(|e| e.as_str().to_owned())
        .collect();
    let mut existing: HashMap<String, Aidant> = HashMap::new();
    for chunk in emails.chunks(BATCH) {
        for a in aidants_by_emails(db, chunk).await? {
            existing.insert(a.data.person.email.as_str().to_owned(), a);
        }
    }
    let hubs: HashMap<String, HubId> = maillage_territories::list_hubs(db)
        .await?
        .into_iter()
        .map(|h| (h.slug, h.id))
        .collect();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (line, r) in &table.rows {
        let raw_email = table.get(r, "email");
        let mut c = RowCheck {
            line: *line,
            key: optional(raw_email),
            issues: Vec::new(),
            report,
        };
        let status = c.parse("statut", AidantStatus::parse(table.get(r, "statut")));
        let requested_on = c.parse("date_demande", parse_date(table.get(r, "date_demande")));
        let trained_on = c.parse("date_formation", parse_date(table.get(r, "date_formation")));
        let authorised_on = c.parse(
            "date_habilitation",
            parse_date(table.get(r, "date_habilitation")),
        );
        let revoked_on = c.parse(
            "date_revocation",
            parse_date(table.get(r, "date_revocation")),
        );
        let training_hub = match optional(table.get(r, "hub_formation")) {
            Some(slug) => match hubs.get(&slug) {
                Some(id) => Some(*id),
                None => {
                    c.fail("hub_formation", format!("no hub with slug {slug:?}"));
                    None
                }
            },
            None => None,
        };
        let counsellor = match optional(table.get(r, "conseiller_numerique_id")) {
            Some(s) => c
                .parse(
                    "conseiller_numerique_id",
                    s.parse::<i32>()
                        .map_err(|_| format!("expected an id, got {s:?}")),
                )
                .map(CounsellorRef),
            None => None,
        };
        let mut orgs = Vec::new();
        let mut departments = Vec::new();
        for s in split(table.get(r, "organisations")) {
            match organisations.get(&s) {
                Some(org) => {
                    if let Some(reason) = outside(actor, &org.data.department) {
                        c.fail("organisations", reason);
                    }
                    orgs.push(org.id);
                    departments.push(org.data.department.clone());
                }
                None => c.fail(
                    "organisations",
                    format!("no organisation with SIRET {s:?}: import the organisations first"),
                ),
            }
        }
        let draft = AidantDraft {
            first_name: table.get(r, "prenom").to_owned(),
            last_name: table.get(r, "nom").to_owned(),
            email: raw_email.to_owned(),
            profession: optional(table.get(r, "profession")),
            organisations: orgs,
            // Only a placeholder when the status is wrong: the row is rejected for it.
            status: status.unwrap_or(AidantStatus::Requested),
            requested_on: requested_on.flatten(),
            trained_on: trained_on.flatten(),
            training_hub,
            authorised_on: authorised_on.flatten(),
            revoked_on: revoked_on.flatten(),
            counsellor,
        };
        let new = c.rules(NewAidant::try_from(draft), AIDANT_FIELDS);
        if let Some(new) = &new
            && let Some(first) = seen.get(new.person.email.as_str())
        {
            c.fail(
                "email",
                format!("same e-mail as line {first}: the first row is kept"),
            );
        }
        let old = new
            .as_ref()
            .and_then(|n| existing.get(n.person.email.as_str()));
        if let Some(old) = old {
            for d in &old.departments {
                if let Some(reason) = outside(actor, d) {
                    c.fail("organisations", reason);
                }
            }
        }
        let rejected = c.finish();
        let (Some(new), false) = (new, rejected) else {
            continue;
        };
        seen.insert(new.person.email.as_str().to_owned(), *line);
        departments.sort();
        departments.dedup();
        let outcome = store_aidant(db, actor, "import", &new, &departments, old).await?;
        summary.count(outcome);
    }
    Ok(())
}

type MandateKey = (OrganisationId, Demarche, Month, MandateDuration);

async fn import_mandates<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    table: &Table,
    summary: &mut ImportSummary,
    report: &mut Vec<ReportLine>,
) -> Result<(), AidantsError> {
    let sirets: Vec<String> = table
        .rows
        .iter()
        .filter_map(|(_, r)| Siret::parse(table.get(r, "siret")).ok())
        .map(|s| s.as_str().to_owned())
        .collect();
    let organisations = organisations_by_siret(db, sirets).await?;
    let org_ids: Vec<i32> = organisations.values().map(|o| o.id.0).collect();
    let mut existing: HashMap<(i32, String, String, String), MandateCounts> = HashMap::new();
    for chunk in org_ids.chunks(BATCH) {
        for m in mandate_month::Entity::find()
            .filter(mandate_month::Column::OrganisationId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            existing.insert(
                (m.organisation_id, m.demarche, m.month, m.duration),
                MandateCounts {
                    created: i64::from(m.created),
                    renewed: i64::from(m.renewed),
                    revoked: i64::from(m.revoked),
                    active_at_month_end: i64::from(m.active_at_month_end),
                },
            );
        }
    }
    let mut seen: BTreeMap<MandateKey, u64> = BTreeMap::new();
    for (line, r) in &table.rows {
        let raw_siret = table.get(r, "siret");
        let mut c = RowCheck {
            line: *line,
            key: Some(format!(
                "{raw_siret}/{}/{}/{}",
                table.get(r, "demarche"),
                table.get(r, "mois"),
                table.get(r, "duree")
            )),
            issues: Vec::new(),
            report,
        };
        let org = match c.parse("siret", Siret::parse(raw_siret)) {
            Some(s) => match organisations.get(s.as_str()) {
                Some(org) => {
                    if let Some(reason) = outside(actor, &org.data.department) {
                        c.fail("siret", reason);
                    }
                    Some(org)
                }
                None => {
                    c.fail(
                        "siret",
                        format!("no organisation with SIRET {raw_siret:?}: import the organisations first"),
                    );
                    None
                }
            },
            None => None,
        };
        let demarche = c.parse("demarche", Demarche::parse(table.get(r, "demarche")));
        let month = c.parse("mois", Month::parse(table.get(r, "mois")));
        let duration = c.parse("duree", MandateDuration::parse(table.get(r, "duree")));
        let created = c.parse("crees", parse_count(table.get(r, "crees")));
        let renewed = c.parse("renouveles", parse_count(table.get(r, "renouveles")));
        let revoked = c.parse("revoques", parse_count(table.get(r, "revoques")));
        let active = c.parse(
            "actifs_fin_de_mois",
            parse_count(table.get(r, "actifs_fin_de_mois")),
        );
        let (
            Some(org),
            Some(demarche),
            Some(month),
            Some(duration),
            Some(created),
            Some(renewed),
            Some(revoked),
            Some(active),
        ) = (
            org, demarche, month, duration, created, renewed, revoked, active,
        )
        else {
            c.finish();
            continue;
        };
        let key = (org.id, demarche, month, duration);
        if let Some(first) = seen.get(&key) {
            c.fail(
                "mois",
                format!("same organisation, démarche, month and duration as line {first}"),
            );
        }
        if c.finish() {
            continue;
        }
        seen.insert(key, *line);
        let counts = MandateCounts {
            created: i64::from(created),
            renewed: i64::from(renewed),
            revoked: i64::from(revoked),
            active_at_month_end: i64::from(active),
        };
        let stored_key = (
            org.id.0,
            demarche.as_str().to_owned(),
            month.as_string(),
            duration.as_str().to_owned(),
        );
        let before = existing.get(&stored_key).copied();
        if before == Some(counts) {
            summary.unchanged += 1;
            continue;
        }
        let model = mandate_month::ActiveModel {
            organisation_id: Set(org.id.0),
            demarche: Set(stored_key.1.clone()),
            month: Set(stored_key.2.clone()),
            duration: Set(stored_key.3.clone()),
            created: Set(created),
            renewed: Set(renewed),
            revoked: Set(revoked),
            active_at_month_end: Set(active),
        };
        let action = if before.is_some() {
            model.update(db).await?;
            summary.updated += 1;
            "update"
        } else {
            model.insert(db).await?;
            summary.created += 1;
            "create"
        };
        let mut changes = AuditChanges::new();
        changes.changed("counts", &before, &counts);
        changes.note("via", "import");
        record(
            db,
            actor,
            AuditEntry::new(
                "mandate_month",
                format!(
                    "{}:{}:{}:{}",
                    org.id, stored_key.1, stored_key.2, stored_key.3
                ),
                action,
                changes,
            )
            .department(Some(org.data.department.clone())),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_columns_are_recognised() {
        for c in [
            "nom_usager",
            "prenom",
            "date_de_naissance",
            "usager",
            "email_usager",
            "nir",
            "telephone",
        ] {
            assert!(looks_like_identity(c), "{c}");
        }
        for c in ["commentaire", "region", "nombre"] {
            assert!(!looks_like_identity(c), "{c}");
        }
        assert_eq!(normalise_header(" Date de naissance"), "date_de_naissance");
    }
}
