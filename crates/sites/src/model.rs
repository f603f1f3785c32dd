//! The normalised site, as stored whatever the standard version of its source.

use chrono::NaiveDate;
use maillage_core::{DepartmentCode, Email, InseeCode, Pivot, PostalCode};
use std::fmt;

/// Version of the national standard "lieux de médiation numérique" a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StandardVersion {
    /// v0.1.1: 15 services, `publics_accueillis`, `conditions_acces`, `labels_nationaux`, multi-values split by `;`.
    V0_1,
    /// v1.0.2: 9 services, `publics_specifiquement_adresses`, `frais_a_charge`, …, multi-values split by `|`.
    V1_0,
}

impl StandardVersion {
    /// The version label stored with each site (`0.1.1` or `1.0.2`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1 => "0.1.1",
            Self::V1_0 => "1.0.2",
        }
    }

    /// Parses `0.1`, `0.1.1`, `v0.1`, `1`, `1.0`, `1.0.2`, `v1`…
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim().trim_start_matches(['v', 'V']);
        match s {
            "0.1" | "0.1.0" | "0.1.1" => Some(Self::V0_1),
            "1" | "1.0" | "1.0.0" | "1.0.1" | "1.0.2" => Some(Self::V1_0),
            _ => None,
        }
    }

    /// The separator of multi-valued fields in this version.
    pub fn separator(self) -> char {
        match self {
            Self::V0_1 => ';',
            Self::V1_0 => '|',
        }
    }
}

impl fmt::Display for StandardVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The multi-valued fields of a site, named after their v1.0.2 meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueKind {
    /// `services`.
    Service,
    /// `publics_specifiquement_adresses` (v1) / part of `publics_accueillis` (v0.1).
    Public,
    /// `prise_en_charge_specifique` (v1) / part of `publics_accueillis` (v0.1).
    SpecificSupport,
    /// `frais_a_charge` (v1) / `conditions_acces` (v0.1).
    Fee,
    /// `dispositif_programmes_nationaux` (v1) / part of `labels_nationaux` (v0.1).
    NationalProgramme,
    /// `formations_labels` (v1) / part of `labels_nationaux` (v0.1).
    TrainingLabel,
    /// `modalites_acces` (v1 only).
    AccessMode,
    /// `modalites_accompagnement`.
    SupportMode,
    /// `typologie`.
    Typology,
    /// `itinerance` (v1 only).
    Itinerance,
}

impl ValueKind {
    /// Every kind, in export order.
    pub const ALL: [ValueKind; 10] = [
        Self::Service,
        Self::Public,
        Self::SpecificSupport,
        Self::Fee,
        Self::NationalProgramme,
        Self::TrainingLabel,
        Self::AccessMode,
        Self::SupportMode,
        Self::Typology,
        Self::Itinerance,
    ];

    /// The key stored in the database (`site_value.kind`); frozen, since rows carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Public => "public",
            Self::SpecificSupport => "specific_support",
            Self::Fee => "fee",
            Self::NationalProgramme => "national_programme",
            Self::TrainingLabel => "training_label",
            Self::AccessMode => "access_mode",
            Self::SupportMode => "support_mode",
            Self::Typology => "typology",
            Self::Itinerance => "itinerance",
        }
    }

    /// Inverse of [`ValueKind::as_str`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == key)
    }
}

/// One value of a multi-valued field: the source's raw text, and its v1.0.2 label when it maps to one.
///
/// Unmapped values are kept (`value: None`) rather than dropped: a later mapping can use them, and a hub can see
/// what its source said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaggedValue {
    /// Which field.
    pub kind: ValueKind,
    /// The v1.0.2 label, if the raw value maps to one.
    pub value: Option<String>,
    /// The value exactly as the source wrote it.
    pub raw: String,
}

/// A site as read from a source, normalised, before it is stored. Its identity is (source, `source_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSite {
    /// The row's `id` in its source (unique within the source only).
    pub source_id: String,
    /// The standard version of the file it came from.
    pub standard_version: StandardVersion,
    /// SIRET / RNA / RIDET of the structure, or the placeholder.
    pub pivot: Pivot,
    /// `nom`.
    pub name: String,
    /// `commune`, as written by the source.
    pub commune: String,
    /// `code_postal`.
    pub postal_code: PostalCode,
    /// `code_insee`, when given and valid.
    pub insee_code: Option<InseeCode>,
    /// `adresse`.
    pub address: String,
    /// `complement_adresse`.
    pub address_complement: Option<String>,
    /// `latitude` (WGS84), set together with `longitude` or not at all.
    pub latitude: Option<f64>,
    /// `longitude` (WGS84).
    pub longitude: Option<f64>,
    /// `cle_ban` (v0.1 only): the address key in the Base Adresse Nationale.
    pub ban_key: Option<String>,
    /// `telephone`, in the standard's international form (`+33…`).
    pub phone: Option<String>,
    /// `courriel` (v0.1) / `courriels` (v1). May be a person's address: personal data for visibility purposes.
    pub emails: Vec<Email>,
    /// `site_web` (v1 allows several, `|`-separated; kept as written).
    pub website: Option<String>,
    /// `horaires`, as written (OpenStreetMap opening_hours syntax, not always valid).
    pub opening_hours: Option<String>,
    /// `presentation_resume`.
    pub summary: Option<String>,
    /// `presentation_detail`.
    pub description: Option<String>,
    /// The row's own `source` column (e.g. `conseiller-numerique`), distinct from the import's source name.
    pub source_label: Option<String>,
    /// `structure_parente`.
    pub parent_structure: Option<String>,
    /// `date_maj`.
    pub updated_on: NaiveDate,
    /// Every multi-valued field, in source order.
    pub values: Vec<TaggedValue>,
    /// `labels_autres` (v0.1) / `autres_formations_labels` (v1): free text.
    pub other_labels: Option<String>,
    /// `accessibilite` (v0.1) / `fiche_acces_libre` (v1): an acceslibre URL.
    pub accessibility_url: Option<String>,
    /// `prise_rdv`: booking URL.
    pub booking_url: Option<String>,
}

impl NewSite {
    /// The department of the site: from `code_insee` when known (exact), else from the postal code (a few border
    /// communes are misplaced by their postal code).
    pub fn department_code(&self) -> Option<DepartmentCode> {
        self.insee_code
            .as_ref()
            .and_then(InseeCode::department_code)
            .or_else(|| self.postal_code.department_code())
    }

    /// The v1.0.2 labels of one field, deduplicated, in source order.
    pub fn mapped_values(&self, kind: ValueKind) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for v in self.values.iter().filter(|v| v.kind == kind) {
            if let Some(value) = v.value.as_deref()
                && !out.contains(&value)
            {
                out.push(value);
            }
        }
        out
    }
}
