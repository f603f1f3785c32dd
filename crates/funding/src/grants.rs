//! Grants (conventions) and their disbursements, with the two invariants enforced inside the write transaction:
//! signed grants never exceed their envelope chain, disbursements never exceed their grant.

use crate::FundingError;
use crate::access::{require_admin, require_manager};
use crate::beneficiary::{BeneficiaryClaim, BeneficiaryDirectory, VerifiedBeneficiary};
use crate::entity::{disbursement, grant};
use crate::envelopes::{check_room, lock_chain};
use crate::model::{BeneficiaryKind, Disbursement, Grant, GrantStatus, HostKind};
use crate::money::Money;
use crate::rules::quote_from;
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::Paris;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::sync::SyncOptions;
use maillage_core::{Actor, DepartmentCode, HubId, RegionCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use std::collections::HashMap;

pub(crate) fn from_model(m: grant::Model) -> Result<Grant, FundingError> {
    let corrupt = |detail: String| FundingError::CorruptRow {
        entity: "funding_grant",
        id: m.id,
        detail,
    };
    let beneficiary_kind = BeneficiaryKind::parse(&m.beneficiary_kind)
        .ok_or_else(|| corrupt(format!("beneficiary kind {:?}", m.beneficiary_kind)))?;
    let status =
        GrantStatus::parse(&m.status).ok_or_else(|| corrupt(format!("status {:?}", m.status)))?;
    let department = match m.department_code.as_deref() {
        Some(d) => Some(DepartmentCode::parse(d).map_err(|e| corrupt(e.to_string()))?),
        None => None,
    };
    let region = match m.region_code.as_deref() {
        Some(r) => Some(RegionCode::parse(r).map_err(|e| corrupt(e.to_string()))?),
        None => None,
    };
    Ok(Grant {
        id: m.id,
        envelope_id: m.envelope_id,
        beneficiary_kind,
        beneficiary_ref: m.beneficiary_ref,
        beneficiary_name: m.beneficiary_name,
        contact: m.contact,
        hub: m.hub_id.map(HubId),
        department,
        region,
        amount: Money(m.amount_cents),
        posts: m.posts,
        starts_on: m.starts_on,
        ends_on: m.ends_on,
        status,
        signed_at: m.signed_at,
        host_kind: match m.host_kind.as_deref() {
            Some(k) => Some(HostKind::parse(k).ok_or_else(|| corrupt(format!("host kind {k:?}")))?),
            None => None,
        },
        funded_posts_ref: m.funded_posts_ref,
        rule_id: m.rule_id,
        contract_years: m.contract_years,
        expected_amount: m.expected_amount_cents.map(Money),
        override_reason: m.override_reason,
        decision_date: m.decision_date,
        signed_on: m.signed_on,
        closed_on: m.closed_on,
        version: m.version,
        updated_at: m.updated_at,
    })
}

fn disbursement_from(m: disbursement::Model) -> Disbursement {
    Disbursement {
        id: m.id,
        grant_id: m.grant_id,
        amount: Money(m.amount_cents),
        paid_on: m.paid_on,
        reference: m.reference,
    }
}

/// One grant.
pub async fn get_grant<C: ConnectionTrait>(db: &C, id: i32) -> Result<Option<Grant>, FundingError> {
    grant::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(from_model)
        .transpose()
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    /// Only grants drawing on these envelopes (exactly these; the caller expands a subtree if it wants one).
    pub envelopes: Option<Vec<i32>>,
    /// Only grants in these states.
    pub statuses: Option<Vec<GrantStatus>>,
    /// Only grants in this department.
    pub department: Option<DepartmentCode>,
    /// Only grants of this hub.
    pub hub: Option<HubId>,
}

/// Grants by id, one page at a time.
pub async fn list_grants<C: ConnectionTrait>(
    db: &C,
    filter: &GrantFilter,
    page: &PageRequest,
) -> Result<Page<Grant>, FundingError> {
    list_grants_synced(db, filter, &SyncOptions::default(), page).await
}

/// Grants matching `filter` and `sync` (`updatedSince`, `(updated_at, id)` order).
pub async fn list_grants_synced<C: ConnectionTrait>(
    db: &C,
    filter: &GrantFilter,
    sync: &SyncOptions,
    page: &PageRequest,
) -> Result<Page<Grant>, FundingError> {
    let mut q = grant::Entity::find().filter(sync.condition(grant::Column::UpdatedAt));
    if let Some(e) = &filter.envelopes {
        q = q.filter(grant::Column::EnvelopeId.is_in(e.clone()));
    }
    if let Some(s) = &filter.statuses {
        q = q.filter(grant::Column::Status.is_in(s.iter().map(|s| s.as_str())));
    }
    if let Some(d) = &filter.department {
        q = q.filter(grant::Column::DepartmentCode.eq(d.as_str()));
    }
    if let Some(h) = filter.hub {
        q = q.filter(grant::Column::HubId.eq(h.0));
    }
    let total = if page.with_total {
        Some(q.clone().count(db).await?)
    } else {
        None
    };
    let scan = sync.scan(page);
    if let Some(after) = &page.after {
        q = q.filter(scan.after(grant::Column::UpdatedAt, grant::Column::Id, after)?);
    }
    let rows = maillage_core::db::page_rows(
        db,
        scan.order(q, grant::Column::UpdatedAt, grant::Column::Id)
            .limit(u64::from(page.first) + 1),
    )
    .await?
    .into_iter()
    .map(from_model)
    .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, page, total, |g| {
        sync.cursor(g.updated_at, g.id)
    }))
}

/// The payments of one grant, oldest first.
pub async fn list_disbursements<C: ConnectionTrait>(
    db: &C,
    grant_id: i32,
) -> Result<Vec<Disbursement>, FundingError> {
    Ok(disbursement::Entity::find()
        .filter(disbursement::Column::GrantId.eq(grant_id))
        .order_by_asc(disbursement::Column::PaidOn)
        .order_by_asc(disbursement::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(disbursement_from)
        .collect())
}

/// What has been paid under each of these grants (one statement).
pub async fn disbursed_by_grant<C: ConnectionTrait>(
    db: &C,
    grants: impl IntoIterator<Item = i32>,
) -> Result<HashMap<i32, Money>, FundingError> {
    let ids: Vec<i32> = grants.into_iter().collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = disbursement::Entity::find()
        .filter(disbursement::Column::GrantId.is_in(ids))
        .all(db)
        .await?;
    let mut out: HashMap<i32, Money> = HashMap::new();
    for r in rows {
        let e = out.entry(r.grant_id).or_default();
        *e = *e + Money(r.amount_cents);
    }
    Ok(out)
}

async fn disbursed_of<C: ConnectionTrait>(db: &C, grant_id: i32) -> Result<Money, FundingError> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) AS total FROM funding_disbursement WHERE grant_id = $1"
                }
                _ => {
                    "SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) AS total FROM funding_disbursement WHERE grant_id = ?"
                }
            },
            [grant_id.into()],
        ))
        .await?;
    let total: i64 = match row {
        Some(r) => r.try_get("", "total")?,
        None => 0,
    };
    Ok(Money(total))
}

/// A new grant. Its beneficiary is a claim, resolved in its own domain through a [`BeneficiaryDirectory`]; for a
/// host structure its amount is checked against the funding rule in force at its decision date.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The envelope it draws on.
    pub envelope_id: i32,
    /// Who it pays, as the caller names it.
    pub beneficiary: BeneficiaryClaim,
    /// A contact (personal data: hidden from anonymous callers). Never bank details.
    pub contact: Option<String>,
    /// Amount.
    pub amount: Money,
    /// Posts paid for (host structures: at least 1, at most the posts granted to the post request).
    pub posts: i32,
    /// The contract's length in years, when the grant follows a salary-based rule (100 % of the SMIC over 2
    /// years, 70 % over 3); `None`: the fixed-amount rules.
    pub contract_years: Option<i32>,
    /// The date of the funding decision (default: today): the rule in force that day applies.
    pub decision_date: Option<NaiveDate>,
    /// First day.
    pub starts_on: NaiveDate,
    /// Last day.
    pub ends_on: Option<NaiveDate>,
    /// Why the amount differs from the rule's computation; required when it does (audited).
    pub override_reason: Option<String>,
}

/// The real dates of a grant recorded after the fact (historical records and imports).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantDates {
    /// The day it was signed: the grant is then signed and commits its amount from that month.
    pub signed_on: Option<NaiveDate>,
    /// The day it was closed (needs `signed_on`).
    pub closed_on: Option<NaiveDate>,
}

fn check_grant(new: &NewGrant) -> Result<(), FundingError> {
    let f = |name: &str| FieldPath::new("input").push(name);
    let r = new.beneficiary.reference.trim();
    if r.is_empty() || r.len() > 200 {
        return Err(FundingError::invalid(
            f("beneficiary").push("reference"),
            Code::InvalidValue,
            "the beneficiary's reference must have 1 to 200 characters",
        ));
    }
    if new.amount <= Money::ZERO {
        return Err(FundingError::invalid(
            f("amount"),
            Code::InvalidValue,
            "a grant's amount must be positive",
        ));
    }
    if !(0..=10_000).contains(&new.posts) {
        return Err(FundingError::invalid(
            f("posts"),
            Code::InvalidValue,
            "posts must be between 0 and 10000",
        ));
    }
    if new.contract_years.is_some_and(|y| !(1..=10).contains(&y)) {
        return Err(FundingError::invalid(
            f("contractYears"),
            Code::InvalidValue,
            "contractYears must be between 1 and 10",
        ));
    }
    if new.ends_on.is_some_and(|e| e < new.starts_on) {
        return Err(FundingError::invalid(
            f("endsOn"),
            Code::InvalidValue,
            "endsOn must not be before startsOn",
        ));
    }
    if new
        .override_reason
        .as_deref()
        .is_some_and(|r| r.trim().is_empty() || r.len() > 2000)
    {
        return Err(FundingError::invalid(
            f("overrideReason"),
            Code::InvalidValue,
            "an override reason must have 1 to 2000 characters",
        ));
    }
    Ok(())
}

fn check_dates(decision: NaiveDate, dates: GrantDates) -> Result<(), FundingError> {
    let f = |name: &str| FieldPath::new("input").push(name);
    if let Some(signed) = dates.signed_on
        && signed < decision
    {
        return Err(FundingError::invalid(
            f("signedOn"),
            Code::InvalidValue,
            format!("signedOn ({signed}) must not be before the decision ({decision})"),
        ));
    }
    match (dates.signed_on, dates.closed_on) {
        (None, Some(_)) => Err(FundingError::invalid(
            f("closedOn"),
            Code::InvalidValue,
            "a grant is closed only after it was signed: give signedOn",
        )),
        (Some(signed), Some(closed)) if closed < signed => Err(FundingError::invalid(
            f("closedOn"),
            Code::InvalidValue,
            format!("closedOn ({closed}) must not be before signedOn ({signed})"),
        )),
        _ => Ok(()),
    }
}

/// The region of a grant's department, refusing a department the territories do not know.
async fn region_of<C: ConnectionTrait>(
    db: &C,
    department: Option<&DepartmentCode>,
) -> Result<Option<RegionCode>, FundingError> {
    let Some(d) = department else {
        return Ok(None);
    };
    let found = maillage_territories::departments_by_codes(db, std::slice::from_ref(d)).await?;
    match found.into_iter().next() {
        Some(dep) => Ok(Some(dep.region_code)),
        None => Err(FundingError::invalid(
            FieldPath::new("input")
                .push("beneficiary")
                .push("department"),
            Code::UnknownValue,
            format!("unknown department {d}"),
        )),
    }
}

/// A grant checked against its beneficiary and its rule, ready to be written.
#[derive(Debug, Clone)]
pub struct CheckedGrant {
    new: NewGrant,
    beneficiary: VerifiedBeneficiary,
    region: Option<RegionCode>,
    decision_date: NaiveDate,
    rule_id: Option<i32>,
    expected: Option<Money>,
}

impl CheckedGrant {
    /// The amount the rule gives, when one applies.
    pub fn expected_amount(&self) -> Option<Money> {
        self.expected
    }
}

/// Checks a grant against its beneficiary (resolved through `directory`) and, for a host structure, against the
/// funding rule in force at its decision date and the posts it pays for. Every problem found is reported at once
/// (`FundingError::Several` when there are more than one): an unknown beneficiary, an amount that differs from the
/// rule's computation without an override reason (the error names the rule and the expected amount), more posts
/// than the post request was granted.
///
/// Reads only (rules, reference salaries, territories): call it before opening the write transaction.
pub async fn check_grant_against<C: ConnectionTrait, D: BeneficiaryDirectory>(
    db: &C,
    directory: &D,
    new: NewGrant,
) -> Result<CheckedGrant, FundingError> {
    check_grant(&new)?;
    let claim = &new.beneficiary;
    let field = |name: &str| FieldPath::new("input").push("beneficiary").push(name);
    let decision_date = new
        .decision_date
        .unwrap_or_else(|| Utc::now().with_timezone(&Paris).date_naive());
    let resolved = directory
        .resolve(claim)
        .await
        .map_err(FundingError::Directory)?;
    let mut errors = Vec::new();
    if resolved.is_none() {
        errors.push(FundingError::invalid(
            field("reference"),
            Code::NotFound,
            format!("no {} {:?}", claim.kind, claim.reference.trim()),
        ));
    }
    if let Some(v) = &resolved {
        if v.kind != claim.kind {
            errors.push(FundingError::invalid(
                field("kind"),
                Code::InvalidValue,
                format!(
                    "{:?} is a {}, not a {}",
                    claim.reference, v.kind, claim.kind
                ),
            ));
        }
        if let (Some(said), Some(is)) = (claim.host_kind, v.host_kind)
            && said != is
        {
            errors.push(FundingError::invalid(
                field("hostKind"),
                Code::InvalidValue,
                format!("{} is a {is} host, not a {said} one", v.name),
            ));
        }
        if let (Some(said), Some(is)) = (&claim.department, &v.department)
            && said != is
        {
            errors.push(FundingError::invalid(
                field("department"),
                Code::InvalidValue,
                format!("{} is in department {is}, not {said}", v.name),
            ));
        }
    }
    let host_kind = resolved
        .as_ref()
        .and_then(|v| v.host_kind)
        .or(claim.host_kind);
    let department = resolved
        .as_ref()
        .and_then(|v| v.department.clone())
        .or_else(|| claim.department.clone());
    let mut rule_id = None;
    let mut expected = None;
    if claim.kind == BeneficiaryKind::HostStructure {
        if new.posts < 1 {
            errors.push(FundingError::invalid(
                FieldPath::new("input").push("posts"),
                Code::InvalidValue,
                "a host structure's grant pays for at least one post",
            ));
        }
        if let Some(v) = &resolved {
            match (&claim.funded_posts, &v.funded_posts) {
                (None, _) => errors.push(FundingError::invalid(
                    field("fundedPosts"),
                    Code::InvalidValue,
                    "a host structure's grant names the post request (conventionnement) it pays for",
                )),
                (Some(r), None) => errors.push(FundingError::invalid(
                    field("fundedPosts"),
                    Code::NotFound,
                    format!("{} has no post request {r:?}", v.name),
                )),
                (Some(_), Some(fp)) if new.posts > fp.granted => {
                    errors.push(FundingError::invalid(
                        FieldPath::new("input").push("posts"),
                        Code::ExceedsFundedPosts,
                        format!(
                            "{} posts, but the post request {} of {} was granted {}",
                            new.posts, fp.reference, v.name, fp.granted
                        ),
                    ));
                }
                _ => {}
            }
        }
        if let Some(kind) = host_kind
            && new.posts >= 1
        {
            let rules = crate::rules::list_rules(db).await?;
            let salaries = crate::rules::list_reference_salaries(db).await?;
            match quote_from(
                &rules,
                &salaries,
                kind,
                department.as_ref(),
                new.posts,
                decision_date,
                new.contract_years,
            ) {
                Ok(q) => {
                    rule_id = Some(q.rule.id);
                    expected = Some(q.total);
                    if q.total != new.amount && new.override_reason.is_none() {
                        errors.push(FundingError::invalid(
                            FieldPath::new("input").push("amount"),
                            Code::AmountMismatch,
                            format!(
                                "{} differs from the {} computed by {} for {} posts decided on {decision_date} ({}); \
                                 give an overrideReason to record a different amount",
                                new.amount,
                                q.total,
                                q.rule.describe(),
                                new.posts,
                                q.lines
                                    .iter()
                                    .map(|l| format!("{}: {}", l.label, l.detail))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ),
                        ));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
    } else if new.contract_years.is_some() {
        errors.push(FundingError::invalid(
            FieldPath::new("input").push("contractYears"),
            Code::InvalidValue,
            "only a host structure's grant follows a salary-based rule",
        ));
    }
    let region = match region_of(db, department.as_ref()).await {
        Ok(r) => r,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if let Some(e) = FundingError::all(errors) {
        return Err(e);
    }
    let mut beneficiary = resolved.ok_or_else(|| {
        FundingError::invalid(field("reference"), Code::NotFound, "no such beneficiary")
    })?;
    beneficiary.host_kind = host_kind;
    beneficiary.department = department;
    Ok(CheckedGrant {
        new,
        beneficiary,
        region,
        decision_date,
        rule_id,
        expected,
    })
}

/// Writes a checked grant in the caller's write transaction, in the state its dates give (draft, signed, closed);
/// a committing grant takes its envelope chain's locks and is refused beyond the room left (`envelope_exceeded`).
pub(crate) async fn insert_checked<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    checked: &CheckedGrant,
    dates: GrantDates,
    via: &str,
) -> Result<Grant, FundingError> {
    let new = &checked.new;
    let v = &checked.beneficiary;
    check_dates(checked.decision_date, dates)?;
    let status = match (dates.signed_on, dates.closed_on) {
        (_, Some(_)) => GrantStatus::Closed,
        (Some(_), None) => GrantStatus::Signed,
        (None, None) => GrantStatus::Draft,
    };
    if status.commits() {
        // `lock_chain` reports a missing envelope as `not_found`.
        let chain = lock_chain(txn, new.envelope_id).await?;
        check_room(txn, &chain, new.amount).await?;
    } else if crate::envelopes::get_envelope(txn, new.envelope_id)
        .await?
        .is_none()
    {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("envelopeId"),
            Code::NotFound,
            format!("no envelope with id {}", new.envelope_id),
        ));
    }
    let now = Utc::now();
    let signed_at = dates
        .signed_on
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .map(|t| t.and_utc());
    let m = grant::ActiveModel {
        envelope_id: Set(new.envelope_id),
        beneficiary_kind: Set(v.kind.as_str().to_owned()),
        beneficiary_ref: Set(v.reference.clone()),
        beneficiary_name: Set(v.name.trim().to_owned()),
        contact: Set(new
            .contact
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)),
        hub_id: Set(v.hub.map(|h| h.0)),
        department_code: Set(v.department.as_ref().map(|d| d.as_str().to_owned())),
        region_code: Set(checked.region.as_ref().map(|r| r.as_str().to_owned())),
        amount_cents: Set(new.amount.cents()),
        posts: Set(new.posts),
        starts_on: Set(new.starts_on),
        ends_on: Set(new.ends_on),
        status: Set(status.as_str().to_owned()),
        signed_at: Set(signed_at),
        host_kind: Set(v.host_kind.map(|k| k.as_str().to_owned())),
        funded_posts_ref: Set(v.funded_posts.as_ref().map(|p| p.reference.clone())),
        rule_id: Set(checked.rule_id),
        contract_years: Set(new.contract_years),
        expected_amount_cents: Set(checked.expected.map(Money::cents)),
        override_reason: Set(new
            .override_reason
            .as_deref()
            .map(str::trim)
            .map(str::to_owned)),
        decision_date: Set(Some(checked.decision_date)),
        signed_on: Set(dates.signed_on),
        closed_on: Set(dates.closed_on),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| {
        if maillage_core::db::is_foreign_key_violation(&e) {
            FundingError::invalid(
                FieldPath::new("input").push("envelopeId"),
                Code::NotFound,
                "the envelope does not exist",
            )
        } else {
            e.into()
        }
    })?;
    let mut changes = AuditChanges::new();
    changes.created("envelope_id", &m.envelope_id);
    changes.created("beneficiary_kind", &m.beneficiary_kind);
    changes.created("beneficiary_ref", &m.beneficiary_ref);
    changes.created("beneficiary_name", &m.beneficiary_name);
    // The contact is personal data: the audit trail notes that one was given, not its value.
    changes.created("contact_given", &m.contact.is_some());
    changes.created("amount_cents", &m.amount_cents);
    changes.created("posts", &m.posts);
    changes.created("status", &m.status);
    changes.created("starts_on", &m.starts_on.to_string());
    changes.created("decision_date", &checked.decision_date.to_string());
    changes.created("signed_on", &m.signed_on.map(|d| d.to_string()));
    changes.created("closed_on", &m.closed_on.map(|d| d.to_string()));
    changes.created("rule_id", &m.rule_id);
    changes.created("expected_amount_cents", &m.expected_amount_cents);
    changes.created("override_reason", &m.override_reason);
    changes.note("via", via);
    record(
        txn,
        actor,
        AuditEntry::new(
            "funding_grant",
            m.id.to_string(),
            if dates.signed_on.is_some() {
                "record"
            } else {
                "create"
            },
            changes,
        )
        .department(v.department.clone())
        .hub(v.hub),
    )
    .await?;
    from_model(m)
}

/// Records a draft grant (BdT reviewers, admins), checked against its beneficiary and rule
/// ([`check_grant_against`]).
#[tracing::instrument(skip_all, fields(envelope.id = %new.envelope_id))]
pub async fn create_grant<D: BeneficiaryDirectory>(
    db: &DatabaseConnection,
    actor: &Actor,
    directory: &D,
    new: NewGrant,
) -> Result<Grant, FundingError> {
    require_manager(actor)?;
    let checked = check_grant_against(db, directory, new).await?;
    let txn = maillage_core::db::begin_write(db).await?;
    let g = insert_checked(&txn, actor, &checked, GrantDates::default(), "api").await?;
    txn.commit().await?;
    Ok(g)
}

/// Records a grant with its real dates (admins): historical conventions, signed (and closed) on the dates given,
/// checked like any other grant and committed in their envelope under its locks (audited as `record`).
#[tracing::instrument(skip_all, fields(envelope.id = %new.envelope_id))]
pub async fn record_grant<D: BeneficiaryDirectory>(
    db: &DatabaseConnection,
    actor: &Actor,
    directory: &D,
    new: NewGrant,
    dates: GrantDates,
) -> Result<Grant, FundingError> {
    require_admin(actor)?;
    let checked = check_grant_against(db, directory, new).await?;
    let txn = maillage_core::db::begin_write(db).await?;
    let g = insert_checked(&txn, actor, &checked, dates, "api").await?;
    txn.commit().await?;
    Ok(g)
}

async fn load(txn: &impl ConnectionTrait, id: i32) -> Result<Grant, FundingError> {
    get_grant(txn, id).await?.ok_or(FundingError::NotFound {
        entity: "grant",
        id,
    })
}

fn check_version(g: &Grant, version: i32) -> Result<(), FundingError> {
    if g.version == version {
        Ok(())
    } else {
        Err(FundingError::StaleVersion {
            entity: "grant",
            id: g.id,
            expected: version,
            actual: g.version,
        })
    }
}

/// Moves a grant from one of `from` to `to` at `version`; the version and state checks are in the UPDATE itself, so
/// of two concurrent writers exactly one matches the row.
async fn transition(
    txn: &impl ConnectionTrait,
    g: &Grant,
    version: i32,
    from: &[GrantStatus],
    to: GrantStatus,
) -> Result<(), FundingError> {
    let now = Utc::now();
    let mut q = grant::Entity::update_many()
        .col_expr(grant::Column::Status, Expr::value(to.as_str()))
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            grant::Column::Version,
            Expr::col(grant::Column::Version).add(1),
        )
        .col_expr(grant::Column::UpdatedAt, Expr::value(now));
    let today = now.with_timezone(&Paris).date_naive();
    if to == GrantStatus::Signed {
        q = q
            .col_expr(grant::Column::SignedAt, Expr::value(now))
            .col_expr(grant::Column::SignedOn, Expr::value(today));
    }
    if to == GrantStatus::Closed {
        q = q.col_expr(grant::Column::ClosedOn, Expr::value(today));
    }
    let updated = q
        .filter(grant::Column::Id.eq(g.id))
        .filter(grant::Column::Version.eq(version))
        .filter(grant::Column::Status.is_in(from.iter().map(|s| s.as_str())))
        .exec(txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(FundingError::raced::<grant::Entity, _>(
            txn,
            "grant",
            (grant::Column::Id, grant::Column::Version),
            g.id,
            version,
        )
        .await?);
    }
    Ok(())
}

async fn audit_transition(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    g: &Grant,
    action: &'static str,
    to: GrantStatus,
) -> Result<(), FundingError> {
    let mut changes = AuditChanges::new();
    changes.changed("status", g.status.as_str(), to.as_str());
    changes.note("amount_cents", &g.amount.cents());
    changes.note("via", "api");
    record(
        txn,
        actor,
        AuditEntry::new("funding_grant", g.id.to_string(), action, changes)
            .department(g.department.clone())
            .hub(g.hub),
    )
    .await?;
    Ok(())
}

/// Signs a draft grant: its amount becomes committed, unless that would take its envelope or any ancestor
/// beyond its amount (`envelope_exceeded`; nothing written).
///
/// The decision is made inside the write transaction, after locking the envelope chain root first (see
/// `lock_chain`): a check made before the transaction would let two concurrent signatures both see the same
/// room and both commit.
#[tracing::instrument(skip_all, fields(grant.id = %id))]
pub async fn sign_grant(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
    version: i32,
) -> Result<Grant, FundingError> {
    require_manager(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let g = load(&txn, id).await?;
    check_version(&g, version)?;
    if g.status != GrantStatus::Draft {
        return Err(FundingError::InvalidState(format!(
            "grant {id} is {}: only a draft can be signed",
            g.status
        )));
    }
    let chain = lock_chain(&txn, g.envelope_id).await?;
    check_room(&txn, &chain, g.amount).await?;
    transition(
        &txn,
        &g,
        version,
        &[GrantStatus::Draft],
        GrantStatus::Signed,
    )
    .await?;
    audit_transition(&txn, actor, &g, "sign", GrantStatus::Signed).await?;
    let signed = load(&txn, id).await?;
    txn.commit().await?;
    Ok(signed)
}

/// Closes a signed grant: no more payments. Its amount stays committed (the money was engaged).
#[tracing::instrument(skip_all, fields(grant.id = %id))]
pub async fn close_grant(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
    version: i32,
) -> Result<Grant, FundingError> {
    require_manager(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let g = load(&txn, id).await?;
    check_version(&g, version)?;
    if g.status != GrantStatus::Signed {
        return Err(FundingError::InvalidState(format!(
            "grant {id} is {}: only a signed grant can be closed",
            g.status
        )));
    }
    transition(
        &txn,
        &g,
        version,
        &[GrantStatus::Signed],
        GrantStatus::Closed,
    )
    .await?;
    audit_transition(&txn, actor, &g, "close", GrantStatus::Closed).await?;
    let closed = load(&txn, id).await?;
    txn.commit().await?;
    Ok(closed)
}

/// Cancels a draft, or a signed grant nothing was paid under (its amount is released).
#[tracing::instrument(skip_all, fields(grant.id = %id))]
pub async fn cancel_grant(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
    version: i32,
) -> Result<Grant, FundingError> {
    require_manager(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let g = load(&txn, id).await?;
    check_version(&g, version)?;
    if !matches!(g.status, GrantStatus::Draft | GrantStatus::Signed) {
        return Err(FundingError::InvalidState(format!(
            "grant {id} is {}: only a draft or signed grant can be cancelled",
            g.status
        )));
    }
    // The UPDATE locks the grant first, so a payment racing with this cancellation is either seen below or waits
    // and then finds the grant cancelled.
    transition(
        &txn,
        &g,
        version,
        &[GrantStatus::Draft, GrantStatus::Signed],
        GrantStatus::Cancelled,
    )
    .await?;
    if disbursed_of(&txn, id).await? > Money::ZERO {
        return Err(FundingError::InvalidState(format!(
            "grant {id} has disbursements: close it instead of cancelling it"
        )));
    }
    audit_transition(&txn, actor, &g, "cancel", GrantStatus::Cancelled).await?;
    let cancelled = load(&txn, id).await?;
    txn.commit().await?;
    Ok(cancelled)
}

/// A payment to record.
#[derive(Debug, Clone)]
pub struct NewDisbursement {
    /// The grant paid.
    pub grant_id: i32,
    /// Amount.
    pub amount: Money,
    /// Payment date.
    pub paid_on: NaiveDate,
    /// Accounting reference (no bank details).
    pub reference: Option<String>,
}

/// Records a payment under a signed grant, unless the grant's payments would then exceed its amount
/// (`grant_exceeded`; nothing written). The grant row is locked first, inside the transaction, then summed.
#[tracing::instrument(skip_all, fields(grant.id = %new.grant_id))]
pub async fn record_disbursement(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewDisbursement,
) -> Result<Disbursement, FundingError> {
    require_manager(actor)?;
    if new.amount <= Money::ZERO {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("amount"),
            Code::InvalidValue,
            "a payment must be positive",
        ));
    }
    let txn = maillage_core::db::begin_write(db).await?;
    // Lock the grant (a no-op UPDATE), and only while it is signed.
    let locked = grant::Entity::update_many()
        .col_expr(grant::Column::Version, Expr::col(grant::Column::Version))
        .filter(grant::Column::Id.eq(new.grant_id))
        .filter(grant::Column::Status.eq(GrantStatus::Signed.as_str()))
        .exec(&txn)
        .await?;
    let g = load(&txn, new.grant_id).await?;
    if locked.rows_affected == 0 || g.status != GrantStatus::Signed {
        return Err(FundingError::InvalidState(format!(
            "grant {} is {}: payments are recorded only under a signed grant",
            g.id, g.status
        )));
    }
    let paid = disbursed_of(&txn, g.id).await?;
    let after = paid.checked_add(new.amount);
    if after.is_none_or(|a| a > g.amount) {
        return Err(FundingError::GrantExceeded {
            grant: g.id,
            amount: g.amount,
            disbursed: paid,
            requested: new.amount,
        });
    }
    let m = disbursement::ActiveModel {
        grant_id: Set(g.id),
        amount_cents: Set(new.amount.cents()),
        paid_on: Set(new.paid_on),
        reference: Set(new
            .reference
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut changes = AuditChanges::new();
    changes.created("grant_id", &m.grant_id);
    changes.created("amount_cents", &m.amount_cents);
    changes.created("paid_on", &m.paid_on.to_string());
    changes.created("reference", &m.reference);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("funding_disbursement", m.id.to_string(), "create", changes)
            .department(g.department.clone())
            .hub(g.hub),
    )
    .await?;
    txn.commit().await?;
    Ok(disbursement_from(m))
}

/// The grant of an AMI selection: the dossier (or hub) it pays, as the AMI decision knows it.
#[derive(Debug, Clone)]
pub struct SelectionGrant {
    /// The envelope it draws on (the campaign's).
    pub envelope_id: i32,
    /// The dossier selected, with its laureate hub (resolved by the caller, which has just created the hub).
    pub beneficiary: VerifiedBeneficiary,
    /// The amount awarded.
    pub amount: Money,
    /// The day of the decision (and of the signature).
    pub decided_on: NaiveDate,
}

/// Records a grant already signed, inside the caller's transaction, unless its amount would take its envelope or
/// any ancestor beyond its amount (`envelope_exceeded`; the caller's transaction must then be dropped, and nothing
/// it wrote is committed).
///
/// For a decision taken elsewhere that must commit money atomically with its own changes (an AMI laureate's hub
/// and grant). The room is checked under the envelope chain's locks, as in [`sign_grant`], so two concurrent
/// decisions cannot both take the last room. BdT reviewers and admins may. The caller must have begun the
/// transaction with `maillage_core::db::begin_write`. Only an AMI dossier or a hub is paid this way: a host
/// structure's grant is checked against its rule through [`create_grant`].
#[tracing::instrument(skip_all, fields(envelope.id = %new.envelope_id))]
pub async fn create_signed_grant_in<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    new: SelectionGrant,
) -> Result<Grant, FundingError> {
    require_manager(actor)?;
    let v = new.beneficiary;
    if !matches!(v.kind, BeneficiaryKind::AmiDossier | BeneficiaryKind::Hub) || v.hub.is_none() {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("beneficiary"),
            Code::InvalidValue,
            "a selection grant pays an AMI dossier or a hub, with its hub",
        ));
    }
    let region = region_of(txn, v.department.as_ref()).await?;
    let checked = CheckedGrant {
        new: NewGrant {
            envelope_id: new.envelope_id,
            beneficiary: BeneficiaryClaim {
                kind: v.kind,
                reference: v.reference.clone(),
                funded_posts: None,
                host_kind: None,
                department: v.department.clone(),
                name: Some(v.name.clone()),
            },
            contact: None,
            amount: new.amount,
            posts: 0,
            contract_years: None,
            decision_date: Some(new.decided_on),
            starts_on: new.decided_on,
            ends_on: None,
            override_reason: None,
        },
        beneficiary: v,
        region,
        decision_date: new.decided_on,
        rule_id: None,
        expected: None,
    };
    check_grant(&checked.new)?;
    insert_checked(
        txn,
        actor,
        &checked,
        GrantDates {
            signed_on: Some(new.decided_on),
            closed_on: None,
        },
        "decision",
    )
    .await
}
