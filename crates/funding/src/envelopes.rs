//! Envelopes: the tree of programme lines, their consumption, and the lock that keeps them from being
//! over-committed.

use crate::FundingError;
use crate::access::require_admin;
use crate::entity::envelope;
use crate::model::{
    BeneficiaryKind, Consumption, ConsumptionPart, DrillDown, Envelope, GrantStatus,
    MonthConsumption, Target, TargetKind,
};
use crate::money::Money;
use chrono::{Datelike, NaiveDate, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Actor;
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::sync::SyncOptions;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, Statement,
};
use std::collections::{BTreeMap, HashMap};

/// The deepest tree accepted: a parent chain longer than this is a cycle written outside Maillage.
const MAX_DEPTH: usize = 32;

pub(crate) fn from_model(m: envelope::Model) -> Envelope {
    let target = match (
        m.target_kind.as_deref().and_then(TargetKind::parse),
        m.target_count,
    ) {
        (Some(kind), Some(count)) => Some(Target { kind, count }),
        _ => None,
    };
    Envelope {
        target,
        id: m.id,
        parent_id: m.parent_id,
        code: m.code,
        name: m.name,
        amount: Money(m.amount_cents),
        source: m.source,
        version: m.version,
        updated_at: m.updated_at,
    }
}

/// Every envelope, parents before children (by id, since a parent must exist before its child).
pub async fn list_envelopes<C: ConnectionTrait>(db: &C) -> Result<Vec<Envelope>, FundingError> {
    Ok(envelope::Entity::find()
        .order_by_asc(envelope::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect())
}

/// The envelopes Maillage wrote at or after `sync.updated_since`, in `sync`'s order (all of them without a date).
pub async fn list_envelopes_synced<C: ConnectionTrait>(
    db: &C,
    sync: &SyncOptions,
) -> Result<Vec<Envelope>, FundingError> {
    let query = envelope::Entity::find().filter(sync.condition(envelope::Column::UpdatedAt));
    Ok(sync
        .order(query, envelope::Column::UpdatedAt, envelope::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(from_model)
        .collect())
}

/// One envelope.
pub async fn get_envelope<C: ConnectionTrait>(
    db: &C,
    id: i32,
) -> Result<Option<Envelope>, FundingError> {
    Ok(envelope::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(from_model))
}

/// One envelope by its stable code (seed data and tests name envelopes by code).
pub async fn envelope_by_code<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<Envelope>, FundingError> {
    Ok(envelope::Entity::find()
        .filter(envelope::Column::Code.eq(code))
        .one(db)
        .await?
        .map(from_model))
}

/// The ids of `root` and every envelope below it.
pub(crate) fn subtree(all: &[Envelope], root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for e in all {
        if let Some(p) = e.parent_id {
            children.entry(p).or_default().push(e.id);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if out.contains(&id) {
            continue;
        }
        out.push(id);
        if let Some(c) = children.get(&id) {
            stack.extend(c.iter().copied());
        }
    }
    out
}

/// Sums of one amount column per envelope, from one grouped statement.
async fn sums_by_envelope<C: ConnectionTrait>(
    db: &C,
    sql: &str,
) -> Result<HashMap<i32, i64>, FundingError> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql.to_owned()))
        .await?;
    let mut out = HashMap::new();
    for row in rows {
        let id: i32 = row.try_get("", "envelope_id")?;
        let total: i64 = row.try_get("", "total")?;
        out.insert(id, total);
    }
    Ok(out)
}

fn committing_statuses() -> String {
    GrantStatus::ALL
        .iter()
        .filter(|s| s.commits())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Committed amounts per envelope (its own commitments only, not its children's): signed and closed grants, and
/// Pass numérique programmes (a programme is a signed convention from the moment it is recorded).
async fn committed_by_envelope<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<i32, i64>, FundingError> {
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both backends return an integer.
    let mut out = sums_by_envelope(
        db,
        &format!(
            "SELECT envelope_id, CAST(SUM(amount_cents) AS BIGINT) AS total FROM funding_grant \
             WHERE status IN ({}) GROUP BY envelope_id",
            committing_statuses()
        ),
    )
    .await?;
    let pass = sums_by_envelope(
        db,
        "SELECT envelope_id, CAST(SUM(amount_cents) AS BIGINT) AS total FROM pass_programme \
         WHERE envelope_id IS NOT NULL GROUP BY envelope_id",
    )
    .await?;
    for (id, total) in pass {
        *out.entry(id).or_default() += total;
    }
    Ok(out)
}

/// What each envelope's own commitments achieve toward each kind of target: posts of committing grants, and
/// collectivités (committing collectivité grants and Pass numérique programmes).
async fn achieved_by_envelope<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<(i32, TargetKind), i64>, FundingError> {
    let posts = sums_by_envelope(
        db,
        &format!(
            "SELECT envelope_id, CAST(SUM(posts) AS BIGINT) AS total FROM funding_grant \
             WHERE status IN ({}) GROUP BY envelope_id",
            committing_statuses()
        ),
    )
    .await?;
    let collectivite_grants = sums_by_envelope(
        db,
        &format!(
            "SELECT envelope_id, CAST(COUNT(*) AS BIGINT) AS total FROM funding_grant \
             WHERE status IN ({}) AND beneficiary_kind = '{}' GROUP BY envelope_id",
            committing_statuses(),
            BeneficiaryKind::Collectivite.as_str()
        ),
    )
    .await?;
    let programmes = sums_by_envelope(
        db,
        "SELECT envelope_id, CAST(COUNT(*) AS BIGINT) AS total FROM pass_programme \
         WHERE envelope_id IS NOT NULL GROUP BY envelope_id",
    )
    .await?;
    let mut out = HashMap::new();
    for (id, n) in posts {
        // One counsellor per funded post.
        out.insert((id, TargetKind::Posts), n);
        out.insert((id, TargetKind::Counsellors), n);
    }
    for (id, n) in collectivite_grants.into_iter().chain(programmes) {
        *out.entry((id, TargetKind::Collectivites)).or_default() += n;
    }
    Ok(out)
}

async fn disbursed_by_envelope<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<i32, i64>, FundingError> {
    sums_by_envelope(
        db,
        "SELECT g.envelope_id AS envelope_id, CAST(SUM(d.amount_cents) AS BIGINT) AS total \
         FROM funding_disbursement d JOIN funding_grant g ON g.id = d.grant_id GROUP BY g.envelope_id",
    )
    .await
}

/// The consumption of every envelope, each including its children's grants (three statements, whatever the
/// tree's size).
pub async fn consumption_of_all<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<i32, Consumption>, FundingError> {
    let all = list_envelopes(db).await?;
    let committed = committed_by_envelope(db).await?;
    let disbursed = disbursed_by_envelope(db).await?;
    let achieved = achieved_by_envelope(db).await?;
    Ok(consumption_from(&all, &committed, &disbursed, &achieved))
}

fn consumption_from(
    all: &[Envelope],
    committed: &HashMap<i32, i64>,
    disbursed: &HashMap<i32, i64>,
    achieved: &HashMap<(i32, TargetKind), i64>,
) -> HashMap<i32, Consumption> {
    all.iter()
        .map(|e| {
            let ids = subtree(all, e.id);
            let sum = |m: &HashMap<i32, i64>| -> Money {
                ids.iter()
                    .map(|i| Money(m.get(i).copied().unwrap_or(0)))
                    .sum()
            };
            (
                e.id,
                Consumption {
                    amount: e.amount,
                    committed: sum(committed),
                    disbursed: sum(disbursed),
                    target: e.target,
                    achieved: e.target.map_or(0, |t| {
                        ids.iter()
                            .map(|i| achieved.get(&(*i, t.kind)).copied().unwrap_or(0))
                            .sum()
                    }),
                },
            )
        })
        .collect()
}

/// The consumption of one envelope and its children.
pub async fn consumption<C: ConnectionTrait>(db: &C, id: i32) -> Result<Consumption, FundingError> {
    consumption_of_all(db)
        .await?
        .remove(&id)
        .ok_or(FundingError::NotFound {
            entity: "envelope",
            id,
        })
}

fn month_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// An envelope's consumption (with its children) month by month: grants count in the month of their signature
/// (recorded historical dates included; failing that their decision, then their start), Pass numérique programmes
/// in the month their convention was signed, payments in the month they were made. Months without movement are
/// left out; the running totals end at the envelope's committed and disbursed amounts.
pub async fn consumption_by_month<C: ConnectionTrait>(
    db: &C,
    id: i32,
) -> Result<Vec<MonthConsumption>, FundingError> {
    use crate::entity::{disbursement, grant, pass_programme};
    let all = list_envelopes(db).await?;
    if !all.iter().any(|e| e.id == id) {
        return Err(FundingError::NotFound {
            entity: "envelope",
            id,
        });
    }
    let ids = subtree(&all, id);
    let statuses: Vec<&str> = GrantStatus::ALL
        .iter()
        .filter(|s| s.commits())
        .map(|s| s.as_str())
        .collect();
    let grants = grant::Entity::find()
        .filter(grant::Column::EnvelopeId.is_in(ids.clone()))
        .filter(grant::Column::Status.is_in(statuses))
        .all(db)
        .await?;
    let programmes = pass_programme::Entity::find()
        .filter(pass_programme::Column::EnvelopeId.is_in(ids.clone()))
        .all(db)
        .await?;
    let grant_ids: Vec<i32> = grants.iter().map(|g| g.id).collect();
    let payments = if grant_ids.is_empty() {
        Vec::new()
    } else {
        disbursement::Entity::find()
            .filter(disbursement::Column::GrantId.is_in(grant_ids))
            .all(db)
            .await?
    };
    let mut months: BTreeMap<NaiveDate, (Money, Money)> = BTreeMap::new();
    let mut add = |day: NaiveDate, committed: Money, disbursed: Money| {
        let m = months.entry(month_of(day)).or_default();
        *m = (m.0 + committed, m.1 + disbursed);
    };
    for g in &grants {
        let day = g
            .signed_on
            .or(g.decision_date)
            .or(g.signed_at.map(|t| t.date_naive()))
            .unwrap_or(g.starts_on);
        add(day, Money(g.amount_cents), Money::ZERO);
    }
    for p in &programmes {
        let day = p.signed_on.unwrap_or_else(|| p.created_at.date_naive());
        add(day, Money(p.amount_cents), Money::ZERO);
    }
    for d in &payments {
        add(d.paid_on, Money::ZERO, Money(d.amount_cents));
    }
    let mut committed_to_date = Money::ZERO;
    let mut disbursed_to_date = Money::ZERO;
    Ok(months
        .into_iter()
        .map(|(month, (committed, disbursed))| {
            committed_to_date = committed_to_date + committed;
            disbursed_to_date = disbursed_to_date + disbursed;
            MonthConsumption {
                month,
                committed,
                disbursed,
                committed_to_date,
                disbursed_to_date,
            }
        })
        .collect())
}

/// The committed and disbursed amounts of an envelope (with its children) split per hub, department or region.
///
/// Every committing grant falls in exactly one part (grants without a hub or department form the `None` part), so
/// the parts always add up to the envelope's committed and disbursed totals.
pub async fn drill_down<C: ConnectionTrait>(
    db: &C,
    id: i32,
    axis: DrillDown,
) -> Result<Vec<ConsumptionPart>, FundingError> {
    use crate::entity::grant;
    let all = list_envelopes(db).await?;
    if !all.iter().any(|e| e.id == id) {
        return Err(FundingError::NotFound {
            entity: "envelope",
            id,
        });
    }
    let ids = subtree(&all, id);
    let statuses: Vec<&str> = GrantStatus::ALL
        .iter()
        .filter(|s| s.commits())
        .map(|s| s.as_str())
        .collect();
    let grants = grant::Entity::find()
        .filter(grant::Column::EnvelopeId.is_in(ids))
        .filter(grant::Column::Status.is_in(statuses))
        .all(db)
        .await?;
    let paid = crate::grants::disbursed_by_grant(db, grants.iter().map(|g| g.id)).await?;
    let mut parts: BTreeMap<(Option<String>, Option<String>), ConsumptionPart> = BTreeMap::new();
    for g in grants {
        let (key, region) = match axis {
            DrillDown::Hub => (g.hub_id.map(|h| h.to_string()), None),
            DrillDown::Department => (g.department_code.clone(), g.region_code.clone()),
            DrillDown::Region => (g.region_code.clone(), None),
        };
        let part = parts
            .entry((key.clone(), region.clone()))
            .or_insert_with(|| ConsumptionPart {
                key,
                region,
                committed: Money::ZERO,
                disbursed: Money::ZERO,
                grants: 0,
            });
        part.committed = part.committed + Money(g.amount_cents);
        part.disbursed = part.disbursed + paid.get(&g.id).copied().unwrap_or(Money::ZERO);
        part.grants += 1;
    }
    // Pass numérique programmes commit too: they fall in their department's part (and its region's), never a hub's.
    let programmes = crate::entity::pass_programme::Entity::find()
        .filter(crate::entity::pass_programme::Column::EnvelopeId.is_in(subtree(&all, id)))
        .all(db)
        .await?;
    let codes: Vec<maillage_core::DepartmentCode> = programmes
        .iter()
        .filter_map(|p| p.department_code.as_deref())
        .filter_map(|d| maillage_core::DepartmentCode::parse(d).ok())
        .collect();
    let regions: HashMap<String, String> = if codes.is_empty() {
        HashMap::new()
    } else {
        maillage_territories::departments_by_codes(db, &codes)
            .await?
            .into_iter()
            .map(|d| (d.code.to_string(), d.region_code.to_string()))
            .collect()
    };
    for p in programmes {
        let region = p
            .department_code
            .as_ref()
            .and_then(|d| regions.get(d).cloned());
        let (key, region) = match axis {
            DrillDown::Hub => (None, None),
            DrillDown::Department => (p.department_code.clone(), region),
            DrillDown::Region => (region, None),
        };
        let part = parts
            .entry((key.clone(), region.clone()))
            .or_insert_with(|| ConsumptionPart {
                key,
                region,
                committed: Money::ZERO,
                disbursed: Money::ZERO,
                grants: 0,
            });
        part.committed = part.committed + Money(p.amount_cents);
        part.grants += 1;
    }
    Ok(parts.into_values().collect())
}

/// Takes the write locks of an envelope and all its ancestors, root first, and returns them root first with the
/// amounts as they are once locked.
///
/// Every writer that commits money in a tree locks that tree's root first, so two of them never decide on the same
/// sums at once: on PostgreSQL the no-op `UPDATE` takes the row lock (held until commit; the next statement then
/// sees what the previous holder committed), and on SQLite the `IMMEDIATE` transaction of
/// [`maillage_core::db::begin_write`] already serialises writers. Locking root first, one row at a time, gives
/// every writer the same order, so they cannot deadlock.
pub(crate) async fn lock_chain<C: ConnectionTrait>(
    txn: &C,
    id: i32,
) -> Result<Vec<Envelope>, FundingError> {
    // Parents never change, so the chain read before locking is the chain after.
    let mut chain_ids = Vec::new();
    let mut current = Some(id);
    while let Some(i) = current {
        if chain_ids.len() > MAX_DEPTH || chain_ids.contains(&i) {
            return Err(FundingError::CorruptRow {
                entity: "envelope",
                id: i,
                detail: "its parents form a cycle".to_owned(),
            });
        }
        let m = envelope::Entity::find_by_id(i)
            .one(txn)
            .await?
            .ok_or(FundingError::NotFound {
                entity: "envelope",
                id: i,
            })?;
        chain_ids.push(i);
        current = m.parent_id;
    }
    chain_ids.reverse();
    for i in &chain_ids {
        envelope::Entity::update_many()
            .col_expr(
                envelope::Column::Version,
                Expr::col(envelope::Column::Version),
            )
            .filter(envelope::Column::Id.eq(*i))
            .exec(txn)
            .await?;
    }
    let mut locked = Vec::with_capacity(chain_ids.len());
    for i in chain_ids {
        let m = envelope::Entity::find_by_id(i)
            .one(txn)
            .await?
            .ok_or(FundingError::NotFound {
                entity: "envelope",
                id: i,
            })?;
        locked.push(from_model(m));
    }
    Ok(locked)
}

/// Checks, under the chain's locks, that committing `extra` more in envelope `id` keeps it and every ancestor
/// within its amount. Must run after [`lock_chain`] in the same transaction.
pub(crate) async fn check_room<C: ConnectionTrait>(
    txn: &C,
    chain: &[Envelope],
    extra: Money,
) -> Result<(), FundingError> {
    let all = list_envelopes(txn).await?;
    let committed = committed_by_envelope(txn).await?;
    for e in chain {
        let used: Money = subtree(&all, e.id)
            .iter()
            .map(|i| Money(committed.get(i).copied().unwrap_or(0)))
            .sum();
        let after = used
            .checked_add(extra)
            .ok_or_else(|| FundingError::EnvelopeExceeded {
                envelope: e.code.clone(),
                amount: e.amount,
                committed: used,
                remaining: e.amount - used,
                requested: extra,
            })?;
        if after > e.amount {
            return Err(FundingError::EnvelopeExceeded {
                envelope: e.code.clone(),
                amount: e.amount,
                committed: used,
                remaining: e.amount - used,
                requested: extra,
            });
        }
    }
    Ok(())
}

/// A new programme line.
#[derive(Debug, Clone)]
pub struct NewEnvelope {
    /// The wider line, if any.
    pub parent_id: Option<i32>,
    /// Stable code, unique.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Amount.
    pub amount: Money,
    /// Where the amount comes from.
    pub source: Option<String>,
    /// What it is meant to fund, if stated.
    pub target: Option<Target>,
}

fn check_target(target: Option<&Target>) -> Result<(), FundingError> {
    if target.is_some_and(|t| t.count < 0) {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("target").push("count"),
            Code::InvalidValue,
            "a target cannot be negative",
        ));
    }
    Ok(())
}

fn check_new(new: &NewEnvelope) -> Result<(), FundingError> {
    let code = new.code.trim();
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("code"),
            Code::InvalidValue,
            "code must have 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    if new.name.trim().is_empty() {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("name"),
            Code::InvalidValue,
            "name must not be empty",
        ));
    }
    if new.amount < Money::ZERO {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("amount"),
            Code::InvalidValue,
            "an envelope's amount cannot be negative",
        ));
    }
    check_target(new.target.as_ref())
}

/// Stores an envelope without audit or checks of the caller: for the seed, inside its transaction.
pub(crate) async fn insert_envelope<C: ConnectionTrait>(
    db: &C,
    new: &NewEnvelope,
) -> Result<envelope::Model, FundingError> {
    let now = Utc::now();
    envelope::ActiveModel {
        parent_id: Set(new.parent_id),
        code: Set(new.code.trim().to_owned()),
        name: Set(new.name.trim().to_owned()),
        amount_cents: Set(new.amount.cents()),
        source: Set(new.source.clone()),
        target_kind: Set(new.target.map(|t| t.kind.as_str().to_owned())),
        target_count: Set(new.target.map(|t| t.count)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        if maillage_core::db::is_unique_violation(&e) {
            FundingError::AlreadyExists(format!(
                "an envelope with code {:?} exists already",
                new.code
            ))
        } else {
            e.into()
        }
    })
}

/// Creates an envelope (admins).
#[tracing::instrument(skip_all, fields(envelope.code = %new.code))]
pub async fn create_envelope(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewEnvelope,
) -> Result<Envelope, FundingError> {
    require_admin(actor)?;
    check_new(&new)?;
    let txn = maillage_core::db::begin_write(db).await?;
    if let Some(parent) = new.parent_id
        && envelope::Entity::find_by_id(parent)
            .one(&txn)
            .await?
            .is_none()
    {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("parentId"),
            Code::NotFound,
            format!("no envelope with id {parent}"),
        ));
    }
    if envelope_by_code(&txn, new.code.trim()).await?.is_some() {
        return Err(FundingError::AlreadyExists(format!(
            "an envelope with code {:?} exists already",
            new.code
        )));
    }
    let m = insert_envelope(&txn, &new).await?;
    let mut changes = AuditChanges::new();
    changes.created("code", &m.code);
    changes.created("name", &m.name);
    changes.created("amount_cents", &m.amount_cents);
    changes.created("parent_id", &m.parent_id);
    changes.created("target_kind", &m.target_kind);
    changes.created("target_count", &m.target_count);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("funding_envelope", m.id.to_string(), "create", changes),
    )
    .await?;
    txn.commit().await?;
    Ok(from_model(m))
}

/// A change to an envelope: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EnvelopePatch {
    /// New display name.
    pub name: Option<String>,
    /// New amount: refused below what its grants already commit.
    pub amount: Option<Money>,
    /// New source, or cleared.
    pub source: Option<Option<String>>,
    /// New target, or cleared.
    pub target: Option<Option<Target>>,
}

/// Updates an envelope at `version` (admins). Lowering an amount takes the chain's locks, so that it cannot slip
/// under grants being signed at the same moment.
#[tracing::instrument(skip_all, fields(envelope.id = %id))]
pub async fn update_envelope(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
    version: i32,
    patch: EnvelopePatch,
) -> Result<Envelope, FundingError> {
    require_admin(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let chain = lock_chain(&txn, id).await?;
    let old = chain.last().cloned().ok_or(FundingError::NotFound {
        entity: "envelope",
        id,
    })?;
    if old.version != version {
        return Err(FundingError::StaleVersion {
            entity: "envelope",
            id,
            expected: version,
            actual: old.version,
        });
    }
    let name = match patch.name {
        Some(n) if n.trim().is_empty() => {
            return Err(FundingError::invalid(
                FieldPath::new("input").push("name"),
                Code::InvalidValue,
                "name must not be empty",
            ));
        }
        Some(n) => n.trim().to_owned(),
        None => old.name.clone(),
    };
    let amount = patch.amount.unwrap_or(old.amount);
    if amount < Money::ZERO {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("amount"),
            Code::InvalidValue,
            "an envelope's amount cannot be negative",
        ));
    }
    let all = list_envelopes(&txn).await?;
    let committed = committed_by_envelope(&txn).await?;
    let used: Money = subtree(&all, id)
        .iter()
        .map(|i| Money(committed.get(i).copied().unwrap_or(0)))
        .sum();
    if amount < used {
        return Err(FundingError::invalid(
            FieldPath::new("input").push("amount"),
            Code::BelowCommitted,
            format!(
                "signed grants already commit {used} in this envelope; its amount cannot be lower"
            ),
        ));
    }
    let source = patch.source.unwrap_or_else(|| old.source.clone());
    let target = patch.target.unwrap_or(old.target);
    check_target(target.as_ref())?;
    let updated = envelope::Entity::update_many()
        .col_expr(envelope::Column::Name, Expr::value(name.clone()))
        .col_expr(envelope::Column::AmountCents, Expr::value(amount.cents()))
        .col_expr(envelope::Column::Source, Expr::value(source.clone()))
        .col_expr(
            envelope::Column::TargetKind,
            Expr::value(target.map(|t| t.kind.as_str().to_owned())),
        )
        .col_expr(
            envelope::Column::TargetCount,
            Expr::value(target.map(|t| t.count)),
        )
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            envelope::Column::Version,
            Expr::col(envelope::Column::Version).add(1),
        )
        .col_expr(envelope::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(envelope::Column::Id.eq(id))
        .filter(envelope::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(FundingError::raced::<envelope::Entity, _>(
            &txn,
            "envelope",
            (envelope::Column::Id, envelope::Column::Version),
            id,
            version,
        )
        .await?);
    }
    let mut changes = AuditChanges::new();
    changes.changed("name", &old.name, &name);
    changes.changed("amount_cents", &old.amount.cents(), &amount.cents());
    changes.changed("source", &old.source, &source);
    changes.changed(
        "target",
        &old.target.map(|t| format!("{} {}", t.count, t.kind)),
        &target.map(|t| format!("{} {}", t.count, t.kind)),
    );
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("funding_envelope", id.to_string(), "update", changes),
    )
    .await?;
    let e = get_envelope(&txn, id)
        .await?
        .ok_or(FundingError::NotFound {
            entity: "envelope",
            id,
        })?;
    txn.commit().await?;
    Ok(e)
}
