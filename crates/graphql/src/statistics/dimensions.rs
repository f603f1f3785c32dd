//! The arguments of the statistics: what each domain can be grouped by, the months of a series, and how each
//! dimension's keys are named in the answer.

use crate::kit::error::IntoGql;
use async_graphql::{Enum, InputObject};
use maillage_aidants::statistics::{AidantsDimension, MandateMeasure};
use maillage_core::error::FieldPath;
use maillage_counsellors::statistics::{CounsellorDimension, PostDimension};
use maillage_funding::statistics::FundingDimension;
use maillage_sites::statistics::SiteDimension;
use maillage_territories::statistics::MonthRange;

/// How a dimension's keys are named in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// A department: its INSEE code, name and global ID.
    Department,
    /// A region: its INSEE code, name and global ID.
    Region,
    /// A hub: its slug, name and global ID.
    Hub,
    /// A month, `YYYY-MM`.
    Month,
    /// A label of the national standard, as written there.
    Label,
    /// A stored code, given as the GraphQL enum value (upper case).
    Code,
    /// A code as stored (envelope codes, feed names, typology codes).
    Text,
    /// A mandate duration, given as the `MandateDuration` enum value.
    Duration,
}

/// The GraphQL name of an enum value from its Rust variant name: `OneDay` → `ONE_DAY`.
pub(crate) fn enum_value(variant: &str) -> String {
    let mut out = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// A range of months, both included.
#[derive(InputObject, Clone)]
#[graphql(name = "MonthRange")]
pub struct MonthRangeInput {
    /// The first month, `YYYY-MM` (e.g. `2021-01`).
    pub from: String,
    /// The last month, `YYYY-MM` (e.g. `2022-12`); at most 240 months after `from`.
    pub to: String,
}

impl MonthRangeInput {
    /// The checked range; `field` names the argument in errors.
    pub(crate) fn parse(&self, field: &str) -> async_graphql::Result<MonthRange> {
        MonthRange::parse(&self.from, &self.to, &FieldPath::new(field)).gql()
    }
}

/// Reads an optional month range.
pub(crate) fn months(
    range: Option<&MonthRangeInput>,
    field: &str,
) -> async_graphql::Result<Option<MonthRange>> {
    range.map(|r| r.parse(field)).transpose()
}

/// What sites can be grouped by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum SiteStatisticsDimension {
    /// The region of the site's department.
    Region,
    /// The site's department.
    Department,
    /// The hubs covering the site's department (a site counts under each).
    Hub,
    /// The month Maillage first recorded the site (first seen in a feed, or created).
    Month,
    /// Its services (v1.0.2 labels; a site counts under each of its services).
    Service,
    /// The publics it addresses and its specific supports (v1.0.2 labels).
    Public,
    /// Its national programmes and training labels (v1.0.2 labels).
    Label,
    /// Its typology codes.
    Typology,
    /// Its fees (v1.0.2 labels).
    Fee,
    /// Its access modes (v1.0.2 labels).
    AccessMode,
    /// The import source (feed) it came from.
    Source,
}

impl SiteStatisticsDimension {
    pub(crate) fn domain(self) -> SiteDimension {
        match self {
            Self::Region => SiteDimension::Region,
            Self::Department => SiteDimension::Department,
            Self::Hub => SiteDimension::Hub,
            Self::Month => SiteDimension::Month,
            Self::Service => SiteDimension::Service,
            Self::Public => SiteDimension::Public,
            Self::Label => SiteDimension::Label,
            Self::Typology => SiteDimension::Typology,
            Self::Fee => SiteDimension::Fee,
            Self::AccessMode => SiteDimension::AccessMode,
            Self::Source => SiteDimension::Source,
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Region => KeyKind::Region,
            Self::Department => KeyKind::Department,
            Self::Hub => KeyKind::Hub,
            Self::Month => KeyKind::Month,
            Self::Typology | Self::Source => KeyKind::Text,
            _ => KeyKind::Label,
        }
    }
}

/// What counsellors can be grouped by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CounsellorStatisticsDimension {
    /// The region of the host structure's department.
    Region,
    /// The host structure's department.
    Department,
    /// The hubs covering that department.
    Hub,
    /// The month of recruitment (in a series per month: not allowed, the series is already by month).
    Month,
    /// The current status (`CounsellorStatus` values).
    Status,
    /// The host structure's kind (`StructureKind` values).
    HostKind,
}

impl CounsellorStatisticsDimension {
    pub(crate) fn domain(self) -> CounsellorDimension {
        match self {
            Self::Region => CounsellorDimension::Region,
            Self::Department => CounsellorDimension::Department,
            Self::Hub => CounsellorDimension::Hub,
            Self::Month => CounsellorDimension::Month,
            Self::Status => CounsellorDimension::Status,
            Self::HostKind => CounsellorDimension::HostKind,
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Region => KeyKind::Region,
            Self::Department => KeyKind::Department,
            Self::Hub => KeyKind::Hub,
            Self::Month => KeyKind::Month,
            Self::Status | Self::HostKind => KeyKind::Code,
        }
    }
}

/// What requests for funded posts can be grouped by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum PostStatisticsDimension {
    /// The region of the host structure's department.
    Region,
    /// The host structure's department.
    Department,
    /// The hubs covering that department.
    Hub,
    /// The month of the committee's decision.
    Month,
    /// The committee's decision (`CommitteeDecision` values).
    Decision,
    /// The host structure's kind (`StructureKind` values).
    HostKind,
}

impl PostStatisticsDimension {
    pub(crate) fn domain(self) -> PostDimension {
        match self {
            Self::Region => PostDimension::Region,
            Self::Department => PostDimension::Department,
            Self::Hub => PostDimension::Hub,
            Self::Month => PostDimension::Month,
            Self::Decision => PostDimension::Decision,
            Self::HostKind => PostDimension::HostKind,
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Region => KeyKind::Region,
            Self::Department => KeyKind::Department,
            Self::Hub => KeyKind::Hub,
            Self::Month => KeyKind::Month,
            Self::Decision | Self::HostKind => KeyKind::Code,
        }
    }
}

/// What aidants, their organisations and mandates can be grouped by; each statistic says which apply.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AidantsStatisticsDimension {
    /// The region of the organisation's department.
    Region,
    /// The organisation's department (an aidant counts in each department where it has an organisation).
    Department,
    /// The hubs covering that department.
    Hub,
    /// Aidants: month of training; organisations: month first recorded; mandates: the aggregate's month.
    Month,
    /// Aidants: their status (`AidantStatus` values).
    Status,
    /// Aidants: the hub that trained them.
    TrainingHub,
    /// Organisations: their kind (`AidantsOrganisationKind` values).
    Kind,
    /// Organisations: France Services label (`TRUE` or `FALSE`).
    FranceServices,
    /// Mandates: the démarche (`Demarche` values).
    Demarche,
    /// Mandates: the duration (`MandateDuration` values).
    Duration,
}

impl AidantsStatisticsDimension {
    pub(crate) fn domain(self) -> AidantsDimension {
        match self {
            Self::Region => AidantsDimension::Region,
            Self::Department => AidantsDimension::Department,
            Self::Hub => AidantsDimension::Hub,
            Self::Month => AidantsDimension::Month,
            Self::Status => AidantsDimension::Status,
            Self::TrainingHub => AidantsDimension::TrainingHub,
            Self::Kind => AidantsDimension::Kind,
            Self::FranceServices => AidantsDimension::FranceServices,
            Self::Demarche => AidantsDimension::Demarche,
            Self::Duration => AidantsDimension::Duration,
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Region => KeyKind::Region,
            Self::Department => KeyKind::Department,
            Self::Hub | Self::TrainingHub => KeyKind::Hub,
            Self::Month => KeyKind::Month,
            Self::Duration => KeyKind::Duration,
            _ => KeyKind::Code,
        }
    }
}

/// Which mandate figure to sum.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
pub enum MandateStatisticsMeasure {
    /// Mandates created.
    #[default]
    Created,
    /// Mandates renewed.
    Renewed,
    /// Mandates revoked.
    Revoked,
    /// Mandates active at the month's end.
    ActiveAtMonthEnd,
}

impl MandateStatisticsMeasure {
    pub(crate) fn domain(self) -> MandateMeasure {
        match self {
            Self::Created => MandateMeasure::Created,
            Self::Renewed => MandateMeasure::Renewed,
            Self::Revoked => MandateMeasure::Revoked,
            Self::ActiveAtMonthEnd => MandateMeasure::ActiveAtMonthEnd,
        }
    }
}

/// What grants and disbursements can be grouped by.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum FundingStatisticsDimension {
    /// The grant's region.
    Region,
    /// The grant's department.
    Department,
    /// The hub the grant was made to, else the hubs covering its department.
    Hub,
    /// Grants: month of signature (the real date of historical records); disbursements: month of payment.
    Month,
    /// The grant's status (`GrantStatus` values).
    Status,
    /// The host's kind, for grants to host structures (`PUBLIC`, `PRIVATE`).
    HostKind,
    /// The envelope the grant draws on (its code, e.g. `FR-CNFS`).
    Envelope,
    /// What the grant funds (`HOST_STRUCTURE`, `HUB`, `COLLECTIVITE`, `AMI_DOSSIER`).
    BeneficiaryKind,
}

impl FundingStatisticsDimension {
    pub(crate) fn domain(self) -> FundingDimension {
        match self {
            Self::Region => FundingDimension::Region,
            Self::Department => FundingDimension::Department,
            Self::Hub => FundingDimension::Hub,
            Self::Month => FundingDimension::Month,
            Self::Status => FundingDimension::Status,
            Self::HostKind => FundingDimension::HostKind,
            Self::Envelope => FundingDimension::Envelope,
            Self::BeneficiaryKind => FundingDimension::BeneficiaryKind,
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::Region => KeyKind::Region,
            Self::Department => KeyKind::Department,
            Self::Hub => KeyKind::Hub,
            Self::Month => KeyKind::Month,
            Self::Envelope => KeyKind::Text,
            _ => KeyKind::Code,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn enum_values_are_screaming_snake_case() {
        assert_eq!(super::enum_value("OneDay"), "ONE_DAY");
        assert_eq!(super::enum_value("Active"), "ACTIVE");
    }
}
