//! The input rules of sites, in one place: what a caller typed ([`SiteDraft`], [`SitePatchDraft`]) becomes a
//! [`NewSite`] or a [`SitePatch`] only through them, and the write services check the typed values against the
//! same rules ([`NewSite::problems`], [`SitePatch::problems`]) so that no way in (API, imports, CLI, a future
//! caller building a `NewSite` by hand) can store what another would refuse.
//!
//! Each rule is one function below, on typed values; the drafts only turn text into those values first (trimming,
//! blank as absent, the lenient phone normaliser) and then call the rule. Problems are collected, never stopped at
//! the first, with camelCase paths relative to the draft (`postalCode`, `emails[1]`, `values.services[0]`).
//!
//! Policies differ by caller, not rules: the API refuses a draft with any problem; an import rejects a row whose
//! required field breaks a rule and drops (with a report line) an optional value that does (see
//! [`crate::standard::parse`]).

use crate::model::{NewSite, StandardVersion, TaggedValue, ValueKind};
use crate::standard::parse::{is_standard_phone, normalise_phone};
use crate::standard::vocabulary::is_v1_label;
use crate::write::SitePatch;
use chrono::NaiveDate;
use maillage_core::error::FieldPath;
use maillage_core::{Code, Email, FieldProblems, InseeCode, Pivot, PostalCode};

/// The longest value (in characters, after trimming) each text field of a site may hold. Generous for real data,
/// they keep one runaway value (a whole document pasted into a field) out of the database and the API's answers.
pub mod limits {
    /// The import source name (also its own character rule, see [`super::check_source`]).
    pub const SOURCE: usize = 64;
    /// `sourceId` (`id`).
    pub const SOURCE_ID: usize = 200;
    /// `name` (`nom`).
    pub const NAME: usize = 300;
    /// `commune`.
    pub const COMMUNE: usize = 200;
    /// `address` (`adresse`).
    pub const ADDRESS: usize = 300;
    /// `addressComplement` (`complement_adresse`).
    pub const ADDRESS_COMPLEMENT: usize = 250;
    /// `banKey` (`cle_ban`).
    pub const BAN_KEY: usize = 100;
    /// `website` (`site_web`).
    pub const WEBSITE: usize = 1000;
    /// `openingHours` (`horaires`).
    pub const OPENING_HOURS: usize = 1000;
    /// `summary` (`presentation_resume`).
    pub const SUMMARY: usize = 2000;
    /// `description` (`presentation_detail`).
    pub const DESCRIPTION: usize = 10_000;
    /// `sourceLabel` (the row's own `source` column).
    pub const SOURCE_LABEL: usize = 100;
    /// `parentStructure` (`structure_parente`).
    pub const PARENT_STRUCTURE: usize = 250;
    /// `otherLabels` (`labels_autres` / `autres_formations_labels`).
    pub const OTHER_LABELS: usize = 1000;
    /// `accessibilityUrl` (`accessibilite` / `fiche_acces_libre`).
    pub const ACCESSIBILITY_URL: usize = 500;
    /// `bookingUrl` (`prise_rdv`).
    pub const BOOKING_URL: usize = 2000;
}

/// The fields a site cannot exist without: an import rejects the row when one of them breaks a rule, instead of
/// dropping the value.
pub const REQUIRED_FIELDS: [&str; 7] = [
    "sourceId",
    "pivot",
    "name",
    "commune",
    "postalCode",
    "address",
    "updatedOn",
];

/// The name of a multi-valued field in inputs and paths (`values.services[0]`).
pub fn values_field(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Service => "services",
        ValueKind::Public => "publics",
        ValueKind::SpecificSupport => "specificSupport",
        ValueKind::Fee => "fees",
        ValueKind::NationalProgramme => "nationalProgrammes",
        ValueKind::TrainingLabel => "trainingLabels",
        ValueKind::AccessMode => "accessModes",
        ValueKind::SupportMode => "supportModes",
        ValueKind::Typology => "typologies",
        ValueKind::Itinerance => "itinerance",
    }
}

fn path(field: &str) -> FieldPath {
    FieldPath::new(field)
}

// ---- The rules, one function each, on typed values. ----

/// A NUL character cannot be stored by PostgreSQL (SQLite would): refused on both backends alike.
fn no_nul(p: &mut FieldProblems, field: &FieldPath, value: &str) -> bool {
    if value.contains('\0') {
        p.push(
            field.clone(),
            Code::InvalidValue,
            format!("{field} contains a NUL character (U+0000), which Maillage does not store"),
        );
        return false;
    }
    true
}

/// Rule: a required text is not blank, has at most `max` characters, and no NUL.
pub fn check_required_text(
    p: &mut FieldProblems,
    field: FieldPath,
    value: &str,
    max: usize,
) -> bool {
    let count = value.trim().chars().count();
    if count == 0 {
        p.push(
            field.clone(),
            Code::InvalidValue,
            format!("{field} must not be blank"),
        );
        return false;
    }
    check_optional_text(p, field, Some(value), max)
}

/// Rule: an optional text, when given, is not blank (absent instead), has at most `max` characters, and no NUL.
pub fn check_optional_text(
    p: &mut FieldProblems,
    field: FieldPath,
    value: Option<&str>,
    max: usize,
) -> bool {
    let Some(value) = value else {
        return true;
    };
    let count = value.trim().chars().count();
    if count == 0 {
        p.push(
            field.clone(),
            Code::InvalidValue,
            format!("{field} must not be blank (leave it out instead)"),
        );
        return false;
    }
    if count > max {
        p.push(
            field.clone(),
            Code::InvalidValue,
            format!("{field} must have at most {max} characters (it has {count})"),
        );
        return false;
    }
    no_nul(p, &field, value)
}

/// Rule: the import source name is 1 to 64 letters, digits, `-`, `_` or `.` (it appears in URLs and file names).
pub fn check_source(p: &mut FieldProblems, field: FieldPath, source: &str) -> bool {
    let ok = !source.is_empty()
        && source.chars().count() <= limits::SOURCE
        && source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        p.push(
            field,
            Code::InvalidValue,
            format!(
                "invalid source name {source:?}: use 1 to {} letters, digits, '-', '_' or '.'",
                limits::SOURCE
            ),
        );
    }
    ok
}

/// Rule: the postal code is one of a French department (else the site is not a place Maillage can show, nor one a
/// hub's rights can cover).
pub fn check_postal_code(p: &mut FieldProblems, field: FieldPath, code: &PostalCode) -> bool {
    if code.department_code().is_some() {
        return true;
    }
    p.push(
        field,
        Code::InvalidValue,
        format!(
            "{:?} is the postal code of no French department (not a place Maillage can show)",
            code.as_str()
        ),
    );
    false
}

/// Rule: a stored phone is in the national standard's international form (`+33…`, or an overseas code).
pub fn check_phone(p: &mut FieldProblems, field: FieldPath, phone: Option<&str>) -> bool {
    match phone {
        Some(v) if !is_standard_phone(v) => {
            p.push(field, Code::InvalidValue, phone_message(v));
            false
        }
        _ => true,
    }
}

fn phone_message(raw: &str) -> String {
    let shown: String = raw.chars().take(60).collect();
    format!(
        "{shown:?} is not a phone number the standard accepts: give a French number, e.g. +33478000000 or \
         04 78 00 00 00"
    )
}

/// Rule: latitude (-90..90) and longitude (-180..180) are finite and go together. The problem is placed on the
/// coordinate at fault: a missing one, or one out of range.
pub fn check_coordinates(
    p: &mut FieldProblems,
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> bool {
    let in_range = |v: f64, limit: f64| v.is_finite() && v.abs() <= limit;
    let before = p.len();
    match (latitude, longitude) {
        (None, None) => {}
        (Some(_), None) => p.push(
            path("longitude"),
            Code::InvalidValue,
            "longitude is missing: latitude and longitude go together",
        ),
        (None, Some(_)) => p.push(
            path("latitude"),
            Code::InvalidValue,
            "latitude is missing: latitude and longitude go together",
        ),
        (Some(lat), Some(lon)) => {
            if !in_range(lat, 90.0) {
                p.push(
                    path("latitude"),
                    Code::InvalidValue,
                    format!("latitude must be between -90 and 90 (got {lat})"),
                );
            }
            if !in_range(lon, 180.0) {
                p.push(
                    path("longitude"),
                    Code::InvalidValue,
                    format!("longitude must be between -180 and 180 (got {lon})"),
                );
            }
        }
    }
    p.len() == before
}

/// Rule: a label of a multi-valued field is a value of the national standard v1.0.2 for that field.
pub fn check_label(p: &mut FieldProblems, kind: ValueKind, index: usize, label: &str) -> bool {
    if is_v1_label(kind, label) {
        return true;
    }
    let name = values_field(kind);
    let shown: String = label.chars().take(60).collect();
    p.push(
        FieldPath::new("values").push(name).index(index),
        Code::UnknownValue,
        format!("{shown:?} is not a value of the national standard v1.0.2 for {name}"),
    );
    false
}

impl NewSite {
    /// Every input rule this site breaks (empty when it may be stored), with paths as in [`SiteDraft`].
    pub fn problems(&self) -> FieldProblems {
        let mut p = FieldProblems::new();
        check_required_text(&mut p, path("sourceId"), &self.source_id, limits::SOURCE_ID);
        check_required_text(&mut p, path("name"), &self.name, limits::NAME);
        check_required_text(&mut p, path("commune"), &self.commune, limits::COMMUNE);
        check_postal_code(&mut p, path("postalCode"), &self.postal_code);
        check_required_text(&mut p, path("address"), &self.address, limits::ADDRESS);
        let optional = [
            (
                "addressComplement",
                &self.address_complement,
                limits::ADDRESS_COMPLEMENT,
            ),
            ("banKey", &self.ban_key, limits::BAN_KEY),
            ("website", &self.website, limits::WEBSITE),
            ("openingHours", &self.opening_hours, limits::OPENING_HOURS),
            ("summary", &self.summary, limits::SUMMARY),
            ("description", &self.description, limits::DESCRIPTION),
            ("sourceLabel", &self.source_label, limits::SOURCE_LABEL),
            (
                "parentStructure",
                &self.parent_structure,
                limits::PARENT_STRUCTURE,
            ),
            ("otherLabels", &self.other_labels, limits::OTHER_LABELS),
            (
                "accessibilityUrl",
                &self.accessibility_url,
                limits::ACCESSIBILITY_URL,
            ),
            ("bookingUrl", &self.booking_url, limits::BOOKING_URL),
        ];
        for (field, value, max) in optional {
            check_optional_text(&mut p, path(field), value.as_deref(), max);
        }
        check_coordinates(&mut p, self.latitude, self.longitude);
        check_phone(&mut p, path("phone"), self.phone.as_deref());
        for kind in ValueKind::ALL {
            let labels = self.values.iter().filter(|v| v.kind == kind);
            for (i, v) in labels.enumerate() {
                // A raw value without a label is kept on purpose (a later mapping may translate it).
                if let Some(label) = v.value.as_deref() {
                    check_label(&mut p, kind, i, label);
                }
            }
        }
        p
    }
}

impl SitePatch {
    /// Every input rule the fields this patch sets break, with paths as in [`SitePatchDraft`]. Fields it leaves
    /// alone are not judged: a site stored before a rule existed can still be edited elsewhere.
    pub fn problems(&self) -> FieldProblems {
        let mut p = FieldProblems::new();
        let required = [
            ("name", &self.name, limits::NAME),
            ("commune", &self.commune, limits::COMMUNE),
            ("address", &self.address, limits::ADDRESS),
        ];
        for (field, value, max) in required {
            if let Some(v) = value {
                check_required_text(&mut p, path(field), v, max);
            }
        }
        if let Some(code) = &self.postal_code {
            check_postal_code(&mut p, path("postalCode"), code);
        }
        let optional = [
            (
                "addressComplement",
                &self.address_complement,
                limits::ADDRESS_COMPLEMENT,
            ),
            ("website", &self.website, limits::WEBSITE),
            ("openingHours", &self.opening_hours, limits::OPENING_HOURS),
            ("summary", &self.summary, limits::SUMMARY),
            ("description", &self.description, limits::DESCRIPTION),
        ];
        for (field, value, max) in optional {
            if let Some(v) = value {
                check_optional_text(&mut p, path(field), v.as_deref(), max);
            }
        }
        if let Some(Some((lat, lon))) = self.coordinates {
            check_coordinates(&mut p, Some(lat), Some(lon));
        }
        if let Some(phone) = &self.phone {
            check_phone(&mut p, path("phone"), phone.as_deref());
        }
        for (kind, labels) in &self.values {
            for (i, label) in labels.iter().enumerate() {
                check_label(&mut p, *kind, i, label);
            }
        }
        p
    }
}

// ---- Drafts: text as typed, turned into typed values, then judged by the rules above. ----

/// A new site as a caller typed it (the API's `createSite` input, a CLI's arguments).
#[derive(Debug, Clone, Default)]
pub struct SiteDraft {
    /// Identifier within the source.
    pub source_id: String,
    /// SIRET, RNA or RIDET (default: the placeholder).
    pub pivot: Option<String>,
    /// Name.
    pub name: String,
    /// Commune.
    pub commune: String,
    /// Postal code.
    pub postal_code: String,
    /// INSEE commune code (blank: absent).
    pub insee_code: Option<String>,
    /// Street address.
    pub address: String,
    /// Address complement.
    pub address_complement: Option<String>,
    /// Latitude (WGS84), with `longitude`.
    pub latitude: Option<f64>,
    /// Longitude (WGS84), with `latitude`.
    pub longitude: Option<f64>,
    /// Phone, in any usual French layout (`04 78 00 00 00`, `04.78.00.00.00`, `+33 4 78…`).
    pub phone: Option<String>,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// Website.
    pub website: Option<String>,
    /// Opening hours.
    pub opening_hours: Option<String>,
    /// Short presentation.
    pub summary: Option<String>,
    /// Detailed presentation.
    pub description: Option<String>,
    /// Date of the information (default: today).
    pub updated_on: Option<NaiveDate>,
    /// Multi-valued fields, v1.0.2 labels, field by field.
    pub values: Vec<(ValueKind, Vec<String>)>,
}

/// Changes to a site as a caller typed them: `None` leaves a field, `Some(None)` (or a blank text) clears it.
#[derive(Debug, Clone, Default)]
pub struct SitePatchDraft {
    /// New name.
    pub name: Option<String>,
    /// New commune.
    pub commune: Option<String>,
    /// New postal code.
    pub postal_code: Option<String>,
    /// New INSEE code, or cleared.
    pub insee_code: Option<Option<String>>,
    /// New address.
    pub address: Option<String>,
    /// New address complement, or cleared.
    pub address_complement: Option<Option<String>>,
    /// New latitude, or cleared (with `longitude`).
    pub latitude: Option<Option<f64>>,
    /// New longitude, or cleared (with `latitude`).
    pub longitude: Option<Option<f64>>,
    /// New phone, or cleared.
    pub phone: Option<Option<String>>,
    /// New e-mail list.
    pub emails: Option<Vec<String>>,
    /// New website, or cleared.
    pub website: Option<Option<String>>,
    /// New opening hours, or cleared.
    pub opening_hours: Option<Option<String>>,
    /// New summary, or cleared.
    pub summary: Option<Option<String>>,
    /// New description, or cleared.
    pub description: Option<Option<String>>,
    /// Date of the information (default: today).
    pub updated_on: Option<NaiveDate>,
    /// New values of whole multi-valued fields, field by field.
    pub values: Vec<(ValueKind, Vec<String>)>,
}

/// Trimmed, blank as absent.
fn trimmed(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn required(p: &mut FieldProblems, field: &str, value: &str, max: usize) -> Option<String> {
    check_required_text(p, path(field), value, max).then(|| value.trim().to_owned())
}

fn optional(p: &mut FieldProblems, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let v = trimmed(value)?;
    check_optional_text(p, path(field), Some(v), max).then(|| v.to_owned())
}

fn postal_code(p: &mut FieldProblems, raw: &str) -> Option<PostalCode> {
    let code = p.parse(path("postalCode"), PostalCode::parse(raw.trim()))?;
    check_postal_code(p, path("postalCode"), &code).then_some(code)
}

fn insee_code(p: &mut FieldProblems, raw: Option<&str>) -> Option<InseeCode> {
    p.parse(path("inseeCode"), InseeCode::parse(trimmed(raw)?))
}

/// The lenient normaliser imports use, so that the API accepts the usual layouts of a French number too.
fn phone(p: &mut FieldProblems, raw: Option<&str>) -> Option<String> {
    let raw = trimmed(raw)?;
    let phone = normalise_phone(raw);
    if phone.is_none() {
        p.push(path("phone"), Code::InvalidValue, phone_message(raw));
    }
    phone
}

/// Every address parsed, duplicates merged; a broken one is a problem at its index.
fn emails(p: &mut FieldProblems, raw: &[String]) -> Vec<Email> {
    let mut out: Vec<Email> = Vec::new();
    for (i, e) in raw.iter().enumerate() {
        if let Some(email) = p.parse(FieldPath::new("emails").index(i), Email::parse(e.trim()))
            && !out.contains(&email)
        {
            out.push(email);
        }
    }
    out
}

/// Labels field by field, each checked, duplicates merged.
fn labels(
    p: &mut FieldProblems,
    values: Vec<(ValueKind, Vec<String>)>,
) -> Vec<(ValueKind, Vec<String>)> {
    values
        .into_iter()
        .map(|(kind, labels)| {
            let mut out: Vec<String> = Vec::new();
            for (i, label) in labels.into_iter().enumerate() {
                if check_label(p, kind, i, &label) && !out.contains(&label) {
                    out.push(label);
                }
            }
            (kind, out)
        })
        .collect()
}

fn coordinates(
    p: &mut FieldProblems,
    latitude: Option<f64>,
    longitude: Option<f64>,
) -> Option<(f64, f64)> {
    if !check_coordinates(p, latitude, longitude) {
        return None;
    }
    latitude.zip(longitude)
}

fn tagged(values: Vec<(ValueKind, Vec<String>)>) -> Vec<TaggedValue> {
    values
        .into_iter()
        .flat_map(|(kind, labels)| {
            labels.into_iter().map(move |label| TaggedValue {
                kind,
                value: Some(label.clone()),
                raw: label,
            })
        })
        .collect()
}

impl TryFrom<SiteDraft> for NewSite {
    type Error = FieldProblems;

    fn try_from(d: SiteDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        let source_id = required(&mut p, "sourceId", &d.source_id, limits::SOURCE_ID);
        let pivot = match trimmed(d.pivot.as_deref()) {
            Some(raw) => p.parse(path("pivot"), Pivot::parse(raw)),
            None => Some(Pivot::placeholder()),
        };
        let name = required(&mut p, "name", &d.name, limits::NAME);
        let commune = required(&mut p, "commune", &d.commune, limits::COMMUNE);
        let postal_code = postal_code(&mut p, &d.postal_code);
        let insee_code = insee_code(&mut p, d.insee_code.as_deref());
        let address = required(&mut p, "address", &d.address, limits::ADDRESS);
        let address_complement = optional(
            &mut p,
            "addressComplement",
            d.address_complement.as_deref(),
            limits::ADDRESS_COMPLEMENT,
        );
        let coordinates = coordinates(&mut p, d.latitude, d.longitude);
        let phone = phone(&mut p, d.phone.as_deref());
        let emails = emails(&mut p, &d.emails);
        let website = optional(&mut p, "website", d.website.as_deref(), limits::WEBSITE);
        let opening_hours = optional(
            &mut p,
            "openingHours",
            d.opening_hours.as_deref(),
            limits::OPENING_HOURS,
        );
        let summary = optional(&mut p, "summary", d.summary.as_deref(), limits::SUMMARY);
        let description = optional(
            &mut p,
            "description",
            d.description.as_deref(),
            limits::DESCRIPTION,
        );
        let values = labels(&mut p, d.values);
        p.finish(|| {
            Some(NewSite {
                source_id: source_id?,
                standard_version: StandardVersion::V1_0,
                pivot: pivot?,
                name: name?,
                commune: commune?,
                postal_code: postal_code?,
                insee_code,
                address: address?,
                address_complement,
                latitude: coordinates.map(|c| c.0),
                longitude: coordinates.map(|c| c.1),
                ban_key: None,
                phone,
                emails,
                website,
                opening_hours,
                summary,
                description,
                source_label: None,
                parent_structure: None,
                updated_on: d
                    .updated_on
                    .unwrap_or_else(|| chrono::Utc::now().date_naive()),
                values: tagged(values),
                other_labels: None,
                accessibility_url: None,
                booking_url: None,
            })
        })
    }
}

/// An optional text of a patch: absent leaves it, `null` or blank clears it.
fn patch_text(
    p: &mut FieldProblems,
    field: &str,
    value: Option<Option<String>>,
    max: usize,
) -> Option<Option<String>> {
    value.map(|v| optional(p, field, v.as_deref(), max))
}

impl TryFrom<SitePatchDraft> for SitePatch {
    type Error = FieldProblems;

    fn try_from(d: SitePatchDraft) -> Result<Self, FieldProblems> {
        let mut p = FieldProblems::new();
        // A `None` from a rule means a problem was recorded; `finish` then refuses the whole patch.
        let name = d.name.map(|v| required(&mut p, "name", &v, limits::NAME));
        let commune = d
            .commune
            .map(|v| required(&mut p, "commune", &v, limits::COMMUNE));
        let address = d
            .address
            .map(|v| required(&mut p, "address", &v, limits::ADDRESS));
        let postal_code = d.postal_code.map(|v| postal_code(&mut p, &v));
        let insee_code = d.insee_code.map(|v| insee_code(&mut p, v.as_deref()));
        let address_complement = patch_text(
            &mut p,
            "addressComplement",
            d.address_complement,
            limits::ADDRESS_COMPLEMENT,
        );
        let coordinates = match (d.latitude, d.longitude) {
            (None, None) => None,
            (lat, lon) => Some(coordinates(&mut p, lat.flatten(), lon.flatten())),
        };
        let phone = d.phone.map(|v| phone(&mut p, v.as_deref()));
        let emails = d.emails.map(|v| emails(&mut p, &v));
        let website = patch_text(&mut p, "website", d.website, limits::WEBSITE);
        let opening_hours = patch_text(
            &mut p,
            "openingHours",
            d.opening_hours,
            limits::OPENING_HOURS,
        );
        let summary = patch_text(&mut p, "summary", d.summary, limits::SUMMARY);
        let description = patch_text(&mut p, "description", d.description, limits::DESCRIPTION);
        let values = labels(&mut p, d.values);
        p.finish(|| {
            Some(SitePatch {
                name: name.map(|v| v.unwrap_or_default()),
                commune: commune.map(|v| v.unwrap_or_default()),
                postal_code: postal_code.flatten(),
                insee_code,
                address: address.map(|v| v.unwrap_or_default()),
                address_complement,
                coordinates,
                phone,
                emails,
                website,
                opening_hours,
                summary,
                description,
                updated_on: d.updated_on,
                values,
            })
        })
    }
}

/// The rule of a plain text field, by the name it is stored under (`opening_hours`): whether it is required, and
/// its longest value. `None` for the other fields (the phone has a rule of its own).
fn text_rule(field: &str) -> Option<(bool, usize)> {
    Some(match field {
        "name" => (true, limits::NAME),
        "commune" => (true, limits::COMMUNE),
        "address" => (true, limits::ADDRESS),
        "address_complement" => (false, limits::ADDRESS_COMPLEMENT),
        "ban_key" => (false, limits::BAN_KEY),
        "website" => (false, limits::WEBSITE),
        "opening_hours" => (false, limits::OPENING_HOURS),
        "summary" => (false, limits::SUMMARY),
        "description" => (false, limits::DESCRIPTION),
        "source_label" => (false, limits::SOURCE_LABEL),
        "parent_structure" => (false, limits::PARENT_STRUCTURE),
        "other_labels" => (false, limits::OTHER_LABELS),
        "accessibility_url" => (false, limits::ACCESSIBILITY_URL),
        "booking_url" => (false, limits::BOOKING_URL),
        _ => return None,
    })
}

/// One text field of a site given on its own, named as it is stored (`opening_hours`), parsed the way
/// [`SiteDraft`] parses it: trimmed, blank as absent (`Ok(None)`; a problem for a required field), within its
/// limit, no NUL, the phone brought to its international form. Problems are placed at `at`; a name that is no
/// text field of a site is an `unknown_value` problem.
///
/// Deduplication uses it for a coordinator's choice on a canonical site and for the members' stored values the
/// canonical site may take, so that neither can break a rule the site's other ways in obey.
pub fn parse_field_text(
    field: &str,
    at: FieldPath,
    raw: &str,
) -> Result<Option<String>, FieldProblems> {
    let mut p = FieldProblems::new();
    let value = if field == "phone" {
        trimmed(Some(raw)).and_then(|v| {
            let phone = normalise_phone(v);
            if phone.is_none() {
                p.push(at, Code::InvalidValue, phone_message(v));
            }
            phone
        })
    } else if let Some((required, max)) = text_rule(field) {
        let v = raw.trim();
        if required {
            check_required_text(&mut p, at, v, max).then(|| v.to_owned())
        } else if v.is_empty() {
            None
        } else {
            check_optional_text(&mut p, at, Some(v), max).then(|| v.to_owned())
        }
    } else {
        p.push(
            at,
            Code::UnknownValue,
            format!("{field:?} is not a text field of a site"),
        );
        None
    };
    if p.is_empty() { Ok(value) } else { Err(p) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use maillage_core::ErrorCode;

    fn draft() -> SiteDraft {
        SiteDraft {
            source_id: " s1 ".into(),
            name: "Médiathèque".into(),
            commune: "Lyon".into(),
            postal_code: "69001".into(),
            address: "1 rue de la République".into(),
            ..SiteDraft::default()
        }
    }

    fn fields(p: &FieldProblems) -> Vec<String> {
        p.iter().map(|x| x.field.to_string()).collect()
    }

    #[test]
    fn a_good_draft_becomes_a_site_that_breaks_no_rule() {
        let mut d = draft();
        d.phone = Some("04 78.00 00 00".into());
        d.emails = vec!["a@b.fr".into(), " a@b.fr ".into()];
        d.latitude = Some(45.76);
        d.longitude = Some(4.83);
        d.summary = Some("   ".into());
        d.values = vec![(
            ValueKind::Service,
            vec![
                "Aide aux démarches administratives".into(),
                "Aide aux démarches administratives".into(),
            ],
        )];
        let site = NewSite::try_from(d).unwrap();
        assert_eq!(site.source_id, "s1");
        assert_eq!(site.phone.as_deref(), Some("+33478000000"));
        assert_eq!(site.emails.len(), 1);
        assert_eq!(site.summary, None);
        assert_eq!(site.values.len(), 1);
        assert!(site.problems().is_empty(), "{}", site.problems());
    }

    #[test]
    fn every_broken_rule_of_a_draft_is_reported_at_once() {
        let d = SiteDraft {
            source_id: "x".repeat(limits::SOURCE_ID + 1),
            pivot: Some("123".into()),
            name: "  ".into(),
            commune: "c".repeat(limits::COMMUNE + 1),
            postal_code: "98000".into(),
            insee_code: Some("ABCDE".into()),
            address: "a\0b".into(),
            address_complement: Some("c".repeat(limits::ADDRESS_COMPLEMENT + 1)),
            latitude: Some(91.0),
            longitude: Some(200.0),
            phone: Some("12".into()),
            emails: vec!["ok@x.fr".into(), "nope".into()],
            website: Some("w".repeat(limits::WEBSITE + 1)),
            opening_hours: Some("h".repeat(limits::OPENING_HOURS + 1)),
            summary: Some("s".repeat(limits::SUMMARY + 1)),
            description: Some("d".repeat(limits::DESCRIPTION + 1)),
            updated_on: None,
            values: vec![
                (
                    ValueKind::Service,
                    vec![
                        "Aide aux démarches administratives".into(),
                        "Jardinage".into(),
                    ],
                ),
                (ValueKind::Fee, vec!["Cher".into()]),
            ],
        };
        let p = NewSite::try_from(d).unwrap_err();
        assert_eq!(
            fields(&p),
            [
                "sourceId",
                "pivot",
                "name",
                "commune",
                "postalCode",
                "inseeCode",
                "address",
                "addressComplement",
                "latitude",
                "longitude",
                "phone",
                "emails[1]",
                "website",
                "openingHours",
                "summary",
                "description",
                "values.services[1]",
                "values.fees[0]",
            ]
        );
        let codes: Vec<Code> = p.iter().map(|x| x.code).collect();
        assert_eq!(codes[codes.len() - 1], Code::UnknownValue);
        assert!(p.is_user_error());
        assert!(p.to_string().contains("no French department"), "{p}");
        assert!(p.to_string().contains("NUL"), "{p}");
    }

    #[test]
    fn lone_coordinates_are_reported_on_the_missing_one() {
        let mut d = draft();
        d.latitude = Some(45.0);
        assert_eq!(fields(&NewSite::try_from(d).unwrap_err()), ["longitude"]);
        let mut d = draft();
        d.longitude = Some(4.0);
        assert_eq!(fields(&NewSite::try_from(d).unwrap_err()), ["latitude"]);
        let mut d = draft();
        d.latitude = Some(f64::NAN);
        d.longitude = Some(4.0);
        assert_eq!(fields(&NewSite::try_from(d).unwrap_err()), ["latitude"]);
    }

    #[test]
    fn phones_in_usual_french_layouts_are_normalised() {
        for (raw, want) in [
            ("04 78 00 00 00", "+33478000000"),
            ("04.78.00.00.00", "+33478000000"),
            ("+33 4 78 00 00 00", "+33478000000"),
            ("0590 12 34 56", "+590590123456"),
        ] {
            let mut d = draft();
            d.phone = Some(raw.into());
            let site = NewSite::try_from(d).unwrap();
            assert_eq!(site.phone.as_deref(), Some(want), "{raw}");
        }
    }

    #[test]
    fn a_site_built_by_hand_is_judged_by_the_same_rules() {
        let mut site = NewSite::try_from(draft()).unwrap();
        site.name = "n".repeat(limits::NAME + 1);
        site.phone = Some("0478000000".into());
        site.latitude = Some(45.0);
        site.emails = Vec::new();
        site.values.push(TaggedValue {
            kind: ValueKind::Service,
            value: Some("Jardinage".into()),
            raw: "Jardinage".into(),
        });
        // A raw value without a label is kept on purpose: no rule applies.
        site.values.push(TaggedValue {
            kind: ValueKind::Service,
            value: None,
            raw: "Jardinage".into(),
        });
        site.booking_url = Some(" ".into());
        assert_eq!(
            fields(&site.problems()),
            [
                "name",
                "bookingUrl",
                "longitude",
                "phone",
                "values.services[0]"
            ]
        );
    }

    #[test]
    fn a_patch_draft_judges_only_what_it_sets() {
        let patch = SitePatch::try_from(SitePatchDraft {
            summary: Some(Some("  ".into())),
            phone: Some(None),
            latitude: Some(None),
            longitude: Some(None),
            ..SitePatchDraft::default()
        })
        .unwrap();
        assert_eq!(patch.summary, Some(None));
        assert_eq!(patch.phone, Some(None));
        assert_eq!(patch.coordinates, Some(None));
        assert!(patch.problems().is_empty());

        let p = SitePatch::try_from(SitePatchDraft {
            name: Some(String::new()),
            postal_code: Some("1".into()),
            latitude: Some(Some(45.0)),
            phone: Some(Some("abc".into())),
            emails: Some(vec!["x".into()]),
            description: Some(Some("d".repeat(limits::DESCRIPTION + 1))),
            values: vec![(ValueKind::AccessMode, vec!["Sur un nuage".into()])],
            ..SitePatchDraft::default()
        })
        .unwrap_err();
        assert_eq!(
            fields(&p),
            [
                "name",
                "postalCode",
                "longitude",
                "phone",
                "emails[0]",
                "description",
                "values.accessModes[0]"
            ]
        );

        let built = SitePatch {
            phone: Some(Some("+1 555".into())),
            coordinates: Some(Some((0.0, 500.0))),
            postal_code: Some(PostalCode::parse("98000").unwrap()),
            ..SitePatch::default()
        };
        assert_eq!(
            fields(&built.problems()),
            ["postalCode", "longitude", "phone"]
        );
    }

    #[test]
    fn source_names_are_checked_once() {
        for bad in ["", "hub du sud", "../etc", &"x".repeat(limits::SOURCE + 1)] {
            let mut p = FieldProblems::new();
            assert!(!check_source(&mut p, path("source"), bad), "{bad:?}");
        }
        let mut p = FieldProblems::new();
        assert!(check_source(&mut p, path("source"), "hub-du_sud.v2"));
        assert!(p.is_empty());
    }

    #[test]
    fn one_field_given_on_its_own_obeys_the_same_rules() {
        let at = || path("value");
        let ok = |field: &str, raw: &str| parse_field_text(field, at(), raw).unwrap();
        assert_eq!(
            ok("phone", " 04 78 00 00 00 ").as_deref(),
            Some("+33478000000")
        );
        assert_eq!(ok("summary", "  "), None);
        assert_eq!(ok("name", " Médiathèque ").as_deref(), Some("Médiathèque"));
        for (field, raw) in [
            ("phone", "12".to_owned()),
            ("name", " ".to_owned()),
            ("name", "n".repeat(limits::NAME + 1)),
            ("website", "a\0b".to_owned()),
            ("latitude", "45".to_owned()),
        ] {
            let p = parse_field_text(field, at(), &raw).unwrap_err();
            assert_eq!(fields(&p), ["value"], "{field} {raw:?}");
        }
    }
}
