//! Funding: envelopes and their consumption, funding rules and quotes, grants, disbursements, Pass numérique.
//!
//! Thin resolvers over `maillage-funding`, which decides authorization and enforces the invariants. Amounts are
//! `Money` objects: integer cents (scalar `Cents`, a JSON integer, since 250 M€ in cents exceeds a GraphQL `Int`)
//! and their display in euros. Anyone reads totals; a grant's contact is shown only to roles that may read personal
//! data of its department.

use crate::beneficiaries::Directory;
use crate::error::{IntoGql, coded, to_gql};
use crate::id::{NodeKind, decode_int, encode};
use crate::mutations::UserError;
use crate::sites::{PageInfo, SiteNode};
use crate::state;
use async_graphql::{
    Context, Enum, ID, InputObject, InputValueError, InputValueResult, MaybeUndefined, Object,
    Scalar, ScalarType, SimpleObject, Value,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::{Actor, DepartmentCode, ErrorCode, HubId, Role, SiteId};
use maillage_funding as funding;
use maillage_funding::{Consumption, Envelope, FundingError, Grant, Money};
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------------------------
// Scalars, ids and helpers
// ---------------------------------------------------------------------------------------------------------------

/// An amount in euro cents, as a JSON integer (a string of digits is accepted too). Cents, never floats, so that
/// sums and comparisons are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cents(pub i64);

/// An amount in euro cents (integer); `2500000000` is 25 000 000,00 €.
#[Scalar(name = "Cents")]
impl ScalarType for Cents {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Cents)
                .ok_or_else(|| InputValueError::custom("Cents must be an integer number of cents")),
            Value::String(s) => {
                s.trim().parse::<i64>().map(Cents).map_err(|_| {
                    InputValueError::custom("Cents must be an integer number of cents")
                })
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

/// An amount of money: exact cents, and the same in euros for display.
pub struct MoneyNode(pub Money);

#[Object(name = "Money")]
impl MoneyNode {
    /// The amount in cents (exact).
    async fn cents(&self) -> Cents {
        Cents(self.0.cents())
    }
    /// The amount in euros, French notation (e.g. `67 500,00 €`).
    async fn euros(&self) -> String {
        self.0.to_string()
    }
}

/// The funding kinds of global ID (the `Node` interface does not resolve them: fetch them by their own fields).
#[derive(Clone, Copy)]
enum FundingKind {
    Envelope,
    Rule,
    Grant,
    Disbursement,
    PassProgramme,
}

impl FundingKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Envelope => "Envelope",
            Self::Rule => "FundingRule",
            Self::Grant => "Grant",
            Self::Disbursement => "Disbursement",
            Self::PassProgramme => "PassProgramme",
        }
    }
}

fn fid(kind: FundingKind, id: i32) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.prefix())))
}

fn decode_fid(id: &ID, kind: FundingKind) -> Result<i32, String> {
    URL_SAFE_NO_PAD
        .decode(id.as_str().trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            t.strip_prefix(kind.prefix())
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|n| n.parse().ok())
        })
        .ok_or_else(|| format!("this ID does not name a {}", kind.prefix()))
}

fn id_error(path: FieldPath, message: String) -> UserError {
    UserError {
        field: path.0,
        code: "invalid_id".to_owned(),
        message,
    }
}

fn input_error(field: &str, code: &str, message: impl Into<String>) -> UserError {
    UserError {
        field: FieldPath::new("input").push(field).0,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// A user error for the payload, or a GraphQL error (permission, internal).
fn classify(e: &FundingError) -> async_graphql::Result<Vec<UserError>> {
    if e.is_user_error() {
        // Several problems of one input (unknown beneficiary and wrong amount…) are as many userErrors.
        Ok(e.each()
            .into_iter()
            .map(|one| UserError {
                field: one.field().map(|f| f.0.clone()).unwrap_or_default(),
                code: one.code().to_owned(),
                message: one.to_string(),
            })
            .collect())
    } else {
        Err(to_gql(e))
    }
}

/// The caller, refused with `unauthenticated` when anonymous: writes always need a token.
fn writer(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    let s = state(ctx)?;
    if s.actor.role() == Role::Anonymous {
        return Err(coded(
            "this operation needs an API token (Authorization: Bearer …)",
            "unauthenticated",
            None,
        ));
    }
    Ok(s.actor.clone().with_request_id(s.request_id.clone()))
}

fn count(n: i64) -> i32 {
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

/// What an envelope is meant to fund, beside its amount.
#[derive(SimpleObject)]
#[graphql(name = "EnvelopeTarget")]
pub struct TargetNode {
    /// What is counted.
    pub kind: TargetKindGql,
    /// How many are targeted.
    pub count: i32,
}

impl From<funding::Target> for TargetNode {
    fn from(t: funding::Target) -> Self {
        Self {
            kind: t.kind.into(),
            count: count(t.count),
        }
    }
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

// ---------------------------------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------------------------------

/// Every envelope and its consumption, loaded once per request field and shared by the nodes of the tree.
struct EnvelopeTree {
    envelopes: Vec<Envelope>,
    consumption: HashMap<i32, Consumption>,
}

async fn load_tree(ctx: &Context<'_>) -> async_graphql::Result<Arc<EnvelopeTree>> {
    let s = state(ctx)?;
    let envelopes = funding::list_envelopes(&s.db).await.gql()?;
    let consumption = funding::consumption_of_all(&s.db).await.gql()?;
    Ok(Arc::new(EnvelopeTree {
        envelopes,
        consumption,
    }))
}

/// A programme line (enveloppe): an amount, within a wider line or not, and what its grants commit and pay.
pub struct EnvelopeNode {
    envelope: Envelope,
    tree: Arc<EnvelopeTree>,
}

impl EnvelopeNode {
    fn node(&self, e: &Envelope) -> EnvelopeNode {
        EnvelopeNode {
            envelope: e.clone(),
            tree: Arc::clone(&self.tree),
        }
    }
}

/// Amount, committed, disbursed and remaining of an envelope, its children's grants included.
#[derive(SimpleObject)]
pub struct ConsumptionNode {
    /// The envelope's amount.
    pub amount: MoneyNode,
    /// Signed and closed grants.
    pub committed: MoneyNode,
    /// Payments made under them.
    pub disbursed: MoneyNode,
    /// What may still be committed (amount − committed).
    pub remaining: MoneyNode,
    /// The envelope's target (posts, counsellors or collectivités), if it has one.
    pub target: Option<TargetNode>,
    /// What its committing grants and programmes (children included) achieve toward the target; 0 without one.
    pub achieved: i32,
}

impl From<Consumption> for ConsumptionNode {
    fn from(c: Consumption) -> Self {
        Self {
            amount: MoneyNode(c.amount),
            committed: MoneyNode(c.committed),
            disbursed: MoneyNode(c.disbursed),
            remaining: MoneyNode(c.remaining()),
            target: c.target.map(Into::into),
            achieved: count(c.achieved),
        }
    }
}

/// One month of an envelope's consumption (children included).
#[derive(SimpleObject)]
pub struct MonthConsumptionNode {
    /// The month's first day.
    pub month: NaiveDate,
    /// Committed that month (grants by signature date, Pass numérique programmes by convention date).
    pub committed: MoneyNode,
    /// Paid that month.
    pub disbursed: MoneyNode,
    /// Committed up to the end of the month.
    pub committed_to_date: MoneyNode,
    /// Paid up to the end of the month.
    pub disbursed_to_date: MoneyNode,
}

/// One part of a drill-down: the grants of one hub, department or region.
#[derive(SimpleObject)]
pub struct ConsumptionPartNode {
    /// Hub global ID, department code or region code; null for the grants that have none.
    pub key: Option<String>,
    /// Its name (hub, department or region); null for the grants that have none.
    pub label: Option<String>,
    /// For a department, its region's code.
    pub region_code: Option<String>,
    /// Signed and closed grants.
    pub committed: MoneyNode,
    /// Payments made.
    pub disbursed: MoneyNode,
    /// Number of committing grants.
    pub grants: i32,
}

#[Object(name = "Envelope")]
impl EnvelopeNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        fid(FundingKind::Envelope, self.envelope.id)
    }
    /// Stable code, e.g. `FR-CNFS`.
    async fn code(&self) -> &str {
        &self.envelope.code
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.envelope.name
    }
    /// Where the amount comes from.
    async fn source(&self) -> Option<&str> {
        self.envelope.source.as_deref()
    }
    /// Version, for `updateEnvelope`.
    async fn version(&self) -> i32 {
        self.envelope.version
    }
    /// The amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.envelope.amount)
    }
    /// What it is meant to fund (e.g. 285 counsellors), if stated.
    async fn target(&self) -> Option<TargetNode> {
        self.envelope.target.map(Into::into)
    }
    /// Its consumption month by month (children included); months without movement are left out.
    async fn consumption_by_month(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<MonthConsumptionNode>> {
        let s = state(ctx)?;
        Ok(funding::consumption_by_month(&s.db, self.envelope.id)
            .await
            .gql()?
            .into_iter()
            .map(|m| MonthConsumptionNode {
                month: m.month,
                committed: MoneyNode(m.committed),
                disbursed: MoneyNode(m.disbursed),
                committed_to_date: MoneyNode(m.committed_to_date),
                disbursed_to_date: MoneyNode(m.disbursed_to_date),
            })
            .collect())
    }
    /// Amount, committed, disbursed and remaining, its children's grants included.
    async fn consumption(&self) -> ConsumptionNode {
        self.tree
            .consumption
            .get(&self.envelope.id)
            .copied()
            .unwrap_or(Consumption {
                amount: self.envelope.amount,
                target: self.envelope.target,
                ..Consumption::default()
            })
            .into()
    }
    /// The wider line.
    async fn parent(&self) -> Option<EnvelopeNode> {
        let parent = self.envelope.parent_id?;
        self.tree
            .envelopes
            .iter()
            .find(|e| e.id == parent)
            .map(|e| self.node(e))
    }
    /// The lines within this one.
    async fn children(&self) -> Vec<EnvelopeNode> {
        self.tree
            .envelopes
            .iter()
            .filter(|e| e.parent_id == Some(self.envelope.id))
            .map(|e| self.node(e))
            .collect()
    }
    /// Committed and disbursed amounts per hub, department or region (grants of this envelope and its children).
    /// The parts add up to `consumption`.
    async fn drill_down(
        &self,
        ctx: &Context<'_>,
        by: DrillDownAxis,
    ) -> async_graphql::Result<Vec<ConsumptionPartNode>> {
        let s = state(ctx)?;
        let axis = match by {
            DrillDownAxis::Hub => funding::DrillDown::Hub,
            DrillDownAxis::Department => funding::DrillDown::Department,
            DrillDownAxis::Region => funding::DrillDown::Region,
        };
        let parts = funding::drill_down(&s.db, self.envelope.id, axis)
            .await
            .gql()?;
        let labels: HashMap<String, String> = match by {
            DrillDownAxis::Hub => maillage_territories::list_hubs(&s.db)
                .await
                .gql()?
                .into_iter()
                .map(|h| (h.id.to_string(), h.name))
                .collect(),
            DrillDownAxis::Department => maillage_territories::list_departments(&s.db, None)
                .await
                .gql()?
                .into_iter()
                .map(|d| (d.code.to_string(), d.name))
                .collect(),
            DrillDownAxis::Region => maillage_territories::list_regions(&s.db)
                .await
                .gql()?
                .into_iter()
                .map(|r| (r.code.to_string(), r.name))
                .collect(),
        };
        Ok(parts
            .into_iter()
            .map(|p| {
                let label = p.key.as_ref().and_then(|k| labels.get(k).cloned());
                let key = match by {
                    DrillDownAxis::Hub => p
                        .key
                        .as_deref()
                        .and_then(|k| k.parse::<i32>().ok())
                        .map(|h| encode(NodeKind::Hub, h).to_string()),
                    _ => p.key,
                };
                ConsumptionPartNode {
                    key,
                    label,
                    region_code: p.region,
                    committed: MoneyNode(p.committed),
                    disbursed: MoneyNode(p.disbursed),
                    grants: count(p.grants),
                }
            })
            .collect())
    }
    /// The grants drawing on this envelope itself (not its children), by id.
    async fn grants(
        &self,
        ctx: &Context<'_>,
        status: Option<Vec<GrantStatusGql>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<GrantConnection> {
        let filter = funding::GrantFilter {
            envelopes: Some(vec![self.envelope.id]),
            statuses: status.map(|s| s.into_iter().map(Into::into).collect()),
            ..funding::GrantFilter::default()
        };
        grant_page(ctx, filter, first, after).await
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Rules and quotes
// ---------------------------------------------------------------------------------------------------------------

/// A funding rule: host kind × department → grant per post and per-counsellor extras, over a validity period.
pub struct FundingRuleNode(funding::FundingRule);

#[Object(name = "FundingRule")]
impl FundingRuleNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        fid(FundingKind::Rule, self.0.id)
    }
    /// Public or private host.
    async fn host_kind(&self) -> HostKindGql {
        self.0.host_kind.into()
    }
    /// The department it is specific to; null: everywhere no specific rule exists.
    async fn department_code(&self) -> Option<&str> {
        self.0.department.as_ref().map(DepartmentCode::as_str)
    }
    /// Grant per funded post.
    async fn amount_per_post(&self) -> MoneyNode {
        MoneyNode(self.0.amount_per_post)
    }
    /// Training per counsellor.
    async fn training(&self) -> MoneyNode {
        MoneyNode(self.0.training)
    }
    /// Equipment kit per counsellor.
    async fn kit(&self) -> MoneyNode {
        MoneyNode(self.0.kit)
    }
    /// Certification per counsellor.
    async fn certification(&self) -> MoneyNode {
        MoneyNode(self.0.certification)
    }
    /// First day it applies.
    async fn valid_from(&self) -> NaiveDate {
        self.0.valid_from
    }
    /// Last day it applies (inclusive); null: still valid.
    async fn valid_to(&self) -> Option<NaiveDate> {
        self.0.valid_to
    }
    /// Where the figures come from.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// Fixed amount per post, or a share of the SMIC over some years.
    async fn scheme(&self) -> RuleSchemeGql {
        match self.0.scheme {
            funding::RuleScheme::Fixed => RuleSchemeGql::Fixed,
            funding::RuleScheme::SalaryShare => RuleSchemeGql::SalaryShare,
        }
    }
    /// For a salary-based rule: the reference salary (`SMIC`).
    async fn salary_reference(&self) -> Option<&str> {
        self.0.salary.as_ref().map(|s| s.reference.as_str())
    }
    /// For a salary-based rule: the share paid, in percent.
    async fn salary_share_pct(&self) -> Option<i32> {
        self.0.salary.as_ref().map(|s| s.share_pct)
    }
    /// For a salary-based rule: the contract's length in years it applies to.
    async fn salary_years(&self) -> Option<i32> {
        self.0.salary.as_ref().map(|s| s.years)
    }
    /// The rule as errors and quotes name it (id, host kind, territory, period, scheme, source).
    async fn description(&self) -> String {
        self.0.describe()
    }
    /// Version, for `updateFundingRule`.
    async fn version(&self) -> i32 {
        self.0.version
    }
}

/// A dated value of a reference salary (the monthly gross SMIC from a date), with the legal text that set it.
#[derive(SimpleObject)]
pub struct ReferenceSalaryNode {
    /// Its code (`SMIC`).
    pub code: String,
    /// First day it applies (until the next value).
    pub valid_from: NaiveDate,
    /// The monthly gross amount.
    pub monthly: MoneyNode,
    /// The decree or order that set it.
    pub source: String,
}

/// One line of a quote: `unit × posts = total`.
#[derive(SimpleObject)]
pub struct QuoteLineNode {
    /// What it is: `grant per post`, `training`, `equipment kit`, `certification`.
    pub label: String,
    /// Amount per post.
    pub unit: MoneyNode,
    /// Posts.
    pub posts: i32,
    /// Line total.
    pub total: MoneyNode,
    /// The computation spelled out (`50 000,00 € per post × 3 = 150 000,00 €`, or the SMIC share).
    pub detail: String,
}

/// What a host would receive, and how it was computed.
#[derive(SimpleObject)]
pub struct GrantQuoteNode {
    /// The rule applied.
    pub rule: FundingRuleNode,
    /// The computation, line by line.
    pub lines: Vec<QuoteLineNode>,
    /// The sum of the lines.
    pub total: MoneyNode,
}

// ---------------------------------------------------------------------------------------------------------------
// Grants
// ---------------------------------------------------------------------------------------------------------------

/// What a page of grants shares: the envelopes and each grant's disbursed total, fetched once for the page.
struct GrantContext {
    envelopes: Arc<EnvelopeTree>,
    disbursed: HashMap<i32, Money>,
}

/// A grant (convention): money of an envelope for a host structure, a hub or a collectivité.
pub struct GrantNode {
    grant: Grant,
    shared: Arc<GrantContext>,
}

#[Object(name = "Grant")]
impl GrantNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        fid(FundingKind::Grant, self.grant.id)
    }
    /// Version, for the status mutations.
    async fn version(&self) -> i32 {
        self.grant.version
    }
    /// The envelope it draws on.
    async fn envelope(&self) -> Option<EnvelopeNode> {
        let tree = &self.shared.envelopes;
        tree.envelopes
            .iter()
            .find(|e| e.id == self.grant.envelope_id)
            .map(|e| EnvelopeNode {
                envelope: e.clone(),
                tree: Arc::clone(tree),
            })
    }
    /// What kind of beneficiary.
    async fn beneficiary_kind(&self) -> BeneficiaryKindGql {
        self.grant.beneficiary_kind.into()
    }
    /// The beneficiary's id in its own domain (host structure id or SIRET, hub id, collectivité code).
    async fn beneficiary_ref(&self) -> &str {
        &self.grant.beneficiary_ref
    }
    /// The beneficiary's public name.
    async fn beneficiary_name(&self) -> &str {
        &self.grant.beneficiary_name
    }
    /// A contact person (personal data): null unless the caller may read personal data of the grant's department.
    async fn contact(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let s = state(ctx)?;
        Ok(
            if s.actor
                .can_read_personal_data(self.grant.department.as_ref())
            {
                self.grant.contact.clone()
            } else {
                None
            },
        )
    }
    /// The hub concerned (global ID of a `Hub`).
    async fn hub_id(&self) -> Option<ID> {
        self.grant.hub.map(|h| encode(NodeKind::Hub, h.0))
    }
    /// The department concerned.
    async fn department_code(&self) -> Option<&str> {
        self.grant.department.as_ref().map(DepartmentCode::as_str)
    }
    /// Its region.
    async fn region_code(&self) -> Option<&str> {
        self.grant.region.as_ref().map(|r| r.as_str())
    }
    /// The amount granted.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.grant.amount)
    }
    /// Paid so far.
    async fn disbursed(&self) -> MoneyNode {
        MoneyNode(
            self.shared
                .disbursed
                .get(&self.grant.id)
                .copied()
                .unwrap_or(Money::ZERO),
        )
    }
    /// Posts paid for.
    async fn posts(&self) -> i32 {
        self.grant.posts
    }
    /// First day.
    async fn starts_on(&self) -> NaiveDate {
        self.grant.starts_on
    }
    /// Last day.
    async fn ends_on(&self) -> Option<NaiveDate> {
        self.grant.ends_on
    }
    /// Where it stands.
    async fn status(&self) -> GrantStatusGql {
        self.grant.status.into()
    }
    /// When it was signed (the moment it was recorded as signed).
    async fn signed_at(&self) -> Option<DateTime<Utc>> {
        self.grant.signed_at
    }
    /// The date of the funding decision: the rule in force that day applies.
    async fn decision_date(&self) -> Option<NaiveDate> {
        self.grant.decision_date
    }
    /// The date of signature: the month its amount is committed in.
    async fn signed_on(&self) -> Option<NaiveDate> {
        self.grant.signed_on
    }
    /// The date it was closed.
    async fn closed_on(&self) -> Option<NaiveDate> {
        self.grant.closed_on
    }
    /// Public or private, for a host structure (from the counsellors domain).
    async fn host_kind(&self) -> Option<HostKindGql> {
        self.grant.host_kind.map(Into::into)
    }
    /// The counsellors domain's post request (conventionnement) it pays for.
    async fn funded_posts_ref(&self) -> Option<&str> {
        self.grant.funded_posts_ref.as_deref()
    }
    /// The funding rule its amount was checked against (global ID of a `FundingRule`).
    async fn rule_id(&self) -> Option<ID> {
        self.grant.rule_id.map(|r| fid(FundingKind::Rule, r))
    }
    /// The contract's length in years, for a salary-based rule.
    async fn contract_years(&self) -> Option<i32> {
        self.grant.contract_years
    }
    /// What the rule gives; differs from `amount` only with an `overrideReason`.
    async fn expected_amount(&self) -> Option<MoneyNode> {
        self.grant.expected_amount.map(MoneyNode)
    }
    /// Why the amount differs from the rule's computation.
    async fn override_reason(&self) -> Option<&str> {
        self.grant.override_reason.as_deref()
    }
    /// The payments made, oldest first.
    async fn disbursements(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<DisbursementNode>> {
        let s = state(ctx)?;
        Ok(funding::list_disbursements(&s.db, self.grant.id)
            .await
            .gql()?
            .into_iter()
            .map(DisbursementNode)
            .collect())
    }
}

/// A payment made under a grant (no bank details: Maillage stores none).
pub struct DisbursementNode(funding::Disbursement);

#[Object(name = "Disbursement")]
impl DisbursementNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        fid(FundingKind::Disbursement, self.0.id)
    }
    /// The grant paid (its global ID).
    async fn grant_id(&self) -> ID {
        fid(FundingKind::Grant, self.0.grant_id)
    }
    /// Amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.0.amount)
    }
    /// Payment date.
    async fn paid_on(&self) -> NaiveDate {
        self.0.paid_on
    }
    /// Accounting reference.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
}

/// A page of grants.
pub struct GrantConnection {
    page: Page<GrantNode>,
}

/// A grant and its cursor.
#[derive(SimpleObject)]
pub struct GrantEdge {
    /// Pass it as `after` to continue after this grant.
    pub cursor: String,
    /// The grant.
    pub node: GrantNode,
}

#[Object]
impl GrantConnection {
    /// The grants with their cursors.
    async fn edges(&self) -> Vec<GrantEdge> {
        self.page
            .items
            .iter()
            .map(|(c, g)| GrantEdge {
                cursor: c.as_str().to_owned(),
                node: GrantNode {
                    grant: g.grant.clone(),
                    shared: Arc::clone(&g.shared),
                },
            })
            .collect()
    }
    /// The grants.
    async fn nodes(&self) -> Vec<GrantNode> {
        self.page
            .items
            .iter()
            .map(|(_, g)| GrantNode {
                grant: g.grant.clone(),
                shared: Arc::clone(&g.shared),
            })
            .collect()
    }
    /// Pagination.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.page.has_next_page,
            has_previous_page: self.page.has_previous_page,
            start_cursor: self.page.items.first().map(|(c, _)| c.as_str().to_owned()),
            end_cursor: self.page.items.last().map(|(c, _)| c.as_str().to_owned()),
        }
    }
    /// Number of grants matching the filter, all pages together (counted only when selected).
    async fn total_count(&self) -> i32 {
        self.page
            .total_count
            .map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX))
    }
}

async fn grant_context(
    ctx: &Context<'_>,
    grants: &[Grant],
) -> async_graphql::Result<Arc<GrantContext>> {
    let s = state(ctx)?;
    let envelopes = load_tree(ctx).await?;
    let disbursed = funding::disbursed_by_grant(&s.db, grants.iter().map(|g| g.id))
        .await
        .gql()?;
    Ok(Arc::new(GrantContext {
        envelopes,
        disbursed,
    }))
}

async fn grant_node(ctx: &Context<'_>, grant: Grant) -> async_graphql::Result<GrantNode> {
    let shared = grant_context(ctx, std::slice::from_ref(&grant)).await?;
    Ok(GrantNode { grant, shared })
}

async fn grant_page(
    ctx: &Context<'_>,
    filter: funding::GrantFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<GrantConnection> {
    let s = state(ctx)?;
    let with_total = ctx.look_ahead().field("totalCount").exists();
    let request = PageRequest::new(first, after.as_deref())
        .map_err(|e| to_gql(&e))?
        .with_total(with_total);
    let page = funding::list_grants(&s.db, &filter, &request).await.gql()?;
    let grants: Vec<Grant> = page.items.iter().map(|(_, g)| g.clone()).collect();
    let shared = grant_context(ctx, &grants).await?;
    Ok(GrantConnection {
        page: page.map(|grant| GrantNode {
            grant,
            shared: Arc::clone(&shared),
        }),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// Pass numérique
// ---------------------------------------------------------------------------------------------------------------

/// Vouchers issued and used by a programme on one day (negative for a correction).
#[derive(SimpleObject)]
pub struct VoucherMovementNode {
    /// The day.
    pub on: NaiveDate,
    /// Vouchers handed out.
    pub issued: i32,
    /// Vouchers used.
    pub used: i32,
}

/// A collectivité's Pass numérique programme: vouchers for training in the sites that accept them.
pub struct PassProgrammeNode(funding::PassProgramme);

#[Object(name = "PassProgramme")]
impl PassProgrammeNode {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        fid(FundingKind::PassProgramme, self.0.id)
    }
    /// Version, for `updatePassProgramme`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The collectivité.
    async fn collectivite(&self) -> &str {
        &self.0.collectivite
    }
    /// Its department.
    async fn department_code(&self) -> Option<&str> {
        self.0.department.as_ref().map(DepartmentCode::as_str)
    }
    /// The programme's amount.
    async fn amount(&self) -> MoneyNode {
        MoneyNode(self.0.amount)
    }
    /// Vouchers handed out.
    async fn vouchers_issued(&self) -> i32 {
        count(self.0.vouchers_issued)
    }
    /// Vouchers used.
    async fn vouchers_used(&self) -> i32 {
        count(self.0.vouchers_used)
    }
    /// The envelope its amount is committed in (global ID of an `Envelope`).
    async fn envelope_id(&self) -> Option<ID> {
        self.0.envelope_id.map(|e| fid(FundingKind::Envelope, e))
    }
    /// The day its convention was signed: the month its amount is committed in.
    async fn signed_on(&self) -> Option<NaiveDate> {
        self.0.signed_on
    }
    /// Vouchers issued and used, day by day (their sums are `vouchersIssued` and `vouchersUsed`).
    async fn voucher_movements(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<VoucherMovementNode>> {
        let s = state(ctx)?;
        Ok(funding::voucher_movements(&s.db, self.0.id)
            .await
            .gql()?
            .into_iter()
            .map(|m| VoucherMovementNode {
                on: m.moved_on,
                issued: count(m.issued),
                used: count(m.used),
            })
            .collect())
    }
    /// Global IDs of the sites accepting the vouchers.
    async fn site_ids(&self) -> Vec<ID> {
        self.0
            .sites
            .iter()
            .map(|s| encode(NodeKind::Site, s.0))
            .collect()
    }
    /// The sites accepting the vouchers (archived sites are left out).
    async fn sites(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SiteNode>> {
        let s = state(ctx)?;
        Ok(maillage_sites::sites_by_ids(&s.db, &self.0.sites)
            .await
            .gql()?
            .into_iter()
            .map(SiteNode::new)
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------------------------

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

/// Funding queries: open to everyone (totals and public names), contacts aside.
#[derive(Default)]
pub struct FundingQuery;

#[Object]
impl FundingQuery {
    /// The envelopes, parents before children; `rootsOnly` keeps the top lines (walk `children` from there).
    async fn envelopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] roots_only: bool,
    ) -> async_graphql::Result<Vec<EnvelopeNode>> {
        let tree = load_tree(ctx).await?;
        Ok(tree
            .envelopes
            .iter()
            .filter(|e| !roots_only || e.parent_id.is_none())
            .map(|e| EnvelopeNode {
                envelope: e.clone(),
                tree: Arc::clone(&tree),
            })
            .collect())
    }

    /// One envelope, by global ID or by code.
    async fn envelope(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        code: Option<String>,
    ) -> async_graphql::Result<Option<EnvelopeNode>> {
        let wanted = match (&id, &code) {
            (Some(id), None) => Some(
                decode_fid(id, FundingKind::Envelope)
                    .map_err(|m| coded(&m, "invalid_id", Some("id".to_owned())))?,
            ),
            (None, Some(_)) => None,
            _ => {
                return Err(coded(
                    "give exactly one of id and code",
                    "invalid_value",
                    None,
                ));
            }
        };
        let tree = load_tree(ctx).await?;
        Ok(tree
            .envelopes
            .iter()
            .find(|e| match (wanted, &code) {
                (Some(id), _) => e.id == id,
                (None, Some(code)) => e.code.eq_ignore_ascii_case(code.trim()),
                (None, None) => false,
            })
            .map(|e| EnvelopeNode {
                envelope: e.clone(),
                tree: Arc::clone(&tree),
            }))
    }

    /// Every funding rule, past and present (both sources of `DOMAIN.md` are rows).
    async fn funding_rules(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<FundingRuleNode>> {
        let s = state(ctx)?;
        Ok(funding::list_rules(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(FundingRuleNode)
            .collect())
    }

    /// The dated values of the reference salaries the salary-based rules use (the SMIC).
    async fn reference_salaries(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ReferenceSalaryNode>> {
        let s = state(ctx)?;
        Ok(funding::list_reference_salaries(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(|r| ReferenceSalaryNode {
                code: r.code,
                valid_from: r.valid_from,
                monthly: MoneyNode(r.monthly),
                source: r.source,
            })
            .collect())
    }

    /// What a host of `hostKind` in `department` would receive for `posts` posts on `date` (default: today), with
    /// the rule applied and the computation line by line: under the fixed-amount rules, or, with `contractYears`,
    /// under the salary-based rule for a contract of that length (100 % of the SMIC over 2 years, 70 % over 3).
    async fn grant_quote(
        &self,
        ctx: &Context<'_>,
        host_kind: HostKindGql,
        department: Option<String>,
        posts: i32,
        date: Option<NaiveDate>,
        contract_years: Option<i32>,
    ) -> async_graphql::Result<GrantQuoteNode> {
        let s = state(ctx)?;
        let department = department
            .as_deref()
            .map(DepartmentCode::parse)
            .transpose()
            .map_err(|e| {
                coded(
                    &e.to_string(),
                    "invalid_value",
                    Some("department".to_owned()),
                )
            })?;
        let quote = funding::grant_quote(
            &s.db,
            host_kind.into(),
            department.as_ref(),
            posts,
            date.unwrap_or_else(|| Utc::now().date_naive()),
            contract_years,
        )
        .await
        .gql()?;
        Ok(GrantQuoteNode {
            rule: FundingRuleNode(quote.rule),
            lines: quote
                .lines
                .into_iter()
                .map(|l| QuoteLineNode {
                    label: l.label,
                    unit: MoneyNode(l.unit),
                    posts: l.posts,
                    total: MoneyNode(l.total),
                    detail: l.detail,
                })
                .collect(),
            total: MoneyNode(quote.total),
        })
    }

    /// Grants, by id; contacts only for those who may read them.
    async fn grants(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: GrantFilterInput,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<GrantConnection> {
        let mut f = funding::GrantFilter {
            statuses: filter
                .status
                .map(|s| s.into_iter().map(Into::into).collect()),
            ..funding::GrantFilter::default()
        };
        if let Some(ids) = &filter.envelopes {
            let tree = load_tree(ctx).await?;
            let mut all = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let root = decode_fid(id, FundingKind::Envelope)
                    .map_err(|m| coded(&m, "invalid_id", Some(format!("filter.envelopes[{i}]"))))?;
                let mut stack = vec![root];
                while let Some(e) = stack.pop() {
                    if !all.contains(&e) {
                        all.push(e);
                        stack.extend(
                            tree.envelopes
                                .iter()
                                .filter(|c| c.parent_id == Some(e))
                                .map(|c| c.id),
                        );
                    }
                }
            }
            f.envelopes = Some(all);
        }
        if let Some(d) = &filter.department {
            f.department = Some(DepartmentCode::parse(d).map_err(|e| {
                coded(
                    &e.to_string(),
                    "invalid_value",
                    Some("filter.department".to_owned()),
                )
            })?);
        }
        if let Some(h) = &filter.hub {
            f.hub = Some(HubId(decode_int(h, NodeKind::Hub)?));
        }
        grant_page(ctx, f, first, after).await
    }

    /// One grant.
    async fn grant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<GrantNode>> {
        let s = state(ctx)?;
        let id = decode_fid(&id, FundingKind::Grant)
            .map_err(|m| coded(&m, "invalid_id", Some("id".to_owned())))?;
        match funding::get_grant(&s.db, id).await.gql()? {
            Some(g) => Ok(Some(grant_node(ctx, g).await?)),
            None => Ok(None),
        }
    }

    /// The Pass numérique programmes, by collectivité.
    async fn pass_programmes(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PassProgrammeNode>> {
        let s = state(ctx)?;
        Ok(funding::list_pass_programmes(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(PassProgrammeNode)
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------------------------

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
    pub valid_from: NaiveDate,
    /// Last day (inclusive); omit: open-ended.
    pub valid_to: Option<NaiveDate>,
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
    pub decision_date: Option<NaiveDate>,
    /// Why the amount differs from the rule's computation (audited); required when it does.
    pub override_reason: Option<String>,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day.
    pub ends_on: Option<NaiveDate>,
}

/// A grant recorded with its real dates (admins): historical conventions.
#[derive(InputObject)]
pub struct RecordGrantInput {
    /// The grant.
    pub grant: CreateGrantInput,
    /// The day it was signed: it then commits its amount from that month (under the envelope's locks).
    pub signed_on: Option<NaiveDate>,
    /// The day it was closed (needs `signedOn`).
    pub closed_on: Option<NaiveDate>,
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
    /// The envelope its amount is committed in (global ID; default: the `PASS` envelope).
    pub envelope_id: Option<ID>,
    /// The day its convention was signed (default: today).
    pub signed_on: Option<NaiveDate>,
    /// The day the voucher counts became the ones given (default: today); changes are recorded as dated movements.
    pub vouchers_on: Option<NaiveDate>,
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

/// Result of `createEnvelope` and `updateEnvelope`.
#[derive(SimpleObject)]
pub struct EnvelopePayload {
    /// The envelope, unless there were user errors.
    pub envelope: Option<EnvelopeNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `createFundingRule` and `updateFundingRule`.
#[derive(SimpleObject)]
pub struct FundingRulePayload {
    /// The rule, unless there were user errors.
    pub rule: Option<FundingRuleNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of the grant mutations.
#[derive(SimpleObject)]
pub struct GrantPayload {
    /// The grant, unless there were user errors.
    pub grant: Option<GrantNode>,
    /// Business errors; empty on success (`envelope_exceeded` when signing would over-commit).
    pub user_errors: Vec<UserError>,
}

/// Result of `recordDisbursement`.
#[derive(SimpleObject)]
pub struct DisbursementPayload {
    /// The payment, unless there were user errors.
    pub disbursement: Option<DisbursementNode>,
    /// Business errors; empty on success (`grant_exceeded` when it would pay more than granted).
    pub user_errors: Vec<UserError>,
}

/// Result of the Pass numérique mutations.
#[derive(SimpleObject)]
pub struct PassProgrammePayload {
    /// The programme, unless there were user errors.
    pub programme: Option<PassProgrammeNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

async fn envelope_node(ctx: &Context<'_>, id: i32) -> async_graphql::Result<Option<EnvelopeNode>> {
    let tree = load_tree(ctx).await?;
    Ok(tree
        .envelopes
        .iter()
        .find(|e| e.id == id)
        .map(|e| EnvelopeNode {
            envelope: e.clone(),
            tree: Arc::clone(&tree),
        }))
}

fn parse_department(
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

fn rule_input(
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
        salary: input.salary.map(|s| funding::SalaryShare {
            reference: s.reference,
            share_pct: s.share_pct,
            years: s.years,
        }),
    }
}

fn programme_input(
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
        .map(|e| decode_fid(e, FundingKind::Envelope))
    {
        Some(Ok(e)) => Some(e),
        Some(Err(m)) => {
            errors.push(id_error(FieldPath::new("input").push("envelopeId"), m));
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
        signed_on: input.signed_on,
        vouchers_on: input.vouchers_on,
    }
}

/// Funding mutations: grants, payments and Pass numérique for BdT reviewers and admins; envelopes and rules for
/// admins. Every one checks a version where it changes a record, and answers business refusals as `userErrors`.
#[derive(Default)]
pub struct FundingMutation;

#[Object]
impl FundingMutation {
    /// Creates an envelope (admins).
    async fn create_envelope(
        &self,
        ctx: &Context<'_>,
        input: CreateEnvelopeInput,
    ) -> async_graphql::Result<EnvelopePayload> {
        let actor = writer(ctx)?;
        let parent_id = match input
            .parent_id
            .as_ref()
            .map(|p| decode_fid(p, FundingKind::Envelope))
        {
            Some(Err(m)) => {
                return Ok(EnvelopePayload {
                    envelope: None,
                    user_errors: vec![id_error(FieldPath::new("input").push("parentId"), m)],
                });
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let s = state(ctx)?;
        let new = funding::NewEnvelope {
            parent_id,
            code: input.code,
            name: input.name,
            amount: Money(input.amount.0),
            source: input.source,
            target: input.target.map(Into::into),
        };
        match funding::create_envelope(&s.db, &actor, new).await {
            Ok(e) => Ok(EnvelopePayload {
                envelope: envelope_node(ctx, e.id).await?,
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(EnvelopePayload {
                envelope: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Changes an envelope at the given version (admins); its amount cannot go below what is committed.
    async fn update_envelope(
        &self,
        ctx: &Context<'_>,
        input: UpdateEnvelopeInput,
    ) -> async_graphql::Result<EnvelopePayload> {
        let actor = writer(ctx)?;
        let id = match decode_fid(&input.id, FundingKind::Envelope) {
            Ok(id) => id,
            Err(m) => {
                return Ok(EnvelopePayload {
                    envelope: None,
                    user_errors: vec![id_error(FieldPath::new("input").push("id"), m)],
                });
            }
        };
        let patch = funding::EnvelopePatch {
            name: input.name,
            amount: input.amount.map(|c| Money(c.0)),
            source: match input.source {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            target: match input.target {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v.into())),
            },
        };
        let s = state(ctx)?;
        match funding::update_envelope(&s.db, &actor, id, input.version, patch).await {
            Ok(e) => Ok(EnvelopePayload {
                envelope: envelope_node(ctx, e.id).await?,
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(EnvelopePayload {
                envelope: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Adds a funding rule (admins).
    async fn create_funding_rule(
        &self,
        ctx: &Context<'_>,
        input: FundingRuleInput,
    ) -> async_graphql::Result<FundingRulePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let new = rule_input(input, "department", &mut errors);
        if !errors.is_empty() {
            return Ok(FundingRulePayload {
                rule: None,
                user_errors: errors,
            });
        }
        let s = state(ctx)?;
        match funding::create_rule(&s.db, &actor, new).await {
            Ok(r) => Ok(FundingRulePayload {
                rule: Some(FundingRuleNode(r)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(FundingRulePayload {
                rule: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Replaces a funding rule's content at the given version (admins), e.g. to end it with `validTo`.
    async fn update_funding_rule(
        &self,
        ctx: &Context<'_>,
        input: UpdateFundingRuleInput,
    ) -> async_graphql::Result<FundingRulePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = decode_fid(&input.id, FundingKind::Rule)
            .map_err(|m| errors.push(id_error(FieldPath::new("input").push("id"), m)))
            .ok();
        let new = rule_input(input.rule, "rule", &mut errors);
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(FundingRulePayload {
                rule: None,
                user_errors: errors,
            });
        };
        let s = state(ctx)?;
        match funding::update_rule(&s.db, &actor, id, input.version, new).await {
            Ok(r) => Ok(FundingRulePayload {
                rule: Some(FundingRuleNode(r)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(FundingRulePayload {
                rule: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Records a draft grant (BdT reviewers, admins): it commits nothing until signed. Refused with userErrors
    /// when the beneficiary does not exist (`not_found`), when a host structure's amount differs from the rule's
    /// computation without `overrideReason` (`amount_mismatch`, naming the rule and the expected amount), or when it
    /// pays more posts than were granted (`exceeds_funded_posts`); all of them at once.
    async fn create_grant(
        &self,
        ctx: &Context<'_>,
        input: CreateGrantInput,
    ) -> async_graphql::Result<GrantPayload> {
        let actor = writer(ctx)?;
        let new = match grant_input(input) {
            Ok(new) => new,
            Err(errors) => {
                return Ok(GrantPayload {
                    grant: None,
                    user_errors: errors,
                });
            }
        };
        let s = state(ctx)?;
        let directory = Directory {
            db: &s.db,
            actor: &actor,
        };
        let result = funding::create_grant(&s.db, &actor, &directory, new).await;
        grant_payload(ctx, result).await
    }

    /// Records a grant with its real decision, signature and closing dates (admins; audited): a historical
    /// convention. Checked like `createGrant`; when signed it commits its amount in its envelope from the month of
    /// `signedOn`, refused with `envelope_exceeded` beyond the room left.
    async fn record_grant(
        &self,
        ctx: &Context<'_>,
        input: RecordGrantInput,
    ) -> async_graphql::Result<GrantPayload> {
        let actor = writer(ctx)?;
        let dates = funding::GrantDates {
            signed_on: input.signed_on,
            closed_on: input.closed_on,
        };
        let new = match grant_input(input.grant) {
            Ok(new) => new,
            Err(errors) => {
                return Ok(GrantPayload {
                    grant: None,
                    user_errors: errors,
                });
            }
        };
        let s = state(ctx)?;
        let directory = Directory {
            db: &s.db,
            actor: &actor,
        };
        let result = funding::record_grant(&s.db, &actor, &directory, new, dates).await;
        grant_payload(ctx, result).await
    }

    /// Signs a draft grant: refused with `envelope_exceeded` if its envelope, or any envelope above it, would be
    /// over-committed — decided inside the database transaction, so concurrent signatures cannot both pass.
    async fn sign_grant(
        &self,
        ctx: &Context<'_>,
        input: GrantVersionInput,
    ) -> async_graphql::Result<GrantPayload> {
        grant_transition(ctx, input, Transition::Sign).await
    }

    /// Closes a signed grant: no more payments; its amount stays committed.
    async fn close_grant(
        &self,
        ctx: &Context<'_>,
        input: GrantVersionInput,
    ) -> async_graphql::Result<GrantPayload> {
        grant_transition(ctx, input, Transition::Close).await
    }

    /// Cancels a draft, or a signed grant nothing was paid under (its amount is released).
    async fn cancel_grant(
        &self,
        ctx: &Context<'_>,
        input: GrantVersionInput,
    ) -> async_graphql::Result<GrantPayload> {
        grant_transition(ctx, input, Transition::Cancel).await
    }

    /// Records a payment under a signed grant: refused with `grant_exceeded` if payments would exceed the grant.
    async fn record_disbursement(
        &self,
        ctx: &Context<'_>,
        input: RecordDisbursementInput,
    ) -> async_graphql::Result<DisbursementPayload> {
        let actor = writer(ctx)?;
        let grant_id = match decode_fid(&input.grant_id, FundingKind::Grant) {
            Ok(id) => id,
            Err(m) => {
                return Ok(DisbursementPayload {
                    disbursement: None,
                    user_errors: vec![id_error(FieldPath::new("input").push("grantId"), m)],
                });
            }
        };
        let s = state(ctx)?;
        let new = funding::NewDisbursement {
            grant_id,
            amount: Money(input.amount.0),
            paid_on: input.paid_on,
            reference: input.reference,
        };
        match funding::record_disbursement(&s.db, &actor, new).await {
            Ok(d) => Ok(DisbursementPayload {
                disbursement: Some(DisbursementNode(d)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(DisbursementPayload {
                disbursement: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Records a collectivité's Pass numérique programme (BdT reviewers, admins).
    async fn create_pass_programme(
        &self,
        ctx: &Context<'_>,
        input: PassProgrammeInput,
    ) -> async_graphql::Result<PassProgrammePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let data = programme_input(input, &mut errors);
        if !errors.is_empty() {
            return Ok(PassProgrammePayload {
                programme: None,
                user_errors: errors,
            });
        }
        let s = state(ctx)?;
        match funding::create_pass_programme(&s.db, &actor, data).await {
            Ok(p) => Ok(PassProgrammePayload {
                programme: Some(PassProgrammeNode(p)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(PassProgrammePayload {
                programme: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Replaces a Pass numérique programme's content at the given version (BdT reviewers, admins).
    async fn update_pass_programme(
        &self,
        ctx: &Context<'_>,
        input: UpdatePassProgrammeInput,
    ) -> async_graphql::Result<PassProgrammePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = decode_fid(&input.id, FundingKind::PassProgramme)
            .map_err(|m| errors.push(id_error(FieldPath::new("input").push("id"), m)))
            .ok();
        let data = programme_input(input.programme, &mut errors);
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(PassProgrammePayload {
                programme: None,
                user_errors: errors,
            });
        };
        let s = state(ctx)?;
        match funding::update_pass_programme(&s.db, &actor, id, input.version, data).await {
            Ok(p) => Ok(PassProgrammePayload {
                programme: Some(PassProgrammeNode(p)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(PassProgrammePayload {
                programme: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}

fn grant_input(input: CreateGrantInput) -> Result<funding::NewGrant, Vec<UserError>> {
    let mut errors = Vec::new();
    let envelope_id = decode_fid(&input.envelope_id, FundingKind::Envelope)
        .map_err(|m| errors.push(id_error(FieldPath::new("input").push("envelopeId"), m)))
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
        decision_date: input.decision_date,
        starts_on: input.starts_on,
        ends_on: input.ends_on,
        override_reason: input.override_reason,
    })
}

async fn grant_payload(
    ctx: &Context<'_>,
    result: Result<Grant, FundingError>,
) -> async_graphql::Result<GrantPayload> {
    match result {
        Ok(g) => Ok(GrantPayload {
            grant: Some(grant_node(ctx, g).await?),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(GrantPayload {
            grant: None,
            user_errors: classify(&e)?,
        }),
    }
}

#[derive(Clone, Copy)]
enum Transition {
    Sign,
    Close,
    Cancel,
}

async fn grant_transition(
    ctx: &Context<'_>,
    input: GrantVersionInput,
    transition: Transition,
) -> async_graphql::Result<GrantPayload> {
    let actor = writer(ctx)?;
    let id = match decode_fid(&input.id, FundingKind::Grant) {
        Ok(id) => id,
        Err(m) => {
            return Ok(GrantPayload {
                grant: None,
                user_errors: vec![id_error(FieldPath::new("input").push("id"), m)],
            });
        }
    };
    let s = state(ctx)?;
    let result = match transition {
        Transition::Sign => funding::sign_grant(&s.db, &actor, id, input.version).await,
        Transition::Close => funding::close_grant(&s.db, &actor, id, input.version).await,
        Transition::Cancel => funding::cancel_grant(&s.db, &actor, id, input.version).await,
    };
    grant_payload(ctx, result).await
}
