//! Reading one row of a v0.1.1 or v1.0.2 file into a [`NewSite`].
//!
//! A row is rejected only when a field the standard requires is missing or unusable: those are what identify and
//! locate a site. Any other bad value is dropped (or kept raw, for vocabulary values) and reported as a correction,
//! so that one typo in a phone number does not hide a whole place from the map.
//!
//! The rules themselves are the sites' input rules ([`crate::draft`]), the same as the API's: after the lenient
//! reading below (phone layouts, date-times, swapped coordinates…), every rule the site still breaks rejects the
//! row on a required field, or drops the value with a report line on an optional one.

use super::export::V1_COLUMNS;
use super::vocabulary::{lookup, multi_valued_columns};
use crate::draft::{REQUIRED_FIELDS, limits, values_field};
use crate::hours::parse_hours;
use crate::mapping::communes;
use crate::model::{NewSite, StandardVersion, TaggedValue, ValueKind};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use maillage_core::{Email, InseeCode, Pivot, PostalCode};
use std::collections::BTreeMap;
use std::fmt;

/// One row as read from a file: column name → text. Absent keys and empty strings both mean "no value".
pub type RawRow = BTreeMap<String, String>;

/// Something wrong with one field of a row: why it was rejected, or what was corrected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// The column, as named in the file's version of the standard.
    pub field: String,
    /// What is wrong and what was done, in plain English, echoing the bad value (truncated).
    pub reason: String,
}

impl RowIssue {
    fn new(field: &str, reason: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// What became of one row.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "one outcome exists at a time, and callers move the site out by value"
)]
pub enum RowOutcome {
    /// The row is usable; `corrections` lists the values that were dropped, kept raw, or flagged.
    Valid {
        /// The normalised site.
        site: NewSite,
        /// What was changed or flagged, for the import report.
        corrections: Vec<RowIssue>,
    },
    /// A required field is missing or invalid; every such field has its issue (not just the first).
    Rejected {
        /// One issue per unusable required field.
        issues: Vec<RowIssue>,
    },
}

/// The columns of the v0.1.1 schema, in its order.
pub const V0_1_COLUMNS: [&str; 29] = [
    "id",
    "pivot",
    "nom",
    "commune",
    "code_postal",
    "code_insee",
    "adresse",
    "complement_adresse",
    "latitude",
    "longitude",
    "cle_ban",
    "typologie",
    "telephone",
    "courriel",
    "site_web",
    "horaires",
    "presentation_resume",
    "presentation_detail",
    "source",
    "structure_parente",
    "date_maj",
    "services",
    "publics_accueillis",
    "conditions_acces",
    "labels_nationaux",
    "labels_autres",
    "modalites_accompagnement",
    "accessibilite",
    "prise_rdv",
];

/// The columns a version defines; any other column of a file is ignored (the caller reports it once per file).
pub fn known_columns(version: StandardVersion) -> &'static [&'static str] {
    match version {
        StandardVersion::V0_1 => &V0_1_COLUMNS,
        StandardVersion::V1_0 => &V1_COLUMNS,
    }
}

/// Guesses a file's version from its columns (for JSON, the union of all rows' keys).
///
/// Only columns that exist in exactly one version count. `None` when the columns fit both (only shared columns)
/// or neither cleanly (columns of both): the caller should then ask for the version rather than guess.
pub fn detect_version(columns: &[&str]) -> Option<StandardVersion> {
    let only_in = |own: &[&str], other: &[&str]| {
        columns
            .iter()
            .map(|c| c.trim())
            .any(|c| own.contains(&c) && !other.contains(&c))
    };
    match (
        only_in(&V0_1_COLUMNS, &V1_COLUMNS),
        only_in(&V1_COLUMNS, &V0_1_COLUMNS),
    ) {
        (true, false) => Some(StandardVersion::V0_1),
        (false, true) => Some(StandardVersion::V1_0),
        _ => None,
    }
}

/// Splits a multi-valued field on the version's separator, trimming values and skipping empty ones.
///
/// v0.1 files also get `|`, since hubs that started migrating to v1 mixed both separators.
pub fn split_multi(version: StandardVersion, raw: &str) -> Vec<&str> {
    let separators: &[char] = match version {
        StandardVersion::V0_1 => &[';', '|'],
        StandardVersion::V1_0 => &['|'],
    };
    raw.split(separators)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether a phone number has the form the standard's pattern requires (`+33` or an overseas code, then 6–9
/// digits).
pub fn is_standard_phone(phone: &str) -> bool {
    const CODES: [&str; 10] = [
        "+33", "+590", "+594", "+262", "+596", "+269", "+687", "+689", "+508", "+681",
    ];
    CODES.iter().any(|code| {
        phone.strip_prefix(code).is_some_and(|rest| {
            (6..=9).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// The longest value (in characters) each column may hold; longer values are refused: the row when the column is
/// required, else only the value (dropped, with a report line). The columns of a site's text fields take the sites'
/// input rules' [`limits`] (one definition for the API and imports), checked here on the raw cell before any
/// parsing; the others only keep one runaway cell out of the parsers.
pub const LENGTH_LIMITS: [(&str, usize); 24] = [
    ("id", limits::SOURCE_ID),
    ("pivot", 20),
    ("nom", limits::NAME),
    ("commune", limits::COMMUNE),
    ("code_postal", 10),
    ("code_insee", 10),
    ("adresse", limits::ADDRESS),
    ("complement_adresse", limits::ADDRESS_COMPLEMENT),
    ("latitude", 30),
    ("longitude", 30),
    ("cle_ban", limits::BAN_KEY),
    ("telephone", 50),
    ("courriel", 1000),
    ("courriels", 1000),
    ("site_web", limits::WEBSITE),
    ("horaires", limits::OPENING_HOURS),
    ("presentation_resume", limits::SUMMARY),
    ("presentation_detail", limits::DESCRIPTION),
    ("source", limits::SOURCE_LABEL),
    ("structure_parente", limits::PARENT_STRUCTURE),
    ("labels_autres", limits::OTHER_LABELS),
    ("autres_formations_labels", limits::OTHER_LABELS),
    ("accessibilite", limits::ACCESSIBILITY_URL),
    ("fiche_acces_libre", limits::ACCESSIBILITY_URL),
];

/// The limit of any column [`LENGTH_LIMITS`] does not list (the multi-valued ones, `prise_rdv`…).
pub const DEFAULT_LENGTH_LIMIT: usize = 2000;

/// The length limit of a column.
pub fn length_limit(column: &str) -> usize {
    LENGTH_LIMITS
        .iter()
        .find(|(c, _)| *c == column)
        .map_or(DEFAULT_LENGTH_LIMIT, |(_, n)| *n)
}

/// Reads one row of a file of the given version.
pub fn parse_row(version: StandardVersion, row: &RawRow) -> RowOutcome {
    // PostgreSQL cannot store U+0000 and SQLite would: refuse the row on both, naming the column, rather than fail
    // the whole file on one backend.
    if let Some((column, _)) = row.iter().find(|(_, v)| v.contains('\0')) {
        return RowOutcome::Rejected {
            issues: vec![RowIssue::new(
                column,
                "contains a NUL character (U+0000), which Maillage does not store",
            )],
        };
    }
    let mut too_long: Vec<(String, usize, usize)> = Vec::new();
    for (column, value) in row {
        let (length, max) = (value.trim().chars().count(), length_limit(column));
        if length > max {
            too_long.push((column.clone(), length, max));
        }
    }
    let trimmed: RawRow;
    let row = if too_long.is_empty() {
        row
    } else {
        let mut copy = row.clone();
        for (column, _, _) in &too_long {
            if !is_required(version, column) {
                copy.remove(column);
            }
        }
        trimmed = copy;
        &trimmed
    };
    let mut r = Reader {
        version,
        row,
        issues: Vec::new(),
        corrections: Vec::new(),
    };
    for (column, length, max) in too_long {
        if is_required(version, &column) {
            r.reject(
                &column,
                format!("{length} characters, over the limit of {max}"),
            );
        } else {
            r.correct(
                &column,
                format!("{length} characters, over the limit of {max}; dropped"),
            );
        }
    }

    let source_id = r.required("id");
    let pivot = r.required("pivot").and_then(|raw| match Pivot::parse(raw) {
        Ok(pivot) => Some(pivot),
        Err(err) => {
            r.reject("pivot", format!("{} (got {})", err.reason, echo(raw)));
            None
        }
    });
    let name = r.required("nom");
    let commune = r.required("commune");
    let postal_code = r
        .required("code_postal")
        .and_then(|raw| match PostalCode::parse(raw) {
            Ok(code) => Some(code),
            Err(err) => {
                r.reject("code_postal", format!("{} (got {})", err.reason, echo(raw)));
                None
            }
        });
    let address = r.required("adresse");
    let updated_on = r.required("date_maj").and_then(|raw| r.date(raw));
    if version == StandardVersion::V0_1 && r.text("services").is_none() {
        r.reject("services", "required in v0.1 but missing");
    }

    let insee_code = r
        .text("code_insee")
        .and_then(|raw| match InseeCode::parse(raw) {
            Ok(code) => Some(code),
            Err(err) => {
                r.correct(
                    "code_insee",
                    format!("{} (got {}); dropped", err.reason, echo(raw)),
                );
                None
            }
        });
    let (latitude, longitude) = r.coordinates();
    let phone = r.text("telephone").and_then(|raw| {
        let phone = normalise_phone(raw);
        if phone.is_none() {
            r.correct(
                "telephone",
                format!(
                    "{} is not a phone number the standard accepts; dropped",
                    echo(raw)
                ),
            );
        }
        phone
    });
    let emails = r.emails();
    let opening_hours = r.owned("horaires");
    if let Some(raw) = opening_hours.as_deref() {
        match parse_hours(raw) {
            Ok(hours) if hours.was_cleaned() => r.correct(
                "horaires",
                format!(
                    "not strict opening_hours syntax, readable as {} (kept as written)",
                    echo(hours.parsed())
                ),
            ),
            Ok(_) => {}
            Err(err) => r.correct("horaires", format!("{err} (kept as written)")),
        }
    }
    let summary = r.owned("presentation_resume");
    if let Some(text) = summary.as_deref() {
        let max = match version {
            StandardVersion::V0_1 => 500,
            StandardVersion::V1_0 => 280,
        };
        let length = text.chars().count();
        if length > max {
            r.correct(
                "presentation_resume",
                format!("{length} characters, over the maximum of {max} (kept in full)"),
            );
        }
    }
    let values = r.values();
    let (other_labels, accessibility) = match version {
        StandardVersion::V0_1 => ("labels_autres", "accessibilite"),
        StandardVersion::V1_0 => ("autres_formations_labels", "fiche_acces_libre"),
    };

    let (
        Some(source_id),
        Some(pivot),
        Some(name),
        Some(commune),
        Some(postal_code),
        Some(address),
        Some(updated_on),
    ) = (
        source_id,
        pivot,
        name,
        commune,
        postal_code,
        address,
        updated_on,
    )
    else {
        return RowOutcome::Rejected { issues: r.issues };
    };
    if !r.issues.is_empty() {
        return RowOutcome::Rejected { issues: r.issues };
    }
    let mut site = NewSite {
        source_id: source_id.to_owned(),
        standard_version: version,
        pivot,
        name: name.to_owned(),
        commune: commune.to_owned(),
        postal_code,
        insee_code,
        address: address.to_owned(),
        address_complement: r.owned("complement_adresse"),
        latitude,
        longitude,
        ban_key: match version {
            StandardVersion::V0_1 => r.owned("cle_ban"),
            StandardVersion::V1_0 => None,
        },
        phone,
        emails,
        website: r.owned("site_web"),
        opening_hours,
        summary,
        description: r.owned("presentation_detail"),
        source_label: r.owned("source"),
        parent_structure: r.owned("structure_parente"),
        updated_on,
        values,
        other_labels: r.owned(other_labels),
        accessibility_url: r.owned(accessibility),
        booking_url: r.owned("prise_rdv"),
    };
    r.apply_rules(&mut site);
    if !r.issues.is_empty() {
        return RowOutcome::Rejected { issues: r.issues };
    }
    r.place_coordinates(&mut site);
    RowOutcome::Valid {
        site,
        corrections: r.corrections,
    }
}

/// Whether a row without this column is rejected.
fn is_required(version: StandardVersion, column: &str) -> bool {
    matches!(
        column,
        "id" | "pivot" | "nom" | "commune" | "code_postal" | "adresse" | "date_maj"
    ) || (version == StandardVersion::V0_1 && column == "services")
}

/// Collects the issues of one row while its fields are read.
struct Reader<'a> {
    version: StandardVersion,
    row: &'a RawRow,
    issues: Vec<RowIssue>,
    corrections: Vec<RowIssue>,
}

impl<'a> Reader<'a> {
    fn text(&self, column: &str) -> Option<&'a str> {
        self.row
            .get(column)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn owned(&self, column: &str) -> Option<String> {
        self.text(column).map(str::to_owned)
    }

    fn required(&mut self, column: &str) -> Option<&'a str> {
        let value = self.text(column);
        if value.is_none() {
            self.reject(column, "required but missing");
        }
        value
    }

    fn reject(&mut self, column: &str, reason: impl Into<String>) {
        self.issues.push(RowIssue::new(column, reason));
    }

    fn correct(&mut self, column: &str, reason: impl Into<String>) {
        self.corrections.push(RowIssue::new(column, reason));
    }

    /// `date_maj`: an ISO date, or an ISO date-time whose date is kept.
    fn date(&mut self, raw: &str) -> Option<NaiveDate> {
        let date = if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            date
        } else if let Some(date) = parse_datetime_date(raw) {
            self.correct(
                "date_maj",
                format!("{} is a date and time; kept the date {date}", echo(raw)),
            );
            date
        } else {
            self.reject(
                "date_maj",
                format!("not a date in the form YYYY-MM-DD (got {})", echo(raw)),
            );
            return None;
        };
        if NaiveDate::from_ymd_opt(1970, 1, 1) == Some(date) {
            self.correct(
                "date_maj",
                "1970-01-01 is a placeholder date, not a real update date (kept)",
            );
        }
        Some(date)
    }

    /// The import policy over the sites' input rules ([`crate::draft`]), the same rules the API and the write
    /// services apply: a required field that breaks one rejects the row; an optional value that does is dropped,
    /// with a report line naming its column, so nothing stored breaks a rule and nothing is lost silently.
    fn apply_rules(&mut self, site: &mut NewSite) {
        for problem in site.problems() {
            let segments = &problem.field.0;
            let root = segments.first().map_or("", String::as_str);
            let column = column_of(self.version, segments);
            if REQUIRED_FIELDS.contains(&root) {
                self.reject(&column, problem.message);
                continue;
            }
            self.correct(&column, format!("{}; dropped", problem.message));
            match root {
                "latitude" | "longitude" => {
                    site.latitude = None;
                    site.longitude = None;
                }
                "phone" => site.phone = None,
                "addressComplement" => site.address_complement = None,
                "banKey" => site.ban_key = None,
                "website" => site.website = None,
                "openingHours" => site.opening_hours = None,
                "summary" => site.summary = None,
                "description" => site.description = None,
                "sourceLabel" => site.source_label = None,
                "parentStructure" => site.parent_structure = None,
                "otherLabels" => site.other_labels = None,
                "accessibilityUrl" => site.accessibility_url = None,
                "bookingUrl" => site.booking_url = None,
                "values" => {
                    // The label goes, the source's raw text stays (as for any value the vocabulary does not know).
                    let kind = segments.get(1).and_then(|name| kind_of_field(name));
                    let index = segments.get(2).and_then(|i| i.parse::<usize>().ok());
                    if let (Some(kind), Some(index)) = (kind, index)
                        && let Some(v) =
                            site.values.iter_mut().filter(|v| v.kind == kind).nth(index)
                    {
                        v.value = None;
                    }
                }
                // Typed fields (e-mails, INSEE code) hold only valid values once parsed; a rule added later on
                // another field and not dropped here is still caught by the writer, which refuses the import.
                _ => {}
            }
        }
    }

    /// Latitude and longitude as numbers (a decimal comma is accepted). Whether they are in range and go together
    /// is a rule of every site ([`Self::apply_rules`]); only what is not a number, or the (0, 0) placeholder, is
    /// the reader's to drop.
    fn coordinates(&mut self) -> (Option<f64>, Option<f64>) {
        let lat_raw = self.text("latitude");
        let lon_raw = self.text("longitude");
        let mut read = |column: &str, raw: Option<&str>| -> Result<Option<f64>, ()> {
            let Some(raw) = raw else {
                return Ok(None);
            };
            match raw
                .replace(',', ".")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
            {
                Some(v) => Ok(Some(v)),
                None => {
                    self.correct(
                        column,
                        format!("{} is not a number; coordinates dropped", echo(raw)),
                    );
                    Err(())
                }
            }
        };
        let (Ok(latitude), Ok(longitude)) = (read("latitude", lat_raw), read("longitude", lon_raw))
        else {
            return (None, None);
        };
        // (0, 0) is in the Gulf of Guinea: no French site is there, it is a "no coordinates" placeholder.
        if latitude == Some(0.0) && longitude == Some(0.0) {
            self.correct(
                "latitude",
                "0, 0 is a placeholder position; coordinates dropped",
            );
            return (None, None);
        }
        (latitude, longitude)
    }

    /// Coordinates must lie in the site's department (the box of its communes' centres, with a margin), or at
    /// least in France when the department's box is unknown. Swapped latitude and longitude are the common slip:
    /// they are swapped back when that fits; other misplaced points are dropped, never stored on the wrong spot.
    fn place_coordinates(&mut self, site: &mut NewSite) {
        let (Some(lat), Some(lon)) = (site.latitude, site.longitude) else {
            return;
        };
        let department = site.department_code();
        let bounds = department
            .as_ref()
            .and_then(|d| communes::department_bounds(d.as_str()));
        let fits = |lat: f64, lon: f64| match bounds {
            Some(b) => b.contains(lat, lon),
            None => communes::in_france(lat, lon),
        };
        if fits(lat, lon) {
            return;
        }
        let place = match (&department, bounds) {
            (Some(d), Some(_)) => format!("department {d}"),
            _ => "France".to_owned(),
        };
        if fits(lon, lat) {
            site.latitude = Some(lon);
            site.longitude = Some(lat);
            self.correct(
                "latitude",
                format!(
                    "{lat}, {lon} is outside {place}; latitude and longitude were swapped, stored as {lon}, {lat}"
                ),
            );
        } else {
            site.latitude = None;
            site.longitude = None;
            self.correct(
                "latitude",
                format!("{lat}, {lon} is outside {place}; coordinates dropped"),
            );
        }
    }

    /// `courriel` / `courriels`: every valid address, in order, without duplicates.
    fn emails(&mut self) -> Vec<Email> {
        let column = match self.version {
            StandardVersion::V0_1 => "courriel",
            StandardVersion::V1_0 => "courriels",
        };
        let mut emails: Vec<Email> = Vec::new();
        let Some(raw) = self.text(column) else {
            return emails;
        };
        let parts = raw
            .split(|c: char| matches!(c, ';' | ',' | '|') || c.is_whitespace())
            .filter(|s| !s.is_empty());
        for part in parts {
            match Email::parse(part) {
                Ok(email) if !emails.contains(&email) => emails.push(email),
                Ok(_) => {}
                Err(_) => self.correct(
                    column,
                    format!("{} is not an e-mail address; dropped", echo(part)),
                ),
            }
        }
        emails
    }

    /// Every multi-valued column, in the version's column order then source order, without exact duplicates.
    fn values(&mut self) -> Vec<TaggedValue> {
        let mut values: Vec<TaggedValue> = Vec::new();
        for &(column, _) in multi_valued_columns(self.version) {
            let Some(raw) = self.text(column) else {
                continue;
            };
            for part in split_multi(self.version, raw) {
                let Some(found) = lookup(self.version, column, part) else {
                    continue;
                };
                if !found.known {
                    self.correct(column, format!("unknown value {}, kept as raw", echo(part)));
                }
                if !values.contains(&found.tagged) {
                    values.push(found.tagged);
                }
            }
        }
        values
    }
}

/// The kind a multi-valued field's path names (`services` in `values.services[0]`).
fn kind_of_field(name: &str) -> Option<ValueKind> {
    ValueKind::ALL
        .into_iter()
        .find(|k| values_field(*k) == name)
}

/// The file column of a site field, as a report line names it (a path of [`NewSite::problems`]).
fn column_of(version: StandardVersion, segments: &[String]) -> String {
    let v0 = version == StandardVersion::V0_1;
    let column = match segments.first().map_or("", String::as_str) {
        "sourceId" => "id",
        "pivot" => "pivot",
        "name" => "nom",
        "commune" => "commune",
        "postalCode" => "code_postal",
        "inseeCode" => "code_insee",
        "address" => "adresse",
        "addressComplement" => "complement_adresse",
        "latitude" => "latitude",
        "longitude" => "longitude",
        "banKey" => "cle_ban",
        "phone" => "telephone",
        "emails" if v0 => "courriel",
        "emails" => "courriels",
        "website" => "site_web",
        "openingHours" => "horaires",
        "summary" => "presentation_resume",
        "description" => "presentation_detail",
        "sourceLabel" => "source",
        "parentStructure" => "structure_parente",
        "updatedOn" => "date_maj",
        "otherLabels" if v0 => "labels_autres",
        "otherLabels" => "autres_formations_labels",
        "accessibilityUrl" if v0 => "accessibilite",
        "accessibilityUrl" => "fiche_acces_libre",
        "bookingUrl" => "prise_rdv",
        "values" => {
            let kind = segments.get(1).and_then(|name| kind_of_field(name));
            let in_version = |version| {
                multi_valued_columns(version)
                    .iter()
                    .find(|(_, k)| Some(*k) == kind)
                    .map(|(c, _)| *c)
            };
            // v0.1 folds specific support into `publics_accueillis`, training labels into `labels_nationaux`.
            let folded = match kind {
                Some(ValueKind::SpecificSupport) if v0 => Some("publics_accueillis"),
                Some(ValueKind::TrainingLabel) if v0 => Some("labels_nationaux"),
                _ => None,
            };
            return folded
                .or_else(|| in_version(version))
                .or_else(|| in_version(StandardVersion::V1_0))
                .unwrap_or("values")
                .to_owned();
        }
        other => other,
    };
    column.to_owned()
}

fn parse_datetime_date(raw: &str) -> Option<NaiveDate> {
    if let Ok(datetime) = DateTime::parse_from_rfc3339(raw) {
        // The date as the source wrote it, in its own offset: that is the day it meant.
        return Some(datetime.date_naive());
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
    .map(|datetime| datetime.date())
}

/// Puts a French phone number in the standard's international form, or `None` if it cannot be.
///
/// Spaces, dots and dashes are layout; `0X XX XX XX XX` is a national number whose country code depends on its
/// prefix (overseas departments have their own), `00` is the international prefix, `+33 (0)` a common slip.
pub(crate) fn normalise_phone(raw: &str) -> Option<String> {
    let compact: String = raw
        .replace("(0)", "")
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '.' | '-'))
        .collect();
    let mut phone = if let Some(rest) = compact.strip_prefix("00") {
        format!("+{rest}")
    } else if compact.len() == 10
        && compact.starts_with('0')
        && compact.bytes().all(|b| b.is_ascii_digit())
    {
        format!("{}{}", country_code(&compact), &compact[1..])
    } else {
        compact
    };
    if phone.len() == 14 && phone.starts_with("+330") {
        phone.replace_range(3..4, "");
    }
    is_standard_phone(&phone).then_some(phone)
}

/// The country code of a 10-digit French national number (`0590…` is Guadeloupe, not mainland France).
fn country_code(national: &str) -> &'static str {
    match national.get(1..4) {
        Some("590" | "690" | "691") => "+590",
        Some("594" | "694") => "+594",
        Some("596" | "696" | "697") => "+596",
        Some("262" | "263" | "692" | "693" | "269" | "639") => "+262",
        _ => "+33",
    }
}

/// A value quoted for a report line, truncated so that a runaway cell cannot flood the report.
fn echo(raw: &str) -> String {
    const MAX: usize = 60;
    if raw.chars().count() <= MAX {
        format!("{raw:?}")
    } else {
        let head: String = raw.chars().take(MAX - 1).collect();
        format!("{:?}", format!("{head}…"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::ValueKind;
    use StandardVersion::{V0_1, V1_0};

    fn row(pairs: &[(&str, &str)]) -> RawRow {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn minimal_v0_1() -> RawRow {
        row(&[
            ("id", "42"),
            ("pivot", "00000000000000"),
            ("nom", " Médiathèque "),
            ("commune", "Lyon"),
            ("code_postal", "69001"),
            ("adresse", "1 rue de la République"),
            ("date_maj", "2022-06-02"),
            ("services", "Prendre en main un ordinateur"),
        ])
    }

    fn valid(outcome: RowOutcome) -> (NewSite, Vec<RowIssue>) {
        match outcome {
            RowOutcome::Valid { site, corrections } => (site, corrections),
            RowOutcome::Rejected { issues } => panic!("rejected: {issues:?}"),
        }
    }

    fn has(issues: &[RowIssue], field: &str, needle: &str) -> bool {
        issues
            .iter()
            .any(|i| i.field == field && i.reason.contains(needle))
    }

    #[test]
    fn detects_versions() {
        assert_eq!(detect_version(&["id", "courriel", "nom"]), Some(V0_1));
        assert_eq!(detect_version(&["id", "publics_accueillis"]), Some(V0_1));
        assert_eq!(
            detect_version(&["id", "courriels", "frais_a_charge"]),
            Some(V1_0)
        );
        assert_eq!(detect_version(&["itinerance"]), Some(V1_0));
        assert_eq!(
            detect_version(&["id", "nom", "services"]),
            None,
            "only shared columns"
        );
        assert_eq!(detect_version(&["courriel", "courriels"]), None, "both");
        assert_eq!(detect_version(&[]), None);
    }

    #[test]
    fn splits_multi_values() {
        assert_eq!(split_multi(V0_1, " a ; b|c;; "), ["a", "b", "c"]);
        assert_eq!(split_multi(V1_0, "a | b;c|"), ["a", "b;c"]);
        assert!(split_multi(V1_0, " ").is_empty());
    }

    #[test]
    fn minimal_row_is_valid_and_trimmed() {
        let (site, corrections) = valid(parse_row(V0_1, &minimal_v0_1()));
        assert!(corrections.is_empty(), "{corrections:?}");
        assert_eq!(site.name, "Médiathèque");
        assert_eq!(site.source_id, "42");
        assert!(site.pivot.is_placeholder());
        assert_eq!(
            site.updated_on,
            NaiveDate::from_ymd_opt(2022, 6, 2).unwrap()
        );
        assert_eq!(
            site.mapped_values(ValueKind::Service),
            ["Maîtrise des outils numériques du quotidien"]
        );
        assert_eq!(site.latitude, None);
    }

    #[test]
    fn a_nul_character_rejects_the_row_naming_its_column() {
        let mut r = minimal_v0_1();
        r.insert("telephone".into(), "04 78\u{0}".into());
        let RowOutcome::Rejected { issues } = parse_row(V0_1, &r) else {
            panic!("a NUL must reject the row");
        };
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "telephone");
    }

    #[test]
    fn rejects_with_every_bad_required_field() {
        let mut r = minimal_v0_1();
        r.remove("nom");
        r.insert("commune".into(), "  ".into());
        r.insert("pivot".into(), "123".into());
        r.insert("code_postal".into(), "6900".into());
        r.insert("date_maj".into(), "02/06/2022".into());
        r.remove("services");
        r.insert("telephone".into(), "nope".into());
        let RowOutcome::Rejected { issues } = parse_row(V0_1, &r) else {
            panic!("expected a rejection");
        };
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "pivot",
                "nom",
                "commune",
                "code_postal",
                "date_maj",
                "services"
            ]
        );
        assert!(has(&issues, "pivot", "\"123\""));
        assert!(has(&issues, "date_maj", "YYYY-MM-DD"));
        assert_eq!(issues[1].to_string(), "nom: required but missing");
    }

    #[test]
    fn services_are_optional_in_v1() {
        let mut r = minimal_v0_1();
        r.remove("services");
        assert!(matches!(parse_row(V1_0, &r), RowOutcome::Valid { .. }));
    }

    #[test]
    fn optional_fields_are_corrected_not_rejected() {
        let mut r = minimal_v0_1();
        let long = "x".repeat(501);
        for (k, v) in [
            ("code_insee", "20123"),
            ("latitude", "45.76"),
            ("telephone", "04 72.10-20 30"),
            ("courriel", "a@b.fr; nope, c@d.fr a@b.fr"),
            (
                "services",
                "Prendre en main un ordinateur;Faire du vélo|Accéder à du matériel",
            ),
            ("publics_accueillis", "Adultes;Surdité"),
            ("date_maj", "1970-01-01"),
            ("presentation_resume", long.as_str()),
            ("horaires", "Mo-Fr 9h00-12h00"),
        ] {
            r.insert(k.into(), v.into());
        }
        let (site, corrections) = valid(parse_row(V0_1, &r));
        assert_eq!(site.insee_code, None);
        assert!(has(&corrections, "code_insee", "\"20123\""));
        assert_eq!((site.latitude, site.longitude), (None, None));
        assert!(has(&corrections, "longitude", "missing"));
        assert_eq!(site.phone.as_deref(), Some("+33472102030"));
        let emails: Vec<&str> = site.emails.iter().map(Email::as_str).collect();
        assert_eq!(emails, ["a@b.fr", "c@d.fr"]);
        assert!(has(&corrections, "courriel", "\"nope\""));
        assert!(has(
            &corrections,
            "services",
            "unknown value \"Faire du vélo\", kept as raw"
        ));
        let unknown = site
            .values
            .iter()
            .find(|v| v.raw == "Faire du vélo")
            .unwrap();
        assert_eq!(
            (unknown.kind, unknown.value.as_deref()),
            (ValueKind::Service, None)
        );
        assert_eq!(site.mapped_values(ValueKind::SpecificSupport), ["Surdité"]);
        assert!(
            site.values
                .iter()
                .any(|v| v.raw == "Adultes" && v.value.is_none())
        );
        assert!(
            !has(&corrections, "publics_accueillis", ""),
            "known values are not corrections"
        );
        assert_eq!(
            site.updated_on,
            NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
        );
        assert!(has(&corrections, "date_maj", "placeholder"));
        assert_eq!(site.summary.as_deref(), Some(long.as_str()));
        assert!(has(&corrections, "presentation_resume", "501 characters"));
        assert_eq!(site.opening_hours.as_deref(), Some("Mo-Fr 9h00-12h00"));
        assert!(has(&corrections, "horaires", "\"Mo-Fr 09:00-12:00\""));
        assert_eq!(corrections.len(), 7, "{corrections:#?}");
    }

    #[test]
    fn coordinates_and_phones() {
        let mut r = minimal_v0_1();
        r.insert("latitude".into(), "95".into());
        r.insert("longitude".into(), "4.8".into());
        let (site, corrections) = valid(parse_row(V0_1, &r));
        assert_eq!((site.latitude, site.longitude), (None, None));
        assert!(has(
            &corrections,
            "latitude",
            "latitude must be between -90 and 90 (got 95); dropped"
        ));
        assert_eq!(corrections.len(), 1, "one line for one broken rule");

        r.remove("latitude");
        let (site, corrections) = valid(parse_row(V0_1, &r));
        assert_eq!((site.latitude, site.longitude), (None, None));
        assert!(has(&corrections, "latitude", "latitude is missing"));

        r.insert("latitude".into(), "45,76".into());
        let (site, _) = valid(parse_row(V0_1, &r));
        assert_eq!((site.latitude, site.longitude), (Some(45.76), Some(4.8)));

        assert_eq!(
            normalise_phone("+33 (0)4 72 10 20 30").as_deref(),
            Some("+33472102030")
        );
        assert_eq!(
            normalise_phone("0033 4 72 10 20 30").as_deref(),
            Some("+33472102030")
        );
        assert_eq!(
            normalise_phone("0590 12 34 56").as_deref(),
            Some("+590590123456")
        );
        assert_eq!(
            normalise_phone("0590 12 34 5"),
            None,
            "9 digits is not a number"
        );
        assert_eq!(
            normalise_phone("0692 12 34 56").as_deref(),
            Some("+262692123456")
        );
        assert_eq!(normalise_phone("04 72 10 20 30 / 06 12 34 56 78"), None);
        assert!(is_standard_phone("+33180059880"));
        assert!(!is_standard_phone("+3318005988012"));
    }

    #[test]
    fn validation_of_postal_codes_coordinates_and_lengths() {
        for code in ["00000", "97500", "98000"] {
            let mut r = minimal_v0_1();
            r.insert("code_postal".into(), code.into());
            let RowOutcome::Rejected { issues } = parse_row(V0_1, &r) else {
                panic!("{code} accepted");
            };
            assert!(
                has(&issues, "code_postal", "no French department"),
                "{issues:?}"
            );
        }
        let place = |lat: &str, lon: &str| {
            let mut r = minimal_v0_1();
            r.insert("latitude".into(), lat.into());
            r.insert("longitude".into(), lon.into());
            valid(parse_row(V0_1, &r))
        };
        let (site, corrections) = place("45.76", "4.83");
        assert_eq!(
            (site.latitude, site.longitude, corrections.len()),
            (Some(45.76), Some(4.83), 0)
        );
        let (site, corrections) = place("4.83", "45.76");
        assert_eq!((site.latitude, site.longitude), (Some(45.76), Some(4.83)));
        assert!(has(&corrections, "latitude", "swapped"), "{corrections:?}");
        let (site, corrections) = place("43.30", "5.37");
        assert_eq!((site.latitude, site.longitude), (None, None));
        assert!(has(
            &corrections,
            "latitude",
            "outside department 69; coordinates dropped"
        ));
        let mut r = minimal_v0_1();
        r.insert("id".into(), "i".repeat(201));
        r.insert("structure_parente".into(), "s".repeat(251));
        let RowOutcome::Rejected { issues } = parse_row(V0_1, &r) else {
            panic!("accepted");
        };
        assert!(
            has(&issues, "id", "201 characters, over the limit of 200"),
            "{issues:?}"
        );
        r.insert("id".into(), "i".repeat(200));
        let (site, corrections) = valid(parse_row(V0_1, &r));
        assert_eq!(site.parent_structure, None);
        assert!(has(
            &corrections,
            "structure_parente",
            "over the limit of 250; dropped"
        ));
    }

    #[test]
    fn datetime_keeps_the_date() {
        let mut r = minimal_v0_1();
        r.insert("date_maj".into(), "2022-09-01T23:30:00+02:00".into());
        let (site, corrections) = valid(parse_row(V0_1, &r));
        assert_eq!(
            site.updated_on,
            NaiveDate::from_ymd_opt(2022, 9, 1).unwrap()
        );
        assert!(has(&corrections, "date_maj", "kept the date 2022-09-01"));
    }

    #[test]
    fn echo_truncates() {
        let echoed = echo(&"é".repeat(100));
        assert_eq!(echoed.chars().count(), 62);
        assert!(echoed.ends_with("…\""));
    }

    /// Parses every row of the real hub files in `../shared/data/lieux`, when they are there.
    #[test]
    fn real_files_parse_without_panicking() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/lieux");
        if !dir.is_dir() {
            println!("skipped: ../shared/data not found ({})", dir.display());
            return;
        }
        for name in ["hinaura-aura.json", "hub-du-sud-paca.json"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let json: Vec<serde_json::Map<String, serde_json::Value>> =
                serde_json::from_str(&text).unwrap();
            let rows: Vec<RawRow> = json
                .iter()
                .map(|object| {
                    object
                        .iter()
                        .filter_map(|(k, v)| {
                            let text = match v {
                                serde_json::Value::String(s) => s.clone(),
                                serde_json::Value::Number(n) => n.to_string(),
                                serde_json::Value::Bool(b) => b.to_string(),
                                _ => return None,
                            };
                            Some((k.clone(), text))
                        })
                        .collect()
                })
                .collect();
            let mut columns: Vec<&str> = rows
                .iter()
                .flat_map(|r| r.keys().map(String::as_str))
                .collect();
            columns.sort_unstable();
            columns.dedup();
            let version = detect_version(&columns).unwrap();
            assert_eq!(version, V0_1);
            let (mut valid, mut rejected, mut corrected, mut dropped) = (0, 0, 0, 0);
            let (mut hours_total, mut hours_raw, mut hours_cleaned) = (0, 0, 0);
            let mut by_field: BTreeMap<String, usize> = BTreeMap::new();
            for r in &rows {
                match parse_row(version, r) {
                    RowOutcome::Valid { site, corrections } => {
                        valid += 1;
                        if !corrections.is_empty() {
                            corrected += 1;
                        }
                        for c in &corrections {
                            *by_field.entry(c.field.clone()).or_default() += 1;
                            if c.reason.contains("dropped") {
                                dropped += 1;
                            }
                        }
                        let record = super::super::to_v1_record(&site, true);
                        assert_eq!(record.len(), V1_COLUMNS.len());
                    }
                    RowOutcome::Rejected { issues } => {
                        rejected += 1;
                        println!("{name}: rejected: {issues:?}");
                    }
                }
                if let Some(raw) = r.get("horaires").filter(|h| !h.trim().is_empty()) {
                    hours_total += 1;
                    match parse_hours(raw) {
                        Ok(h) if h.was_cleaned() => hours_cleaned += 1,
                        Ok(_) => hours_raw += 1,
                        Err(_) => {}
                    }
                }
            }
            println!(
                "{name}: {} rows, {valid} valid ({corrected} with corrections), {rejected} rejected, {dropped} values dropped; \
                 horaires: {hours_total} given, {hours_raw} parse as is, {hours_cleaned} after cleanup, {} not; \
                 corrections by field: {by_field:?}",
                rows.len(),
                hours_total - hours_raw - hours_cleaned,
            );
            assert_eq!(valid + rejected, rows.len());
        }
    }
}
