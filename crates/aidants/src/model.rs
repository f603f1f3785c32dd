//! The public domain types of Aidants Connect, parsed once: a value of these types is valid.

use chrono::{Datelike, NaiveDate};
use maillage_core::error::InvalidValue;
use maillage_core::{Actor, DepartmentCode, Email, HubId, Siret, SiteId};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub i32);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// Identifier of an Aidants Connect organisation (a structure whose aidants act under mandates).
    OrganisationId
);
int_id!(
    /// Identifier of an aidant.
    AidantId
);
int_id!(
    /// Identifier of a conseiller numérique in the counsellors domain, kept opaque here.
    ///
    /// This crate must not depend on another domain: it stores the id as given and never checks or resolves it;
    /// the GraphQL layer resolves it through the counsellors domain.
    CounsellorRef
);

/// Generates a closed vocabulary with its stable stored code, parsed from the code (or a few accepted spellings).
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident, $what:literal, $hint:literal { $($(#[$vdoc:meta])* $variant:ident = $code:literal $(| $alias:literal)*,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The stable code stored in the database and written in CSV files.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }

            /// Parses a code (case-insensitive, surrounding spaces ignored).
            pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
                let folded = maillage_core::text::fold(raw.trim()).replace([' ', '-'], "_");
                match folded.as_str() {
                    $($code $(| $alias)* => Ok(Self::$variant),)+
                    _ => Err(InvalidValue::new($what, $hint, raw)),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// The kind of structure an organisation is (who may host aidants habilités).
    OrganisationKind, "organisation type",
    "expected commune, epci, departement, region, service_public, association, entreprise or autre" {
        /// A commune (mairie: secrétaires de mairie are typical aidants).
        Commune = "commune",
        /// An inter-municipal body.
        Epci = "epci",
        /// A département (social services).
        Departement = "departement",
        /// A région.
        Region = "region",
        /// Another public operator (CCAS, CAF, France Travail…).
        ServicePublic = "service_public" | "public",
        /// An association or another ESS structure.
        Association = "association",
        /// A company.
        Entreprise = "entreprise" | "societe",
        /// Anything else.
        Autre = "autre",
    }
);

vocabulary!(
    /// Where an aidant stands in the habilitation process; each step has its own date.
    AidantStatus, "aidant status", "expected requested, trained, authorised or revoked" {
        /// Habilitation requested by the organisation.
        Requested = "requested" | "demande",
        /// Trained, not yet authorised.
        Trained = "trained" | "forme",
        /// Authorised (habilité): may create mandates.
        Authorised = "authorised" | "authorized" | "habilite",
        /// Authorisation withdrawn.
        Revoked = "revoked" | "revoque",
    }
);

vocabulary!(
    /// The démarches a mandate may cover, as Aidants Connect lists them.
    Demarche, "démarche",
    "expected papiers, famille, social, travail, logement, transports, argent, justice, etranger or loisirs" {
        /// Identity papers, civil status.
        Papiers = "papiers",
        /// Family.
        Famille = "famille",
        /// Social benefits and health.
        Social = "social",
        /// Work.
        Travail = "travail",
        /// Housing.
        Logement = "logement",
        /// Transport.
        Transports = "transports",
        /// Money: taxes, banking.
        Argent = "argent",
        /// Justice.
        Justice = "justice",
        /// Foreigners in France.
        Etranger = "etranger",
        /// Leisure.
        Loisirs = "loisirs",
    }
);

vocabulary!(
    /// How long a mandate lasts: one day (short) and one year (long) at launch, one and six months later.
    MandateDuration, "mandate duration", "expected 1d, 1m, 6m or 1y" {
        /// One day.
        OneDay = "1d" | "1j" | "1_jour" | "jour",
        /// One month.
        OneMonth = "1m" | "1_mois" | "mois",
        /// Six months.
        SixMonths = "6m" | "6_mois",
        /// One year.
        OneYear = "1y" | "1a" | "1_an" | "an",
    }
);

/// A calendar month, the grain of mandate aggregates; stored as `YYYY-MM`, which sorts like the months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// Parses `YYYY-MM` (years 2000–2100: Aidants Connect started in 2019, anything else is a typo).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let bad = || InvalidValue::new("month", "expected YYYY-MM, e.g. 2021-03", raw);
        let (y, m) = raw.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(2000..=2100).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Self { year, month })
    }

    /// The month containing `date`.
    pub fn of(date: NaiveDate) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The stored and displayed form, `YYYY-MM`.
    pub fn as_string(self) -> String {
        format!("{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Database id.
    pub id: OrganisationId,
    /// Its content.
    pub data: NewOrganisation,
    /// Whether it is active (an inactive organisation keeps its history but has no current activity).
    pub active: bool,
    /// Optimistic-locking version, bumped by each change.
    pub version: i32,
    /// When Maillage last wrote it (server clock), for incremental sync.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The content of an organisation, as given by an import or a mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrganisation {
    /// Name of the structure.
    pub name: String,
    /// Its SIRET: the identity of an organisation across imports.
    pub siret: Siret,
    /// What kind of structure it is.
    pub kind: OrganisationKind,
    /// Street address.
    pub address: String,
    /// Postal code, when known.
    pub postal_code: Option<String>,
    /// Commune, when known.
    pub commune: Option<String>,
    /// The department it is located in: decides who may edit it and where it is counted.
    pub department: DepartmentCode,
    /// Whether it holds the France Services label.
    pub france_services: bool,
    /// The lieu de médiation numérique it runs, when it runs one (resolved by the GraphQL layer).
    pub site: Option<SiteId>,
}

/// A change to an organisation: `None` leaves a field as it is; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct OrganisationPatch {
    /// New name.
    pub name: Option<String>,
    /// New type.
    pub kind: Option<OrganisationKind>,
    /// New address.
    pub address: Option<String>,
    /// New postal code, or cleared.
    pub postal_code: Option<Option<String>>,
    /// New commune, or cleared.
    pub commune: Option<Option<String>>,
    /// New department (the caller must be allowed in both).
    pub department: Option<DepartmentCode>,
    /// New France Services label.
    pub france_services: Option<bool>,
    /// Active or not.
    pub active: Option<bool>,
    /// New site link, or cleared.
    pub site: Option<Option<SiteId>>,
}

/// The personal data of an aidant: visible only to roles that may read personal data where the aidant works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AidantPerson {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail address: the identity of an aidant across imports.
    pub email: Email,
    /// Profession (secrétaire de mairie, travailleur social…).
    pub profession: Option<String>,
}

/// The content of an aidant, as given by an import or a mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAidant {
    /// Personal data.
    pub person: AidantPerson,
    /// The organisations the aidant works for (at least one), sorted.
    pub organisations: Vec<OrganisationId>,
    /// Current status.
    pub status: AidantStatus,
    /// When the habilitation was requested.
    pub requested_on: Option<NaiveDate>,
    /// When the aidant was trained.
    pub trained_on: Option<NaiveDate>,
    /// The hub that trained the aidant.
    pub training_hub: Option<HubId>,
    /// When the aidant was authorised.
    pub authorised_on: Option<NaiveDate>,
    /// When the authorisation was revoked.
    pub revoked_on: Option<NaiveDate>,
    /// The conseiller numérique this aidant also is, when known.
    pub counsellor: Option<CounsellorRef>,
}

/// A change to an aidant: `None` leaves a field as it is; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct AidantPatch {
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
    /// New professional e-mail.
    pub email: Option<Email>,
    /// New profession, or cleared.
    pub profession: Option<Option<String>>,
    /// New list of organisations (non-empty).
    pub organisations: Option<Vec<OrganisationId>>,
    /// New status.
    pub status: Option<AidantStatus>,
    /// New request date, or cleared.
    pub requested_on: Option<Option<NaiveDate>>,
    /// New training date, or cleared.
    pub trained_on: Option<Option<NaiveDate>>,
    /// New training hub, or cleared.
    pub training_hub: Option<Option<HubId>>,
    /// New authorisation date, or cleared.
    pub authorised_on: Option<Option<NaiveDate>>,
    /// New revocation date, or cleared.
    pub revoked_on: Option<Option<NaiveDate>>,
    /// New counsellor link, or cleared.
    pub counsellor: Option<Option<CounsellorRef>>,
}

impl AidantPatch {
    pub(crate) fn apply(self, mut d: NewAidant) -> NewAidant {
        if let Some(v) = self.first_name {
            d.person.first_name = v;
        }
        if let Some(v) = self.last_name {
            d.person.last_name = v;
        }
        if let Some(v) = self.email {
            d.person.email = v;
        }
        if let Some(v) = self.profession {
            d.person.profession = v;
        }
        if let Some(mut v) = self.organisations {
            v.sort();
            v.dedup();
            d.organisations = v;
        }
        if let Some(v) = self.status {
            d.status = v;
        }
        if let Some(v) = self.requested_on {
            d.requested_on = v;
        }
        if let Some(v) = self.trained_on {
            d.trained_on = v;
        }
        if let Some(v) = self.training_hub {
            d.training_hub = v;
        }
        if let Some(v) = self.authorised_on {
            d.authorised_on = v;
        }
        if let Some(v) = self.revoked_on {
            d.revoked_on = v;
        }
        if let Some(v) = self.counsellor {
            d.counsellor = v;
        }
        d
    }
}

/// An aidant as stored, with the departments of its organisations (which decide who may see its personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aidant {
    /// Database id.
    pub id: AidantId,
    /// Its content.
    pub data: NewAidant,
    /// The departments of its organisations, sorted, without duplicates.
    pub departments: Vec<DepartmentCode>,
    /// Optimistic-locking version.
    pub version: i32,
    /// When Maillage last wrote it (server clock), for incremental sync.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Aidant {
    /// The personal data, if `actor` may read it: admins and reviewers always, a hub coordinator when one of the
    /// aidant's organisations is in its departments, nobody else. Callers get `None`, never an error, so lists stay
    /// readable by everyone.
    pub fn person_for(&self, actor: &Actor) -> Option<&AidantPerson> {
        let visible = if self.departments.is_empty() {
            actor.can_read_personal_data(None)
        } else {
            self.departments
                .iter()
                .any(|d| actor.can_read_personal_data(Some(d)))
        };
        visible.then_some(&self.data.person)
    }

    /// Whether the aidant is trained (a training date, whatever happened since): counted as "trained".
    pub fn is_trained(&self) -> bool {
        self.data.trained_on.is_some()
    }
}

/// The four counts of one organisation × démarche × month × duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MandateCounts {
    /// Mandates created in the month.
    pub created: i64,
    /// Mandates renewed in the month.
    pub renewed: i64,
    /// Mandates revoked in the month.
    pub revoked: i64,
    /// Mandates still active on the last day of the month.
    pub active_at_month_end: i64,
}

impl std::ops::AddAssign for MandateCounts {
    fn add_assign(&mut self, o: Self) {
        self.created += o.created;
        self.renewed += o.renewed;
        self.revoked += o.revoked;
        self.active_at_month_end += o.active_at_month_end;
    }
}

/// One stored aggregate row: the counts of an organisation for one démarche, month and duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MandateMonthRow {
    /// The organisation whose aidants created the mandates.
    pub organisation: OrganisationId,
    /// The démarche.
    pub demarche: Demarche,
    /// The month.
    pub month: Month,
    /// The mandates' duration.
    pub duration: MandateDuration,
    /// The counts.
    pub counts: MandateCounts,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_and_months() {
        assert_eq!(Demarche::parse(" Étranger "), Ok(Demarche::Etranger));
        assert_eq!(
            AidantStatus::parse("habilité"),
            Ok(AidantStatus::Authorised)
        );
        assert_eq!(
            MandateDuration::parse("6 mois"),
            Ok(MandateDuration::SixMonths)
        );
        assert!(Demarche::parse("sante").is_err());
        assert_eq!(
            Month::parse("2021-03")
                .map(Month::as_string)
                .ok()
                .as_deref(),
            Some("2021-03")
        );
        for bad in ["2021-3", "21-03", "2021-13", "2021/03", ""] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }
}
