//! Enums, filters and mutation inputs of the funding domain.

use super::money::Cents;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::UserError;
use async_graphql::{Enum, ID, InputObject, MaybeUndefined};
use chrono::NaiveDate;
use maillage_core::error::FieldPath;
use maillage_core::{DepartmentCode, SiteId};
use maillage_funding as funding;
use maillage_funding::Money;

pub(crate) fn id_error(path: FieldPath, message: String) -> UserError {
    UserError {
        field: path.0,
        code: "invalid_id".to_owned(),
        message,
    }
}

pub(crate) fn input_error(field: &str, code: &str, message: impl Into<String>) -> UserError {
    UserError {
        field: FieldPath::new("input").push(field).0,
        code: code.to_owned(),
        message: message.into(),
    }
}

pub(crate) fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

// ---------------------------------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------------------------------

/// Public (collectivités) or private (non-profit, ESS) host structure.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "HostKind")]
pub enum HostKindGql {
    /// Collectivités territoriales and public bodies.
    Public,
    /// Private non-profit and ESS structures.
    Private,
}

impl From<HostKindGql> for funding::HostKind {
    fn from(v: HostKindGql) -> Self {
        match v {
            HostKindGql::Public => Self::Public,
            HostKindGql::Private => Self::Private,
        }
    }
}

impl From<funding::HostKind> for HostKindGql {
    fn from(v: funding::HostKind) -> Self {
        match v {
            funding::HostKind::Public => Self::Public,
            funding::HostKind::Private => Self::Private,
        }
    }
}

/// Where a grant stands; signed and closed grants commit money.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "GrantStatus")]
pub enum GrantStatusGql {
    /// Being prepared: commits nothing.
    Draft,
    /// Signed: commits its amount, may be paid.
    Signed,
    /// Finished: still commits its amount, no more payments.
    Closed,
    /// Abandoned: commits nothing.
    Cancelled,
}

impl From<GrantStatusGql> for funding::GrantStatus {
    fn from(v: GrantStatusGql) -> Self {
        match v {
            GrantStatusGql::Draft => Self::Draft,
            GrantStatusGql::Signed => Self::Signed,
            GrantStatusGql::Closed => Self::Closed,
            GrantStatusGql::Cancelled => Self::Cancelled,
        }
    }
}

impl From<funding::GrantStatus> for GrantStatusGql {
    fn from(v: funding::GrantStatus) -> Self {
        match v {
            funding::GrantStatus::Draft => Self::Draft,
            funding::GrantStatus::Signed => Self::Signed,
            funding::GrantStatus::Closed => Self::Closed,
            funding::GrantStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// Who receives a grant; the beneficiary itself lives in its own domain and is named by `beneficiaryRef`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "BeneficiaryKind")]
pub enum BeneficiaryKindGql {
    /// A counsellors' host structure (structure d'accueil).
    HostStructure,
    /// A hub territorial.
    Hub,
    /// A collectivité.
    Collectivite,
}

impl From<BeneficiaryKindGql> for funding::BeneficiaryKind {
    fn from(v: BeneficiaryKindGql) -> Self {
        match v {
            BeneficiaryKindGql::HostStructure => Self::HostStructure,
            BeneficiaryKindGql::Hub => Self::Hub,
            BeneficiaryKindGql::Collectivite => Self::Collectivite,
        }
    }
}

impl From<funding::BeneficiaryKind> for BeneficiaryKindGql {
    fn from(v: funding::BeneficiaryKind) -> Self {
        match v {
            funding::BeneficiaryKind::HostStructure => Self::HostStructure,
            funding::BeneficiaryKind::Hub => Self::Hub,
            funding::BeneficiaryKind::Collectivite => Self::Collectivite,
        }
    }
}

/// The axis of an envelope's drill-down.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum DrillDownAxis {
    /// Per hub.
    Hub,
    /// Per department.
    Department,
    /// Per region.
    Region,
}
/// Filter of the `grants` list.
#[derive(InputObject, Default)]
pub struct GrantFilterInput {
    /// Envelopes (global IDs); each one's children are included.
    pub envelopes: Option<Vec<ID>>,
    /// Statuses.
    pub status: Option<Vec<GrantStatusGql>>,
    /// Department code.
    pub department: Option<String>,
    /// Hub (global ID).
    pub hub: Option<ID>,
}

/// A new envelope (admins).
#[derive(InputObject)]
pub struct CreateEnvelopeInput {
    /// The wider line (global ID), if any.
    pub parent_id: Option<ID>,
    /// Stable code, unique (letters, digits, `-`, `_`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Amount in cents.
    pub amount: Cents,
    /// Where the amount comes from.
    pub source: Option<String>,
}

/// Changes to an envelope (admins); omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateEnvelopeInput {
    /// The envelope.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Display name.
    pub name: Option<String>,
    /// Amount in cents; refused below what signed grants commit.
    pub amount: Option<Cents>,
    /// Source (null clears it).
    pub source: MaybeUndefined<String>,
}

/// A funding rule's content (admins).
#[derive(InputObject)]
pub struct FundingRuleInput {
    /// Public or private host.
    pub host_kind: HostKindGql,
    /// Department code it is specific to; omit for a general rule.
    pub department: Option<String>,
    /// Grant per post, in cents.
    pub amount_per_post: Cents,
    /// Training per counsellor, in cents.
    #[graphql(default_with = "Cents(0)")]
    pub training: Cents,
    /// Kit per counsellor, in cents.
    #[graphql(default_with = "Cents(0)")]
    pub kit: Cents,
    /// Certification per counsellor, in cents.
    #[graphql(default_with = "Cents(0)")]
    pub certification: Cents,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day (inclusive); omit: open-ended.
    pub valid_to: Option<NaiveDate>,
    /// Where the figures come from.
    pub source: String,
}

/// Replaces a funding rule's content (admins).
#[derive(InputObject)]
pub struct UpdateFundingRuleInput {
    /// The rule.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// The new content.
    pub rule: FundingRuleInput,
}

/// A new draft grant (BdT reviewers, admins).
#[derive(InputObject)]
pub struct CreateGrantInput {
    /// The envelope (global ID).
    pub envelope_id: ID,
    /// What kind of beneficiary.
    pub beneficiary_kind: BeneficiaryKindGql,
    /// The beneficiary's id in its own domain (host structure id or SIRET, hub id, collectivité code).
    pub beneficiary_ref: String,
    /// The beneficiary's public name.
    pub beneficiary_name: String,
    /// A contact person (personal data). Never bank details.
    pub contact: Option<String>,
    /// The hub concerned (global ID).
    pub hub_id: Option<ID>,
    /// The department concerned (INSEE code).
    pub department: Option<String>,
    /// Amount in cents.
    pub amount: Cents,
    /// Posts paid for.
    #[graphql(default = 0)]
    pub posts: i32,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day.
    pub ends_on: Option<NaiveDate>,
}

/// A grant at a version (sign, close, cancel).
#[derive(InputObject)]
pub struct GrantVersionInput {
    /// The grant.
    pub id: ID,
    /// The version read.
    pub version: i32,
}

/// A payment to record under a signed grant.
#[derive(InputObject)]
pub struct RecordDisbursementInput {
    /// The grant.
    pub grant_id: ID,
    /// Amount in cents.
    pub amount: Cents,
    /// Payment date.
    pub paid_on: NaiveDate,
    /// Accounting reference (no bank details).
    pub reference: Option<String>,
}

/// A Pass numérique programme's content.
#[derive(InputObject)]
pub struct PassProgrammeInput {
    /// The collectivité.
    pub collectivite: String,
    /// Its department.
    pub department: Option<String>,
    /// Amount in cents.
    pub amount: Cents,
    /// Vouchers handed out.
    #[graphql(default = 0)]
    pub vouchers_issued: i32,
    /// Vouchers used (never more than issued).
    #[graphql(default = 0)]
    pub vouchers_used: i32,
    /// Sites accepting the vouchers (global IDs).
    #[graphql(default)]
    pub site_ids: Vec<ID>,
}

/// Replaces a Pass numérique programme's content.
#[derive(InputObject)]
pub struct UpdatePassProgrammeInput {
    /// The programme.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// The new content.
    pub programme: PassProgrammeInput,
}

pub(crate) fn parse_department(
    field: &str,
    raw: Option<&str>,
    errors: &mut Vec<UserError>,
) -> Option<DepartmentCode> {
    match raw.map(DepartmentCode::parse) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            errors.push(input_error(field, "invalid_value", e.to_string()));
            None
        }
        None => None,
    }
}

pub(crate) fn rule_input(
    input: FundingRuleInput,
    path: &str,
    errors: &mut Vec<UserError>,
) -> funding::NewRule {
    let department = match input.department.as_deref().map(DepartmentCode::parse) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            errors.push(UserError {
                field: FieldPath::new("input").push(path).push("department").0,
                code: "invalid_value".to_owned(),
                message: e.to_string(),
            });
            None
        }
        None => None,
    };
    funding::NewRule {
        host_kind: input.host_kind.into(),
        department,
        amount_per_post: Money(input.amount_per_post.0),
        training: Money(input.training.0),
        kit: Money(input.kit.0),
        certification: Money(input.certification.0),
        valid_from: input.valid_from,
        valid_to: input.valid_to,
        source: input.source,
    }
}

pub(crate) fn programme_input(
    input: PassProgrammeInput,
    errors: &mut Vec<UserError>,
) -> funding::PassProgrammeData {
    let department = parse_department("department", input.department.as_deref(), errors);
    let mut sites = Vec::new();
    for (i, id) in input.site_ids.iter().enumerate() {
        match decode_int(id, NodeKind::Site) {
            Ok(s) => sites.push(SiteId(s)),
            Err(e) => errors.push(id_error(
                FieldPath::new("input").push("siteIds").index(i),
                e.message,
            )),
        }
    }
    funding::PassProgrammeData {
        collectivite: input.collectivite,
        department,
        amount: Money(input.amount.0),
        vouchers_issued: i64::from(input.vouchers_issued),
        vouchers_used: i64::from(input.vouchers_used),
        sites,
    }
}
