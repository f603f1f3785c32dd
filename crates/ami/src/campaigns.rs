//! Campaigns (calls for applications) and their scoring grids, as data: seeded from `data/*.csv`, created by
//! admins.

use crate::AmiError;
use crate::access::require_admin;
use crate::entity::{campaign, campaign_region, criterion};
use crate::model::{Campaign, CampaignId, Criterion, CriterionId};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, RegionCode};
use maillage_funding::Money;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use std::collections::HashMap;

/// Default attachment size limit: 10 MiB.
pub const DEFAULT_MAX_ATTACHMENT_BYTES: i64 = 10 * 1024 * 1024;

/// A criterion of a new campaign's grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCriterion {
    /// Stable code within the campaign.
    pub code: String,
    /// Label.
    pub label: String,
    /// Weight (positive).
    pub weight: i32,
    /// Highest score (1 to 100).
    pub max_score: i32,
}

/// A new campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// Stable code (letters, digits, `-`, `_`).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Opening instant.
    pub opens_at: DateTime<Utc>,
    /// Last second of submission, inclusive.
    pub closes_at: DateTime<Utc>,
    /// Funding envelope the grants are drawn from, by code (e.g. `BDT-HUBS-AMI`).
    pub envelope_code: String,
    /// Cap per hub before bonuses.
    pub max_per_hub: Money,
    /// QPV bonus.
    pub qpv_bonus: Money,
    /// Action Cœur de Ville bonus.
    pub acv_bonus: Money,
    /// Priority regions.
    pub priority_regions: Vec<RegionCode>,
    /// Attachment size limit in bytes.
    pub max_attachment_bytes: i64,
    /// Scoring grid, in display order (at least one criterion).
    pub criteria: Vec<NewCriterion>,
}

/// Parses a Europe/Paris wall-clock time (`2021-06-30 23:59:59`) into an instant; ambiguous or skipped local times
/// (the DST changes) are refused rather than guessed.
pub fn paris_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    let naive = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M:%S")
        .map_err(|e| format!("{raw:?} is not a date and time like 2021-06-30 23:59:59: {e}"))?;
    Paris
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{raw:?} does not exist or is ambiguous in Europe/Paris"))
}

fn check_new(new: &NewCampaign) -> Result<(), AmiError> {
    let f = |name: &str| FieldPath::new("input").push(name);
    let code = new.code.trim();
    if code.is_empty()
        || code.len() > 64
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(AmiError::invalid(
            f("code"),
            Code::InvalidValue,
            "code must have 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    if new.name.trim().is_empty() || new.name.len() > 300 {
        return Err(AmiError::invalid(
            f("name"),
            Code::InvalidValue,
            "name must have 1 to 300 characters",
        ));
    }
    if new.closes_at <= new.opens_at {
        return Err(AmiError::invalid(
            f("closesAt"),
            Code::InvalidValue,
            "the closing instant must be after the opening instant",
        ));
    }
    for (name, m) in [
        ("maxPerHub", new.max_per_hub),
        ("qpvBonus", new.qpv_bonus),
        ("acvBonus", new.acv_bonus),
    ] {
        if m < Money::ZERO {
            return Err(AmiError::invalid(
                f(name),
                Code::InvalidValue,
                "amounts must not be negative",
            ));
        }
    }
    if new.max_per_hub == Money::ZERO {
        return Err(AmiError::invalid(
            f("maxPerHub"),
            Code::InvalidValue,
            "the cap per hub must be positive",
        ));
    }
    if !(1..=100 * 1024 * 1024).contains(&new.max_attachment_bytes) {
        return Err(AmiError::invalid(
            f("maxAttachmentBytes"),
            Code::InvalidValue,
            "the attachment limit must be between 1 byte and 100 MiB",
        ));
    }
    if new.criteria.is_empty() {
        return Err(AmiError::invalid(
            f("criteria"),
            Code::InvalidValue,
            "a campaign needs a scoring grid of at least one criterion",
        ));
    }
    let mut seen = Vec::new();
    for (i, c) in new.criteria.iter().enumerate() {
        let cf = || f("criteria").index(i);
        if c.code.trim().is_empty() || c.code.len() > 64 || seen.contains(&c.code.trim()) {
            return Err(AmiError::invalid(
                cf().push("code"),
                Code::InvalidValue,
                "each criterion needs a distinct code of 1 to 64 characters",
            ));
        }
        seen.push(c.code.trim());
        if c.label.trim().is_empty() {
            return Err(AmiError::invalid(
                cf().push("label"),
                Code::InvalidValue,
                "each criterion needs a label",
            ));
        }
        if !(1..=1000).contains(&c.weight) {
            return Err(AmiError::invalid(
                cf().push("weight"),
                Code::InvalidValue,
                "weights are integers from 1 to 1000",
            ));
        }
        if !(1..=100).contains(&c.max_score) {
            return Err(AmiError::invalid(
                cf().push("maxScore"),
                Code::InvalidValue,
                "a criterion's maximum score is 1 to 100",
            ));
        }
    }
    Ok(())
}

/// Inserts a campaign and its grid (no authorization, no audit: the callers do both).
pub(crate) async fn insert_campaign<C: ConnectionTrait>(
    txn: &C,
    new: &NewCampaign,
) -> Result<campaign::Model, AmiError> {
    check_new(new)?;
    let envelope = maillage_funding::envelope_by_code(txn, new.envelope_code.trim())
        .await?
        .ok_or_else(|| {
            AmiError::invalid(
                FieldPath::new("input").push("envelopeCode"),
                Code::UnknownValue,
                format!("no funding envelope with code {:?}", new.envelope_code),
            )
        })?;
    let found = maillage_territories::regions_by_codes(txn, &new.priority_regions).await?;
    if let Some((i, r)) = new
        .priority_regions
        .iter()
        .enumerate()
        .find(|(_, r)| !found.iter().any(|f| &f.code == *r))
    {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("priorityRegions").index(i),
            Code::UnknownValue,
            format!("unknown region {r}"),
        ));
    }
    let now = Utc::now();
    let m = campaign::ActiveModel {
        code: Set(new.code.trim().to_owned()),
        name: Set(new.name.trim().to_owned()),
        opens_at: Set(new.opens_at),
        closes_at: Set(new.closes_at),
        envelope_id: Set(envelope.id),
        max_per_hub_cents: Set(new.max_per_hub.cents()),
        qpv_bonus_cents: Set(new.qpv_bonus.cents()),
        acv_bonus_cents: Set(new.acv_bonus.cents()),
        max_attachment_bytes: Set(new.max_attachment_bytes),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await
    .map_err(|e| {
        if maillage_core::db::is_unique_violation(&e) {
            AmiError::AlreadyExists(format!("a campaign with code {:?} exists", new.code))
        } else {
            e.into()
        }
    })?;
    let mut regions = new.priority_regions.clone();
    regions.sort();
    regions.dedup();
    if !regions.is_empty() {
        campaign_region::Entity::insert_many(regions.iter().map(|r| {
            campaign_region::ActiveModel {
                campaign_id: Set(m.id),
                region_code: Set(r.as_str().to_owned()),
            }
        }))
        .exec(txn)
        .await?;
    }
    criterion::Entity::insert_many(new.criteria.iter().zip(1..).map(|(c, position)| {
        criterion::ActiveModel {
            campaign_id: Set(m.id),
            code: Set(c.code.trim().to_owned()),
            label: Set(c.label.trim().to_owned()),
            weight: Set(c.weight),
            max_score: Set(c.max_score),
            position: Set(position),
            ..Default::default()
        }
    }))
    .exec(txn)
    .await?;
    Ok(m)
}

/// Creates a campaign with its scoring grid (admins).
#[tracing::instrument(skip_all, fields(campaign.code = %new.code))]
pub async fn create_campaign(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewCampaign,
) -> Result<Campaign, AmiError> {
    require_admin(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let m = insert_campaign(&txn, &new).await?;
    let mut changes = AuditChanges::new();
    changes.created("code", &m.code);
    changes.created("name", &m.name);
    changes.created("opens_at", &m.opens_at);
    changes.created("closes_at", &m.closes_at);
    changes.created("envelope_id", &m.envelope_id);
    changes.created("max_per_hub_cents", &m.max_per_hub_cents);
    changes.created("qpv_bonus_cents", &m.qpv_bonus_cents);
    changes.created("acv_bonus_cents", &m.acv_bonus_cents);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("ami_campaign", m.id.to_string(), "create", changes),
    )
    .await?;
    let c = load_campaign(&txn, CampaignId(m.id)).await?;
    txn.commit().await?;
    Ok(c)
}

async fn assemble<C: ConnectionTrait>(
    db: &C,
    rows: Vec<campaign::Model>,
) -> Result<Vec<Campaign>, AmiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut regions: HashMap<i32, Vec<RegionCode>> = HashMap::new();
    for r in campaign_region::Entity::find()
        .filter(campaign_region::Column::CampaignId.is_in(ids.clone()))
        .order_by_asc(campaign_region::Column::RegionCode)
        .all(db)
        .await?
    {
        let code = RegionCode::parse(&r.region_code)
            .map_err(|e| AmiError::corrupt("ami_campaign_region", r.campaign_id, e.to_string()))?;
        regions.entry(r.campaign_id).or_default().push(code);
    }
    let mut criteria: HashMap<i32, Vec<Criterion>> = HashMap::new();
    for c in criterion::Entity::find()
        .filter(criterion::Column::CampaignId.is_in(ids))
        .order_by_asc(criterion::Column::Position)
        .order_by_asc(criterion::Column::Id)
        .all(db)
        .await?
    {
        criteria.entry(c.campaign_id).or_default().push(Criterion {
            id: CriterionId(c.id),
            code: c.code,
            label: c.label,
            weight: c.weight,
            max_score: c.max_score,
            position: c.position,
        });
    }
    let envelopes = maillage_funding::list_envelopes(db).await?;
    rows.into_iter()
        .map(|m| {
            let envelope_code = envelopes
                .iter()
                .find(|e| e.id == m.envelope_id)
                .map(|e| e.code.clone())
                .ok_or_else(|| {
                    AmiError::corrupt("ami_campaign", m.id, "its envelope does not exist")
                })?;
            Ok(Campaign {
                id: CampaignId(m.id),
                code: m.code,
                name: m.name,
                opens_at: m.opens_at,
                closes_at: m.closes_at,
                envelope_id: m.envelope_id,
                envelope_code,
                max_per_hub: Money(m.max_per_hub_cents),
                qpv_bonus: Money(m.qpv_bonus_cents),
                acv_bonus: Money(m.acv_bonus_cents),
                priority_regions: regions.remove(&m.id).unwrap_or_default(),
                max_attachment_bytes: m.max_attachment_bytes,
                criteria: criteria.remove(&m.id).unwrap_or_default(),
                version: m.version,
            })
        })
        .collect()
}

/// One campaign (public: campaigns are published calls).
pub async fn get_campaign<C: ConnectionTrait>(
    db: &C,
    id: CampaignId,
) -> Result<Option<Campaign>, AmiError> {
    let rows = campaign::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .into_iter()
        .collect();
    Ok(assemble(db, rows).await?.into_iter().next())
}

pub(crate) async fn load_campaign<C: ConnectionTrait>(
    db: &C,
    id: CampaignId,
) -> Result<Campaign, AmiError> {
    get_campaign(db, id).await?.ok_or(AmiError::NotFound {
        entity: "campaign",
        id: id.0,
    })
}

/// A campaign by its code.
pub async fn campaign_by_code<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> Result<Option<Campaign>, AmiError> {
    let rows = campaign::Entity::find()
        .filter(campaign::Column::Code.eq(code.trim()))
        .one(db)
        .await?
        .into_iter()
        .collect();
    Ok(assemble(db, rows).await?.into_iter().next())
}

/// Every campaign, most recent opening first (public).
pub async fn list_campaigns<C: ConnectionTrait>(db: &C) -> Result<Vec<Campaign>, AmiError> {
    let rows = campaign::Entity::find()
        .order_by_desc(campaign::Column::OpensAt)
        .order_by_asc(campaign::Column::Id)
        .all(db)
        .await?;
    assemble(db, rows).await
}

/// A change to a campaign: `None` leaves a field as it is. The scoring grid is not changed here: sheets already
/// given refer to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignPatch {
    /// New name.
    pub name: Option<String>,
    /// New opening instant.
    pub opens_at: Option<DateTime<Utc>>,
    /// New closing second (inclusive).
    pub closes_at: Option<DateTime<Utc>>,
    /// New cap per hub.
    pub max_per_hub: Option<Money>,
    /// New QPV bonus.
    pub qpv_bonus: Option<Money>,
    /// New Action Cœur de Ville bonus.
    pub acv_bonus: Option<Money>,
    /// New priority regions (replace the list).
    pub priority_regions: Option<Vec<RegionCode>>,
    /// New attachment size limit.
    pub max_attachment_bytes: Option<i64>,
}

/// Changes a campaign (admins; `stale_version` when it changed since `version`). Dossiers already saved keep
/// their amounts; the new caps apply from their next save or submission.
#[tracing::instrument(skip_all, fields(campaign.id = %id))]
pub async fn update_campaign(
    db: &DatabaseConnection,
    actor: &Actor,
    id: CampaignId,
    version: i32,
    patch: CampaignPatch,
) -> Result<Campaign, AmiError> {
    require_admin(actor)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let old = load_campaign(&txn, id).await?;
    if old.version != version {
        return Err(AmiError::StaleVersion {
            entity: "campaign",
            id: id.0,
            expected: version,
            actual: old.version,
        });
    }
    // Check the campaign as it would be, with the same rules as a new one.
    let after = NewCampaign {
        code: old.code.clone(),
        name: patch.name.clone().unwrap_or_else(|| old.name.clone()),
        opens_at: patch.opens_at.unwrap_or(old.opens_at),
        closes_at: patch.closes_at.unwrap_or(old.closes_at),
        envelope_code: old.envelope_code.clone(),
        max_per_hub: patch.max_per_hub.unwrap_or(old.max_per_hub),
        qpv_bonus: patch.qpv_bonus.unwrap_or(old.qpv_bonus),
        acv_bonus: patch.acv_bonus.unwrap_or(old.acv_bonus),
        priority_regions: patch
            .priority_regions
            .clone()
            .unwrap_or_else(|| old.priority_regions.clone()),
        max_attachment_bytes: patch
            .max_attachment_bytes
            .unwrap_or(old.max_attachment_bytes),
        criteria: old
            .criteria
            .iter()
            .map(|c| NewCriterion {
                code: c.code.clone(),
                label: c.label.clone(),
                weight: c.weight,
                max_score: c.max_score,
            })
            .collect(),
    };
    check_new(&after)?;
    let found = maillage_territories::regions_by_codes(&txn, &after.priority_regions).await?;
    if let Some((i, r)) = after
        .priority_regions
        .iter()
        .enumerate()
        .find(|(_, r)| !found.iter().any(|f| &f.code == *r))
    {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("priorityRegions").index(i),
            Code::UnknownValue,
            format!("unknown region {r}"),
        ));
    }
    let updated = campaign::Entity::update_many()
        .col_expr(campaign::Column::Name, Expr::value(after.name.trim()))
        .col_expr(campaign::Column::OpensAt, Expr::value(after.opens_at))
        .col_expr(campaign::Column::ClosesAt, Expr::value(after.closes_at))
        .col_expr(
            campaign::Column::MaxPerHubCents,
            Expr::value(after.max_per_hub.cents()),
        )
        .col_expr(
            campaign::Column::QpvBonusCents,
            Expr::value(after.qpv_bonus.cents()),
        )
        .col_expr(
            campaign::Column::AcvBonusCents,
            Expr::value(after.acv_bonus.cents()),
        )
        .col_expr(
            campaign::Column::MaxAttachmentBytes,
            Expr::value(after.max_attachment_bytes),
        )
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            campaign::Column::Version,
            Expr::col(campaign::Column::Version).add(1),
        )
        .col_expr(campaign::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(campaign::Column::Id.eq(id.0))
        .filter(campaign::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(crate::applications::raced::<campaign::Entity, _>(
            &txn,
            "campaign",
            (campaign::Column::Id, campaign::Column::Version),
            id.0,
            version,
        )
        .await?);
    }
    if patch.priority_regions.is_some() {
        campaign_region::Entity::delete_many()
            .filter(campaign_region::Column::CampaignId.eq(id.0))
            .exec(&txn)
            .await?;
        let mut regions = after.priority_regions.clone();
        regions.sort();
        regions.dedup();
        if !regions.is_empty() {
            campaign_region::Entity::insert_many(regions.iter().map(|r| {
                campaign_region::ActiveModel {
                    campaign_id: Set(id.0),
                    region_code: Set(r.as_str().to_owned()),
                }
            }))
            .exec(&txn)
            .await?;
        }
    }
    let mut changes = AuditChanges::new();
    changes.changed("name", &old.name, after.name.trim());
    changes.changed("opens_at", &old.opens_at, &after.opens_at);
    changes.changed("closes_at", &old.closes_at, &after.closes_at);
    changes.changed(
        "max_per_hub_cents",
        &old.max_per_hub.cents(),
        &after.max_per_hub.cents(),
    );
    changes.changed(
        "qpv_bonus_cents",
        &old.qpv_bonus.cents(),
        &after.qpv_bonus.cents(),
    );
    changes.changed(
        "acv_bonus_cents",
        &old.acv_bonus.cents(),
        &after.acv_bonus.cents(),
    );
    let regions = |v: &[RegionCode]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|r| r.as_str().to_owned()).collect();
        v.sort();
        v.dedup();
        v
    };
    changes.changed(
        "priority_regions",
        &regions(&old.priority_regions),
        &regions(&after.priority_regions),
    );
    changes.changed(
        "max_attachment_bytes",
        &old.max_attachment_bytes,
        &after.max_attachment_bytes,
    );
    record(
        &txn,
        actor,
        AuditEntry::new("ami_campaign", id.to_string(), "update", changes),
    )
    .await?;
    let c = load_campaign(&txn, id).await?;
    txn.commit().await?;
    Ok(c)
}
