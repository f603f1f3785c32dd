//! Enums, filters and mutation inputs of the funding domain.

use super::money::Cents;
use crate::kit::date::Date;
use crate::kit::id::{NodeKind, decode_int, parse_int};
use crate::kit::payload::UserError;
use async_graphql::{Enum, ID, InputObject, MaybeUndefined};
use maillage_core::error::FieldPath;
use maillage_core::{Code, DepartmentCode, SiteId};
use maillage_funding as funding;
use maillage_funding::Money;

pub(crate) fn id_error(path: FieldPath, message: String) -> UserError {
    UserError {
        field: path.0,
        code: Code::InvalidId.as_str().to_owned(),
        message,
    }
}

pub(crate) fn input_error(field: &str, code: Code, message: impl Into<String>) -> UserError {
    UserError {
        field: FieldPath::new("input").push(field).0,
        code: code.as_str().to_owned(),
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
    /// An AMI dossier.
    AmiDossier,
}

impl From<BeneficiaryKindGql> for funding::BeneficiaryKind {
    fn from(v: BeneficiaryKindGql) -> Self {
        match v {
            BeneficiaryKindGql::HostStructure => Self::HostStructure,
            BeneficiaryKindGql::Hub => Self::Hub,
            BeneficiaryKindGql::Collectivite => Self::Collectivite,
            BeneficiaryKindGql::AmiDossier => Self::AmiDossier,
        }
    }
}

impl From<funding::BeneficiaryKind> for BeneficiaryKindGql {
    fn from(v: funding::BeneficiaryKind) -> Self {
        match v {
            funding::BeneficiaryKind::HostStructure => Self::HostStructure,
            funding::BeneficiaryKind::Hub => Self::Hub,
            funding::BeneficiaryKind::Collectivite => Self::Collectivite,
            funding::BeneficiaryKind::AmiDossier => Self::AmiDossier,
        }
    }
}

/// What an envelope's target counts.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "TargetKind")]
pub enum TargetKindGql {
    /// Funded posts.
    Posts,
    /// Counsellors (one per funded post).
    Counsellors,
    /// Collectivités (Pass numérique programmes and collectivité grants).
    Collectivites,
}

impl From<TargetKindGql> for funding::TargetKind {
    fn from(v: TargetKindGql) -> Self {
        match v {
            TargetKindGql::Posts => Self::Posts,
            TargetKindGql::Counsellors => Self::Counsellors,
            TargetKindGql::Collectivites => Self::Collectivites,
        }
    }
}

impl From<funding::TargetKind> for TargetKindGql {
    fn from(v: funding::TargetKind) -> Self {
        match v {
            funding::TargetKind::Posts => Self::Posts,
            funding::TargetKind::Counsellors => Self::Counsellors,
            funding::TargetKind::Collectivites => Self::Collectivites,
        }
    }
}

/// How a funding rule computes the grant per post.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "RuleScheme")]
pub enum RuleSchemeGql {
    /// A fixed amount per post.
    Fixed,
    /// A share of a dated reference salary (the SMIC) over a number of years.
    SalaryShare,
}

/// An envelope's target, as input.
#[derive(InputObject)]
pub struct TargetInput {
    /// What is counted.
    pub kind: TargetKindGql,
    /// How many (≥ 0).
    pub count: i32,
}

impl From<TargetInput> for funding::Target {
    fn from(t: TargetInput) -> Self {
        Self {
            kind: t.kind.into(),
            count: i64::from(t.count),
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

/// Filter of the `envelopes` list.
#[derive(InputObject, Default)]
pub struct EnvelopeFilter {
    /// Only those Maillage wrote at or after this instant (server clock; an envelope's consumption follows its
    /// grants, which a mirror syncs with `grants(filter: {updatedSince})`).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Filter of the `grants` list.
#[derive(InputObject, Default)]
#[graphql(name = "GrantFilter")]
pub struct GrantFilterInput {
    /// Envelopes (global IDs); each one's children are included.
    pub envelopes: Option<Vec<ID>>,
    /// Statuses.
    pub status: Option<Vec<GrantStatusGql>>,
    /// Department code.
    pub department: Option<String>,
    /// Hub: its global ID, or its slug (e.g. `hinaura`).
    pub hub: Option<ID>,
    /// Only those Maillage wrote at or after this instant (server clock): with `orderBy: {field: UPDATED_AT}`,
    /// the incremental pull of a mirror (docs/SYNC.md).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
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
    /// What it is meant to fund (posts, counsellors, collectivités).
    pub target: Option<TargetInput>,
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
    /// Target (null clears it).
    pub target: MaybeUndefined<TargetInput>,
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
    pub valid_from: Date,
    /// Last day (inclusive); omit: open-ended.
    pub valid_to: Option<Date>,
    /// Where the figures come from.
    pub source: String,
    /// For a salary-based rule: its share of the reference salary over some years (`amountPerPost` is then 0).
    pub salary: Option<SalaryShareInput>,
}

/// A salary-based rule's terms: `sharePct` % of the reference salary over `years` years, per post.
#[derive(InputObject)]
pub struct SalaryShareInput {
    /// The reference salary.
    #[graphql(default_with = "\"SMIC\".to_owned()")]
    pub reference: String,
    /// The share paid, in percent (1 to 100).
    pub share_pct: i32,
    /// The contract's length in years the rule applies to (1 to 10).
    pub years: i32,
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

/// A new grant (BdT reviewers, admins), checked against its beneficiary and, for a host structure, against the
/// funding rule in force at its decision date.
#[derive(InputObject)]
pub struct CreateGrantInput {
    /// The envelope (global ID).
    pub envelope_id: ID,
    /// What kind of beneficiary.
    pub beneficiary_kind: BeneficiaryKindGql,
    /// The beneficiary in its own domain: a host structure (global ID, `structure:N` or SIRET), a hub (global ID,
    /// `hub:N` or slug), an AMI dossier (global ID or `dossier:N`), a collectivité (`department:69`, `region:84`, or
    /// a public host structure). An unknown beneficiary is a `not_found` userError.
    pub beneficiary_ref: String,
    /// For a host structure: the post request (conventionnement) paid for (global ID of a `FundedPost` or its
    /// number); the grant's posts may not exceed the posts it was granted.
    pub funded_posts: Option<String>,
    /// The host kind you expect (checked against the structure; used to name the rule when it is unknown).
    pub host_kind: Option<HostKindGql>,
    /// The department concerned (INSEE code; checked against the beneficiary's).
    pub department: Option<String>,
    /// A contact person (personal data). Never bank details.
    pub contact: Option<String>,
    /// Amount in cents: for a host structure, the rule's computation unless `overrideReason` is given.
    pub amount: Cents,
    /// Posts paid for.
    #[graphql(default = 0)]
    pub posts: i32,
    /// The contract's length in years, for the salary-based rules (100 % of the SMIC over 2, 70 % over 3).
    pub contract_years: Option<i32>,
    /// The date of the funding decision (default: today): the rule in force that day applies.
    pub decision_date: Option<Date>,
    /// Why the amount differs from the rule's computation (audited); required when it does.
    pub override_reason: Option<String>,
    /// First day.
    pub starts_on: Date,
    /// Last day.
    pub ends_on: Option<Date>,
}

/// A grant recorded with its real dates (admins): historical conventions.
#[derive(InputObject)]
pub struct RecordGrantInput {
    /// The grant.
    pub grant: CreateGrantInput,
    /// The day it was signed: it then commits its amount from that month (under the envelope's locks).
    pub signed_on: Option<Date>,
    /// The day it was closed (needs `signedOn`).
    pub closed_on: Option<Date>,
}

/// The domain's new grant, or the input problems.
pub(crate) fn grant_input(input: CreateGrantInput) -> Result<funding::NewGrant, Vec<UserError>> {
    let mut errors = Vec::new();
    let envelope_id = parse_int(&input.envelope_id, NodeKind::Envelope)
        .map_err(|e| {
            errors.push(id_error(
                FieldPath::new("input").push("envelopeId"),
                e.to_string(),
            ))
        })
        .ok();
    let department = parse_department("department", input.department.as_deref(), &mut errors);
    let Some(envelope_id) = envelope_id.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    Ok(funding::NewGrant {
        envelope_id,
        beneficiary: funding::BeneficiaryClaim {
            kind: input.beneficiary_kind.into(),
            reference: input.beneficiary_ref,
            funded_posts: input.funded_posts,
            host_kind: input.host_kind.map(Into::into),
            department,
            name: None,
        },
        contact: input.contact,
        amount: Money(input.amount.0),
        posts: input.posts,
        contract_years: input.contract_years,
        decision_date: input.decision_date.map(|d| d.0),
        starts_on: input.starts_on.0,
        ends_on: input.ends_on.map(|d| d.0),
        override_reason: input.override_reason,
    })
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
    pub paid_on: Date,
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
    /// The envelope its amount is committed in (global ID; default: the `PASS` envelope).
    pub envelope_id: Option<ID>,
    /// The day its convention was signed (default: today).
    pub signed_on: Option<Date>,
    /// The day the voucher counts became the ones given (default: today); changes are recorded as dated movements.
    pub vouchers_on: Option<Date>,
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
            errors.push(input_error(field, Code::InvalidValue, e.to_string()));
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
                code: Code::InvalidValue.as_str().to_owned(),
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
        valid_from: input.valid_from.0,
        valid_to: input.valid_to.map(|d| d.0),
        source: input.source,
        salary: input.salary.map(|s| funding::SalaryShare {
            reference: s.reference,
            share_pct: s.share_pct,
            years: s.years,
        }),
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
    let envelope_id = match input
        .envelope_id
        .as_ref()
        .map(|e| parse_int(e, NodeKind::Envelope))
    {
        Some(Ok(e)) => Some(e),
        Some(Err(e)) => {
            errors.push(id_error(
                FieldPath::new("input").push("envelopeId"),
                e.to_string(),
            ));
            None
        }
        None => None,
    };
    funding::PassProgrammeData {
        collectivite: input.collectivite,
        department,
        amount: Money(input.amount.0),
        vouchers_issued: i64::from(input.vouchers_issued),
        vouchers_used: i64::from(input.vouchers_used),
        sites,
        envelope_id,
        signed_on: input.signed_on.map(|d| d.0),
        vouchers_on: input.vouchers_on.map(|d| d.0),
    }
}
