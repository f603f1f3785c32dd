//! Pass numérique programmes: vouchers a collectivité hands out, usable in the sites that accept them.

use crate::FundingError;
use crate::access::require_manager;
use crate::entity::{pass_programme, pass_programme_site, voucher_movement};
use crate::envelopes::{check_room, envelope_by_code, lock_chain};
use crate::model::{PassProgramme, VoucherMovement};
use crate::money::Money;
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::Paris;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, DepartmentCode, SiteId};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use std::collections::HashMap;

fn from_model(m: pass_programme::Model, sites: Vec<SiteId>) -> Result<PassProgramme, FundingError> {
    let department = match m.department_code.as_deref() {
        Some(d) => Some(
            DepartmentCode::parse(d).map_err(|e| FundingError::CorruptRow {
                entity: "pass_programme",
                id: m.id,
                detail: e.to_string(),
            })?,
        ),
        None => None,
    };
    Ok(PassProgramme {
        id: m.id,
        collectivite: m.collectivite,
        department,
        amount: Money(m.amount_cents),
        vouchers_issued: m.vouchers_issued,
        vouchers_used: m.vouchers_used,
        sites,
        envelope_id: m.envelope_id,
        signed_on: m.signed_on,
        version: m.version,
    })
}

async fn sites_of<C: ConnectionTrait>(
    db: &C,
    ids: &[i32],
) -> Result<HashMap<i32, Vec<SiteId>>, FundingError> {
    let mut out: HashMap<i32, Vec<SiteId>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for r in pass_programme_site::Entity::find()
        .filter(pass_programme_site::Column::ProgrammeId.is_in(ids.to_vec()))
        .order_by_asc(pass_programme_site::Column::SiteId)
        .all(db)
        .await?
    {
        out.entry(r.programme_id)
            .or_default()
            .push(SiteId(r.site_id));
    }
    Ok(out)
}

/// Every programme, by collectivité (two statements).
pub async fn list_pass_programmes<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<PassProgramme>, FundingError> {
    let rows = pass_programme::Entity::find()
        .order_by_asc(pass_programme::Column::Collectivite)
        .order_by_asc(pass_programme::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut sites = sites_of(db, &ids).await?;
    rows.into_iter()
        .map(|r| {
            let s = sites.remove(&r.id).unwrap_or_default();
            from_model(r, s)
        })
        .collect()
}

/// One programme.
pub async fn get_pass_programme<C: ConnectionTrait>(
    db: &C,
    id: i32,
) -> Result<Option<PassProgramme>, FundingError> {
    let Some(m) = pass_programme::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    let sites = sites_of(db, &[id]).await?.remove(&id).unwrap_or_default();
    from_model(m, sites).map(Some)
}

/// A programme's content, for creation and replacement.
#[derive(Debug, Clone)]
pub struct PassProgrammeData {
    /// The collectivité's name.
    pub collectivite: String,
    /// Its department.
    pub department: Option<DepartmentCode>,
    /// Amount.
    pub amount: Money,
    /// Vouchers handed out.
    pub vouchers_issued: i64,
    /// Vouchers used: never more than issued.
    pub vouchers_used: i64,
    /// Sites accepting the vouchers.
    pub sites: Vec<SiteId>,
    /// The envelope its amount is committed in; `None`: the `PASS` envelope.
    pub envelope_id: Option<i32>,
    /// The day its convention was signed (default: today): the month its amount is committed in.
    pub signed_on: Option<NaiveDate>,
    /// The day the voucher counts changed to the ones given (default: today): a change is recorded as a dated
    /// movement.
    pub vouchers_on: Option<NaiveDate>,
}

/// The code of the envelope Pass numérique programmes commit in by default.
pub const PASS_ENVELOPE: &str = "PASS";

fn today() -> NaiveDate {
    Utc::now().with_timezone(&Paris).date_naive()
}

/// The envelope a programme commits in: the one given, else `PASS`.
async fn envelope_of<C: ConnectionTrait>(
    db: &C,
    data: &PassProgrammeData,
) -> Result<i32, FundingError> {
    match data.envelope_id {
        Some(id) => Ok(id),
        None => envelope_by_code(db, PASS_ENVELOPE)
            .await?
            .map(|e| e.id)
            .ok_or_else(|| {
                FundingError::invalid(
                    FieldPath::new("input").push("envelopeId"),
                    Code::NotFound,
                    format!("no envelope {PASS_ENVELOPE}: give envelopeId"),
                )
            }),
    }
}

/// Records the change of voucher counts as one dated movement (nothing when they did not change).
async fn record_movement<C: ConnectionTrait>(
    txn: &C,
    programme_id: i32,
    issued: i64,
    used: i64,
    on: NaiveDate,
) -> Result<(), FundingError> {
    if issued == 0 && used == 0 {
        return Ok(());
    }
    voucher_movement::ActiveModel {
        programme_id: Set(programme_id),
        issued: Set(issued),
        used: Set(used),
        moved_on: Set(on),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// The dated voucher movements of a programme, oldest first: their sums are its counts.
pub async fn voucher_movements<C: ConnectionTrait>(
    db: &C,
    programme_id: i32,
) -> Result<Vec<VoucherMovement>, FundingError> {
    Ok(voucher_movement::Entity::find()
        .filter(voucher_movement::Column::ProgrammeId.eq(programme_id))
        .order_by_asc(voucher_movement::Column::MovedOn)
        .order_by_asc(voucher_movement::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|m| VoucherMovement {
            id: m.id,
            programme_id: m.programme_id,
            issued: m.issued,
            used: m.used,
            moved_on: m.moved_on,
        })
        .collect())
}

fn check(data: &PassProgrammeData) -> Result<(), FundingError> {
    let f = |n: &str| FieldPath::new("input").push(n);
    if data.collectivite.trim().is_empty() {
        return Err(FundingError::invalid(
            f("collectivite"),
            Code::InvalidValue,
            "collectivite must not be empty",
        ));
    }
    if data.amount < Money::ZERO {
        return Err(FundingError::invalid(
            f("amount"),
            Code::InvalidValue,
            "amount cannot be negative",
        ));
    }
    if data.vouchers_issued < 0 || data.vouchers_used < 0 {
        return Err(FundingError::invalid(
            f("vouchersIssued"),
            Code::InvalidValue,
            "voucher counts cannot be negative",
        ));
    }
    if data.vouchers_used > data.vouchers_issued {
        return Err(FundingError::invalid(
            f("vouchersUsed"),
            Code::InvalidValue,
            "more vouchers used than issued",
        ));
    }
    Ok(())
}

async fn replace_sites<C: ConnectionTrait>(
    db: &C,
    id: i32,
    sites: &[SiteId],
) -> Result<(), FundingError> {
    pass_programme_site::Entity::delete_many()
        .filter(pass_programme_site::Column::ProgrammeId.eq(id))
        .exec(db)
        .await?;
    let mut unique: Vec<i32> = sites.iter().map(|s| s.0).collect();
    unique.sort_unstable();
    unique.dedup();
    if unique.is_empty() {
        return Ok(());
    }
    pass_programme_site::Entity::insert_many(unique.into_iter().map(|s| {
        pass_programme_site::ActiveModel {
            programme_id: Set(id),
            site_id: Set(s),
        }
    }))
    .exec(db)
    .await
    .map_err(|e| {
        if maillage_core::db::is_foreign_key_violation(&e) {
            FundingError::invalid(
                FieldPath::new("input").push("sites"),
                Code::NotFound,
                "one of the sites does not exist",
            )
        } else {
            e.into()
        }
    })?;
    Ok(())
}

fn audit(c: &mut AuditChanges, before: Option<&PassProgramme>, after: &PassProgrammeData) {
    let sites = |s: &[SiteId]| s.iter().map(|s| s.0).collect::<Vec<_>>();
    match before {
        Some(b) => {
            c.changed("collectivite", &b.collectivite, &after.collectivite);
            c.changed("department_code", &b.department, &after.department);
            c.changed("amount_cents", &b.amount.cents(), &after.amount.cents());
            c.changed(
                "vouchers_issued",
                &b.vouchers_issued,
                &after.vouchers_issued,
            );
            c.changed("vouchers_used", &b.vouchers_used, &after.vouchers_used);
            c.changed("sites", &sites(&b.sites), &sites(&after.sites));
            c.changed("envelope_id", &b.envelope_id, &after.envelope_id);
            c.changed(
                "signed_on",
                &b.signed_on.map(|d| d.to_string()),
                &after.signed_on.map(|d| d.to_string()),
            );
        }
        None => {
            c.created("collectivite", &after.collectivite);
            c.created("department_code", &after.department);
            c.created("amount_cents", &after.amount.cents());
            c.created("vouchers_issued", &after.vouchers_issued);
            c.created("vouchers_used", &after.vouchers_used);
            c.created("sites", &sites(&after.sites));
            c.created("envelope_id", &after.envelope_id);
            c.created("signed_on", &after.signed_on.map(|d| d.to_string()));
        }
    }
}

/// Records a collectivité's programme (BdT reviewers, admins).
#[tracing::instrument(skip_all)]
pub async fn create_pass_programme(
    db: &DatabaseConnection,
    actor: &Actor,
    data: PassProgrammeData,
) -> Result<PassProgramme, FundingError> {
    require_manager(actor)?;
    check(&data)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let p = create_pass_programme_in(&txn, actor, data, "api").await?;
    txn.commit().await?;
    Ok(p)
}

/// [`create_pass_programme`] inside the caller's write transaction (imports): the programme's amount is committed
/// in its envelope under the envelope chain's locks, as grants are, so concurrent programmes never over-commit.
pub(crate) async fn create_pass_programme_in<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    mut data: PassProgrammeData,
    via: &str,
) -> Result<PassProgramme, FundingError> {
    check(&data)?;
    let envelope_id = envelope_of(txn, &data).await?;
    data.envelope_id = Some(envelope_id);
    let signed_on = data.signed_on.unwrap_or_else(today);
    data.signed_on = Some(signed_on);
    let chain = lock_chain(txn, envelope_id).await?;
    check_room(txn, &chain, data.amount).await?;
    let now = Utc::now();
    let m = pass_programme::ActiveModel {
        envelope_id: Set(Some(envelope_id)),
        signed_on: Set(Some(signed_on)),
        collectivite: Set(data.collectivite.trim().to_owned()),
        department_code: Set(data.department.as_ref().map(|d| d.as_str().to_owned())),
        amount_cents: Set(data.amount.cents()),
        vouchers_issued: Set(data.vouchers_issued),
        vouchers_used: Set(data.vouchers_used),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    replace_sites(txn, m.id, &data.sites).await?;
    record_movement(
        txn,
        m.id,
        data.vouchers_issued,
        data.vouchers_used,
        data.vouchers_on.unwrap_or(signed_on),
    )
    .await?;
    let mut changes = AuditChanges::new();
    audit(&mut changes, None, &data);
    changes.note("via", via);
    record(
        txn,
        actor,
        AuditEntry::new("pass_programme", m.id.to_string(), "create", changes)
            .department(data.department.clone()),
    )
    .await?;
    get_pass_programme(txn, m.id)
        .await?
        .ok_or(FundingError::NotFound {
            entity: "pass programme",
            id: m.id,
        })
}

/// Replaces a programme's content at `version` (BdT reviewers, admins): typically new voucher counts.
#[tracing::instrument(skip_all, fields(programme.id = %id))]
pub async fn update_pass_programme(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i32,
    version: i32,
    data: PassProgrammeData,
) -> Result<PassProgramme, FundingError> {
    require_manager(actor)?;
    check(&data)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let old = get_pass_programme(&txn, id)
        .await?
        .ok_or(FundingError::NotFound {
            entity: "pass programme",
            id,
        })?;
    if old.version != version {
        return Err(FundingError::StaleVersion {
            entity: "pass programme",
            id,
            expected: version,
            actual: old.version,
        });
    }
    let mut data = data;
    let envelope_id = match data.envelope_id {
        Some(e) => e,
        None => match old.envelope_id {
            Some(e) => e,
            None => envelope_of(&txn, &data).await?,
        },
    };
    data.envelope_id = Some(envelope_id);
    data.signed_on = data.signed_on.or(old.signed_on);
    // Only what the programme newly commits in the envelope needs room: its old amount is counted already when it
    // stays in the same envelope.
    let before = if old.envelope_id == Some(envelope_id) {
        old.amount
    } else {
        Money::ZERO
    };
    if data.amount > before {
        let chain = lock_chain(&txn, envelope_id).await?;
        check_room(&txn, &chain, data.amount - before).await?;
    }
    let updated = pass_programme::Entity::update_many()
        .col_expr(
            pass_programme::Column::Collectivite,
            Expr::value(data.collectivite.trim().to_owned()),
        )
        .col_expr(
            pass_programme::Column::DepartmentCode,
            Expr::value(data.department.as_ref().map(|d| d.as_str().to_owned())),
        )
        .col_expr(
            pass_programme::Column::AmountCents,
            Expr::value(data.amount.cents()),
        )
        .col_expr(
            pass_programme::Column::VouchersIssued,
            Expr::value(data.vouchers_issued),
        )
        .col_expr(
            pass_programme::Column::VouchersUsed,
            Expr::value(data.vouchers_used),
        )
        .col_expr(
            pass_programme::Column::EnvelopeId,
            Expr::value(Some(envelope_id)),
        )
        .col_expr(
            pass_programme::Column::SignedOn,
            Expr::value(data.signed_on),
        )
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            pass_programme::Column::Version,
            Expr::col(pass_programme::Column::Version).add(1),
        )
        .col_expr(pass_programme::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(pass_programme::Column::Id.eq(id))
        .filter(pass_programme::Column::Version.eq(version))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(FundingError::raced::<pass_programme::Entity, _>(
            &txn,
            "pass programme",
            (pass_programme::Column::Id, pass_programme::Column::Version),
            id,
            version,
        )
        .await?);
    }
    replace_sites(&txn, id, &data.sites).await?;
    record_movement(
        &txn,
        id,
        data.vouchers_issued - old.vouchers_issued,
        data.vouchers_used - old.vouchers_used,
        data.vouchers_on.unwrap_or_else(today),
    )
    .await?;
    let mut changes = AuditChanges::new();
    audit(&mut changes, Some(&old), &data);
    changes.note("via", "api");
    record(
        &txn,
        actor,
        AuditEntry::new("pass_programme", id.to_string(), "update", changes)
            .department(data.department.clone()),
    )
    .await?;
    let p = get_pass_programme(&txn, id)
        .await?
        .ok_or(FundingError::NotFound {
            entity: "pass programme",
            id,
        })?;
    txn.commit().await?;
    Ok(p)
}
