//! Dossiers: creation and edits by their applicant, the life-cycle transitions of [`crate::state`], reads and
//! lists per caller.
//!
//! Every write runs in one `begin_write` transaction with its audit entry; versions are checked inside the
//! `UPDATE` itself, so of two concurrent writers exactly one wins and the other gets `stale_version`.

use crate::AmiError;
use crate::access::{can_see, identity, party, require_applicant, require_participant};
use crate::campaigns::load_campaign;
use crate::entity::{application, application_department};
use crate::model::{
    Application, ApplicationData, ApplicationId, BudgetLine, Campaign, CampaignId, CoFunding,
    ConsortiumMember, Decision,
};
use crate::state::{self, Clock, Event, Party, Status};
use chrono::{DateTime, Utc};
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, DepartmentCode, HubId, RegionCode, Siret};
use maillage_funding::Money;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, Set,
};
use std::collections::HashMap;

/// A dossier to open in a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Its content (may be incomplete while a draft: completeness is checked at submission).
    pub data: ApplicationData,
}

const MAX_TEXT: usize = 20_000;
const MAX_LINES: usize = 100;

fn field(name: &str) -> FieldPath {
    FieldPath::new("input").push(name)
}

fn check_text(name: &str, value: &str, max: usize, required: bool) -> Result<(), AmiError> {
    if required && value.trim().is_empty() {
        return Err(AmiError::invalid(
            field(name),
            Code::InvalidValue,
            format!("{name} must not be empty"),
        ));
    }
    if value.chars().count() > max {
        return Err(AmiError::invalid(
            field(name),
            Code::InvalidValue,
            format!("{name} has at most {max} characters"),
        ));
    }
    Ok(())
}

/// Checks what must hold at every save, draft or not: sizes, amounts, the ceiling, known departments.
async fn check_data<C: ConnectionTrait>(
    db: &C,
    campaign: &Campaign,
    data: &ApplicationData,
) -> Result<(), AmiError> {
    check_text("hubName", &data.hub_name, 200, true)?;
    check_text("carrierName", &data.carrier_name, 300, true)?;
    check_text("carrierLegalForm", &data.carrier_legal_form, 100, true)?;
    check_text("actionProgramme", &data.action_programme, MAX_TEXT, false)?;
    check_text("governance", &data.governance, MAX_TEXT, false)?;
    if data.consortium.len() > MAX_LINES {
        return Err(AmiError::invalid(
            field("consortium"),
            Code::InvalidValue,
            format!("at most {MAX_LINES} consortium members"),
        ));
    }
    for (i, m) in data.consortium.iter().enumerate() {
        if m.name.trim().is_empty() || m.name.chars().count() > 300 {
            return Err(AmiError::invalid(
                field("consortium").index(i).push("name"),
                Code::InvalidValue,
                "a member's name has 1 to 300 characters",
            ));
        }
    }
    if data.budget.len() > MAX_LINES || data.co_funding.len() > MAX_LINES {
        return Err(AmiError::invalid(
            field(if data.budget.len() > MAX_LINES {
                "budget"
            } else {
                "coFunding"
            }),
            Code::InvalidValue,
            format!("at most {MAX_LINES} lines"),
        ));
    }
    for (i, l) in data.budget.iter().enumerate() {
        if l.label.trim().is_empty() || l.label.chars().count() > 300 {
            return Err(AmiError::invalid(
                field("budget").index(i).push("label"),
                Code::InvalidValue,
                "a budget line's label has 1 to 300 characters",
            ));
        }
        if l.amount < Money::ZERO {
            return Err(AmiError::invalid(
                field("budget").index(i).push("amount"),
                Code::InvalidValue,
                "a budget line's amount must not be negative",
            ));
        }
    }
    for (i, l) in data.co_funding.iter().enumerate() {
        if l.funder.trim().is_empty() || l.funder.chars().count() > 300 {
            return Err(AmiError::invalid(
                field("coFunding").index(i).push("funder"),
                Code::InvalidValue,
                "a co-funder's name has 1 to 300 characters",
            ));
        }
        if l.amount <= Money::ZERO {
            return Err(AmiError::invalid(
                field("coFunding").index(i).push("amount"),
                Code::InvalidValue,
                "a co-funding amount must be positive",
            ));
        }
    }
    if data.amount_requested < Money::ZERO {
        return Err(AmiError::invalid(
            field("amountRequested"),
            Code::InvalidValue,
            "the amount requested must not be negative",
        ));
    }
    check_ceiling(campaign, data, data.amount_requested)?;
    if data.departments.len() > 101 {
        return Err(AmiError::invalid(
            field("departments"),
            Code::InvalidValue,
            "at most 101 departments",
        ));
    }
    let found = maillage_territories::departments_by_codes(db, &data.departments).await?;
    if let Some((i, d)) = data
        .departments
        .iter()
        .enumerate()
        .find(|(_, d)| !found.iter().any(|f| &f.code == *d))
    {
        return Err(AmiError::invalid(
            field("departments").index(i),
            Code::UnknownValue,
            format!("unknown department {d}"),
        ));
    }
    Ok(())
}

/// Refuses an amount above the campaign's cap plus the bonuses the dossier's flags grant.
pub(crate) fn check_ceiling(
    campaign: &Campaign,
    data: &ApplicationData,
    amount: Money,
) -> Result<(), AmiError> {
    let allowed = campaign.ceiling(data.qpv, data.acv);
    if amount > allowed {
        let mut detail = format!("cap {}", campaign.max_per_hub);
        if data.qpv {
            detail.push_str(&format!(" + QPV bonus {}", campaign.qpv_bonus));
        }
        if data.acv {
            detail.push_str(&format!(
                " + Action Cœur de Ville bonus {}",
                campaign.acv_bonus
            ));
        }
        return Err(AmiError::AmountExceedsCap {
            requested: amount,
            allowed,
            detail,
        });
    }
    Ok(())
}

/// What must hold to submit: a complete dossier.
fn check_complete(data: &ApplicationData) -> Result<(), AmiError> {
    let missing = |name: &str, message: &str| AmiError::Incomplete {
        field: field(name),
        message: message.to_owned(),
    };
    if data.departments.is_empty() {
        return Err(missing("departments", "at least one department covered"));
    }
    if data.action_programme.trim().is_empty() {
        return Err(missing("actionProgramme", "the action programme"));
    }
    if data.governance.trim().is_empty() {
        return Err(missing("governance", "the governance"));
    }
    if data.budget.is_empty() {
        return Err(missing("budget", "at least one budget line"));
    }
    if data.amount_requested <= Money::ZERO {
        return Err(missing("amountRequested", "a positive amount requested"));
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // Serialising plain structs of strings, numbers and booleans cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_owned())
}

fn from_json<T: serde::de::DeserializeOwned>(
    id: i32,
    column: &str,
    raw: &str,
) -> Result<T, AmiError> {
    serde_json::from_str(raw)
        .map_err(|e| AmiError::corrupt("ami_application", id, format!("{column}: {e}")))
}

fn from_row(
    m: application::Model,
    departments: Vec<DepartmentCode>,
    regions: Vec<RegionCode>,
) -> Result<Application, AmiError> {
    let status = Status::parse(&m.status).ok_or_else(|| {
        AmiError::corrupt("ami_application", m.id, format!("status {:?}", m.status))
    })?;
    let carrier_siret = Siret::parse(&m.carrier_siret)
        .map_err(|e| AmiError::corrupt("ami_application", m.id, e.to_string()))?;
    let consortium: Vec<ConsortiumMember> = from_json(m.id, "consortium", &m.consortium)?;
    let budget: Vec<BudgetLine> = from_json(m.id, "budget", &m.budget)?;
    let co_funding: Vec<CoFunding> = from_json(m.id, "co_funding", &m.co_funding)?;
    let decision = m.decided_at.map(|decided_at| Decision {
        decided_at,
        awarded: m.awarded_cents.map(Money),
        hub: m.hub_id.map(HubId),
        grant_id: m.grant_id,
        reason: m.decision_reason.clone(),
    });
    Ok(Application {
        id: ApplicationId(m.id),
        campaign_id: CampaignId(m.campaign_id),
        owner: m.owner,
        status,
        data: ApplicationData {
            hub_name: m.hub_name,
            carrier_name: m.carrier_name,
            carrier_siret,
            carrier_legal_form: m.carrier_legal_form,
            consortium,
            departments,
            qpv: m.qpv,
            acv: m.acv,
            action_programme: m.action_programme,
            budget,
            amount_requested: Money(m.amount_requested_cents),
            co_funding,
            governance: m.governance,
        },
        regions,
        submitted_at: m.submitted_at,
        changes_requested: m.changes_requested,
        decision,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

/// Builds the domain values of these rows: departments in one statement, their regions in one more.
pub(crate) async fn assemble<C: ConnectionTrait>(
    db: &C,
    rows: Vec<application::Model>,
) -> Result<Vec<Application>, AmiError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i32> = rows.iter().map(|r| r.id).collect();
    let mut departments: HashMap<i32, Vec<DepartmentCode>> = HashMap::new();
    for d in application_department::Entity::find()
        .filter(application_department::Column::ApplicationId.is_in(ids))
        .order_by_asc(application_department::Column::DepartmentCode)
        .all(db)
        .await?
    {
        let code = DepartmentCode::parse(&d.department_code).map_err(|e| {
            AmiError::corrupt(
                "ami_application_department",
                d.application_id,
                e.to_string(),
            )
        })?;
        departments.entry(d.application_id).or_default().push(code);
    }
    let mut all: Vec<DepartmentCode> = departments.values().flatten().cloned().collect();
    all.sort();
    all.dedup();
    let region_of: HashMap<DepartmentCode, RegionCode> =
        maillage_territories::departments_by_codes(db, &all)
            .await?
            .into_iter()
            .map(|d| (d.code, d.region_code))
            .collect();
    rows.into_iter()
        .map(|m| {
            let deps = departments.remove(&m.id).unwrap_or_default();
            let mut regions: Vec<RegionCode> = deps
                .iter()
                .filter_map(|d| region_of.get(d).cloned())
                .collect();
            regions.sort();
            regions.dedup();
            from_row(m, deps, regions)
        })
        .collect()
}

/// Reads a dossier without any authorization (callers check).
pub(crate) async fn load<C: ConnectionTrait>(
    db: &C,
    id: ApplicationId,
) -> Result<Application, AmiError> {
    let row = application::Entity::find_by_id(id.0)
        .one(db)
        .await?
        .ok_or(AmiError::NotFound {
            entity: "application",
            id: id.0,
        })?;
    assemble(db, vec![row])
        .await?
        .into_iter()
        .next()
        .ok_or(AmiError::NotFound {
            entity: "application",
            id: id.0,
        })
}

/// Reads several dossiers without any authorization (callers check), in id order.
pub(crate) async fn load_many<C: ConnectionTrait>(
    db: &C,
    ids: &[ApplicationId],
) -> Result<Vec<Application>, AmiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = application::Entity::find()
        .filter(application::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .order_by_asc(application::Column::Id)
        .all(db)
        .await?;
    assemble(db, rows).await
}

/// Reads a dossier the caller may see; one it may not see is `not_found`, so ids reveal nothing.
pub(crate) async fn load_visible<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<Application, AmiError> {
    require_participant(actor)?;
    let app = load(db, id).await?;
    if can_see(actor, &app.owner, app.submitted_at.is_some()) {
        Ok(app)
    } else {
        Err(AmiError::NotFound {
            entity: "application",
            id: id.0,
        })
    }
}

/// One dossier, if the caller may see it: its applicant, reviewers once submitted, admins. Anyone else gets
/// `not_found` (applicants) or `forbidden` (roles that never read dossiers).
pub async fn get_application<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<Application, AmiError> {
    load_visible(db, actor, id).await
}

async fn replace_departments<C: ConnectionTrait>(
    txn: &C,
    id: i32,
    departments: &[DepartmentCode],
) -> Result<(), AmiError> {
    application_department::Entity::delete_many()
        .filter(application_department::Column::ApplicationId.eq(id))
        .exec(txn)
        .await?;
    let mut wanted = departments.to_vec();
    wanted.sort();
    wanted.dedup();
    if !wanted.is_empty() {
        application_department::Entity::insert_many(wanted.iter().map(|d| {
            application_department::ActiveModel {
                application_id: Set(id),
                department_code: Set(d.as_str().to_owned()),
            }
        }))
        .exec(txn)
        .await?;
    }
    Ok(())
}

fn audit_entry(app_id: i32, action: &'static str, changes: AuditChanges) -> AuditEntry {
    AuditEntry::new("ami_application", app_id.to_string(), action, changes)
}

/// The audited view of a dossier's content: identifying facts and amounts; long texts only as "changed".
fn audit_content(
    changes: &mut AuditChanges,
    before: Option<&ApplicationData>,
    after: &ApplicationData,
) {
    let deps = |d: &ApplicationData| -> Vec<String> {
        d.departments
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect()
    };
    match before {
        None => {
            changes.created("hub_name", &after.hub_name);
            changes.created("carrier_name", &after.carrier_name);
            changes.created("carrier_siret", after.carrier_siret.as_str());
            changes.created("carrier_legal_form", &after.carrier_legal_form);
            changes.created("departments", &deps(after));
            changes.created("qpv", &after.qpv);
            changes.created("acv", &after.acv);
            changes.created("amount_requested_cents", &after.amount_requested.cents());
        }
        Some(b) => {
            changes.changed("hub_name", &b.hub_name, &after.hub_name);
            changes.changed("carrier_name", &b.carrier_name, &after.carrier_name);
            changes.changed(
                "carrier_siret",
                b.carrier_siret.as_str(),
                after.carrier_siret.as_str(),
            );
            changes.changed(
                "carrier_legal_form",
                &b.carrier_legal_form,
                &after.carrier_legal_form,
            );
            changes.changed("departments", &deps(b), &deps(after));
            changes.changed("qpv", &b.qpv, &after.qpv);
            changes.changed("acv", &b.acv, &after.acv);
            changes.changed(
                "amount_requested_cents",
                &b.amount_requested.cents(),
                &after.amount_requested.cents(),
            );
            for (name, changed) in [
                ("consortium", b.consortium != after.consortium),
                (
                    "action_programme",
                    b.action_programme != after.action_programme,
                ),
                ("budget", b.budget != after.budget),
                ("co_funding", b.co_funding != after.co_funding),
                ("governance", b.governance != after.governance),
            ] {
                if changed {
                    changes.note(name, "changed");
                }
            }
        }
    }
}

/// Opens a draft dossier in a campaign (applicants). Refused once the campaign is closed (`campaign_closed`);
/// an amount above the cap plus the applicable bonuses is `amount_exceeds_cap`.
#[tracing::instrument(skip_all, fields(campaign.id = %new.campaign_id))]
pub async fn create_application(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    new: NewApplication,
) -> Result<Application, AmiError> {
    require_applicant(actor)?;
    let campaign = load_campaign(db, new.campaign_id)
        .await
        .map_err(|e| match e {
            AmiError::NotFound { .. } => AmiError::invalid(
                field("campaignId"),
                Code::NotFound,
                format!("no campaign with id {}", new.campaign_id),
            ),
            other => other,
        })?;
    let now = clock.now();
    if let Err(state::Refusal::Closed { closes_at }) = campaign.window().check(now) {
        return Err(state::Refusal::Closed { closes_at }.into());
    }
    check_data(db, &campaign, &new.data).await?;
    let d = &new.data;
    let txn = maillage_core::db::begin_write(db).await?;
    let m = application::ActiveModel {
        campaign_id: Set(campaign.id.0),
        owner: Set(identity(actor).to_owned()),
        status: Set(Status::Draft.as_str().to_owned()),
        hub_name: Set(d.hub_name.trim().to_owned()),
        carrier_name: Set(d.carrier_name.trim().to_owned()),
        carrier_siret: Set(d.carrier_siret.as_str().to_owned()),
        carrier_legal_form: Set(d.carrier_legal_form.trim().to_owned()),
        consortium: Set(json(&d.consortium)),
        qpv: Set(d.qpv),
        acv: Set(d.acv),
        action_programme: Set(d.action_programme.clone()),
        budget: Set(json(&d.budget)),
        amount_requested_cents: Set(d.amount_requested.cents()),
        co_funding: Set(json(&d.co_funding)),
        governance: Set(d.governance.clone()),
        submitted_at: Set(None),
        changes_requested: Set(None),
        decided_at: Set(None),
        decision_reason: Set(None),
        awarded_cents: Set(None),
        hub_id: Set(None),
        grant_id: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    replace_departments(&txn, m.id, &d.departments).await?;
    let mut changes = AuditChanges::new();
    changes.created("campaign_id", &m.campaign_id);
    changes.created("owner", &m.owner);
    changes.created("status", &m.status);
    audit_content(&mut changes, None, d);
    record(&txn, actor, audit_entry(m.id, "create", changes)).await?;
    let app = load(&txn, ApplicationId(m.id)).await?;
    txn.commit().await?;
    Ok(app)
}

/// Replaces a dossier's content (its applicant only, while `draft` or `changes_requested`; `stale_version` when
/// someone changed it since `version`).
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn update_application(
    db: &DatabaseConnection,
    actor: &Actor,
    id: ApplicationId,
    version: i32,
    data: ApplicationData,
) -> Result<Application, AmiError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let old = load_visible(&txn, actor, id).await?;
    let who = party(actor, &old.owner);
    if who != Some(Party::Applicant) {
        return Err(AmiError::Forbidden(
            "only the applicant edits its dossier".to_owned(),
        ));
    }
    check_version(&old, version)?;
    if !state::can_edit(old.status, Party::Applicant) {
        return Err(AmiError::NotEditable(old.status));
    }
    let campaign = load_campaign(&txn, old.campaign_id).await?;
    check_data(&txn, &campaign, &data).await?;
    let now = Utc::now();
    let updated = application::Entity::update_many()
        .col_expr(
            application::Column::HubName,
            Expr::value(data.hub_name.trim()),
        )
        .col_expr(
            application::Column::CarrierName,
            Expr::value(data.carrier_name.trim()),
        )
        .col_expr(
            application::Column::CarrierSiret,
            Expr::value(data.carrier_siret.as_str()),
        )
        .col_expr(
            application::Column::CarrierLegalForm,
            Expr::value(data.carrier_legal_form.trim()),
        )
        .col_expr(
            application::Column::Consortium,
            Expr::value(json(&data.consortium)),
        )
        .col_expr(application::Column::Qpv, Expr::value(data.qpv))
        .col_expr(application::Column::Acv, Expr::value(data.acv))
        .col_expr(
            application::Column::ActionProgramme,
            Expr::value(data.action_programme.clone()),
        )
        .col_expr(application::Column::Budget, Expr::value(json(&data.budget)))
        .col_expr(
            application::Column::AmountRequestedCents,
            Expr::value(data.amount_requested.cents()),
        )
        .col_expr(
            application::Column::CoFunding,
            Expr::value(json(&data.co_funding)),
        )
        .col_expr(
            application::Column::Governance,
            Expr::value(data.governance.clone()),
        )
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            application::Column::Version,
            Expr::col(application::Column::Version).add(1),
        )
        .col_expr(application::Column::UpdatedAt, Expr::value(now))
        .filter(application::Column::Id.eq(id.0))
        .filter(application::Column::Version.eq(version))
        .filter(
            application::Column::Status
                .is_in([Status::Draft.as_str(), Status::ChangesRequested.as_str()]),
        )
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(raced_application(&txn, id.0, version).await?);
    }
    replace_departments(&txn, id.0, &data.departments).await?;
    let mut changes = AuditChanges::new();
    audit_content(&mut changes, Some(&old.data), &data);
    record(&txn, actor, audit_entry(id.0, "update", changes)).await?;
    let app = load(&txn, id).await?;
    txn.commit().await?;
    Ok(app)
}

pub(crate) fn check_version(app: &Application, version: i32) -> Result<(), AmiError> {
    if app.version == version {
        Ok(())
    } else {
        Err(AmiError::StaleVersion {
            entity: "application",
            id: app.id.0,
            expected: version,
            actual: app.version,
        })
    }
}

/// The error for a conditional `UPDATE` of `entity` row `id` at `version` that matched no row although the caller's
/// version had been checked: a concurrent writer won the race. It reports the version stored now, re-read (not a
/// guess computed from the caller's version, which may be `i32::MAX`), or not found once the row is gone.
pub(crate) async fn raced<E: EntityTrait, C: ConnectionTrait>(
    db: &C,
    entity: &'static str,
    (id_col, version_col): (E::Column, E::Column),
    id: i32,
    version: i32,
) -> Result<AmiError, DbErr> {
    let stored = maillage_core::db::stored_version::<E, _>(db, (id_col, version_col), id).await?;
    Ok(match stored {
        Some(actual) => AmiError::StaleVersion {
            entity,
            id,
            expected: version,
            actual,
        },
        None => AmiError::NotFound { entity, id },
    })
}

/// [`raced`] for a dossier.
pub(crate) async fn raced_application<C: ConnectionTrait>(
    db: &C,
    id: i32,
    version: i32,
) -> Result<AmiError, DbErr> {
    raced::<application::Entity, _>(
        db,
        "application",
        (application::Column::Id, application::Column::Version),
        id,
        version,
    )
    .await
}

/// An event to fire, when, and the campaign window the state machine checks it against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub event: Event,
    pub now: DateTime<Utc>,
    pub window: state::Window,
}

/// Extra columns a transition sets along with the status, and extra facts for its audit entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct TransitionSet {
    pub changes: AuditChanges,
    pub submitted_at: Option<DateTime<Utc>>,
    pub changes_requested: Option<Option<String>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_reason: Option<Option<String>>,
    pub awarded: Option<Money>,
    pub hub: Option<HubId>,
    pub grant_id: Option<i32>,
}

/// Fires `event` on `app` inside `txn`: the state machine decides, the `UPDATE` checks version and status again
/// (a concurrent writer makes it match nothing: `stale_version`), and the audit entry is written in the same
/// transaction. Returns the new status.
pub(crate) async fn fire<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    app: &Application,
    version: i32,
    step: Step,
    set: TransitionSet,
) -> Result<Status, AmiError> {
    let Step { event, now, window } = step;
    let mut changes = set.changes;
    let who = party(actor, &app.owner).ok_or_else(|| {
        AmiError::Forbidden(format!("the role {} may not act on dossiers", actor.role()))
    })?;
    check_version(app, version)?;
    let to = state::apply(app.status, event, who, now, &window)?;
    let mut q = application::Entity::update_many()
        .col_expr(application::Column::Status, Expr::value(to.as_str()))
        // The database adds one to the stored version (the caller's, by the filter): no arithmetic on a version a
        // client sent, which may be `i32::MAX`.
        .col_expr(
            application::Column::Version,
            Expr::col(application::Column::Version).add(1),
        )
        .col_expr(application::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(at) = set.submitted_at {
        q = q.col_expr(application::Column::SubmittedAt, Expr::value(at));
    }
    if let Some(note) = &set.changes_requested {
        q = q.col_expr(
            application::Column::ChangesRequested,
            Expr::value(note.clone()),
        );
        changes.changed("changes_requested", &app.changes_requested, note);
    }
    if let Some(at) = set.decided_at {
        q = q.col_expr(application::Column::DecidedAt, Expr::value(at));
    }
    if let Some(reason) = &set.decision_reason {
        q = q.col_expr(
            application::Column::DecisionReason,
            Expr::value(reason.clone()),
        );
        changes.created("decision_reason", reason);
    }
    if let Some(m) = set.awarded {
        q = q.col_expr(application::Column::AwardedCents, Expr::value(m.cents()));
        changes.created("awarded_cents", &m.cents());
    }
    if let Some(h) = set.hub {
        q = q.col_expr(application::Column::HubId, Expr::value(h.0));
        changes.created("hub_id", &h.0);
    }
    if let Some(g) = set.grant_id {
        q = q.col_expr(application::Column::GrantId, Expr::value(g));
        changes.created("grant_id", &g);
    }
    let updated = q
        .filter(application::Column::Id.eq(app.id.0))
        .filter(application::Column::Version.eq(version))
        .filter(application::Column::Status.eq(app.status.as_str()))
        .exec(txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(raced_application(txn, app.id.0, version).await?);
    }
    changes.changed("status", app.status.as_str(), to.as_str());
    let department = if app.data.departments.len() == 1 {
        app.data.departments.first().cloned()
    } else {
        None
    };
    record(
        txn,
        actor,
        audit_entry(app.id.0, event.as_str(), changes).department(department),
    )
    .await?;
    Ok(to)
}

/// Fires one event that needs nothing but the state machine, in its own transaction.
async fn simple(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
    event: Event,
    set: impl FnOnce(&Application, &Campaign, DateTime<Utc>) -> Result<TransitionSet, AmiError>,
) -> Result<Application, AmiError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let app = load_visible(&txn, actor, id).await?;
    let campaign = load_campaign(&txn, app.campaign_id).await?;
    let now = clock.now();
    let extra = set(&app, &campaign, now)?;
    let step = Step {
        event,
        now,
        window: campaign.window(),
    };
    fire(&txn, actor, &app, version, step, extra).await?;
    let app = load(&txn, id).await?;
    txn.commit().await?;
    Ok(app)
}

/// Submits a draft (its applicant), if complete, within the campaign's window to the second, and within the
/// ceiling of the campaign as it stands now.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn submit_application(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
) -> Result<Application, AmiError> {
    simple(
        db,
        actor,
        clock,
        id,
        version,
        Event::Submit,
        |app, campaign, now| {
            // Only worth checking when the state machine will accept the event; otherwise its refusal is the answer.
            if party(actor, &app.owner) == Some(Party::Applicant) && app.status == Status::Draft {
                check_complete(&app.data)?;
                check_ceiling(campaign, &app.data, app.data.amount_requested)?;
            }
            Ok(TransitionSet {
                submitted_at: Some(now),
                ..TransitionSet::default()
            })
        },
    )
    .await
}

/// Sends a dossier back to its applicant with what to change (reviewers, admins): it becomes editable again.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn request_changes(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
    message: &str,
) -> Result<Application, AmiError> {
    let message = message.trim();
    if message.is_empty() || message.chars().count() > MAX_TEXT {
        return Err(AmiError::invalid(
            field("message"),
            Code::InvalidValue,
            format!("say what to change, in 1 to {MAX_TEXT} characters"),
        ));
    }
    simple(
        db,
        actor,
        clock,
        id,
        version,
        Event::RequestChanges,
        |_, _, _| {
            Ok(TransitionSet {
                changes_requested: Some(Some(message.to_owned())),
                ..TransitionSet::default()
            })
        },
    )
    .await
}

/// Sends a changed dossier again (its applicant). Not bound to the deadline: changes are requested during the
/// review, after the closing. Completeness and the ceiling are checked again.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn resubmit_application(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
) -> Result<Application, AmiError> {
    simple(
        db,
        actor,
        clock,
        id,
        version,
        Event::Resubmit,
        |app, campaign, _| {
            if party(actor, &app.owner) == Some(Party::Applicant)
                && app.status == Status::ChangesRequested
            {
                check_complete(&app.data)?;
                check_ceiling(campaign, &app.data, app.data.amount_requested)?;
            }
            Ok(TransitionSet::default())
        },
    )
    .await
}

/// Starts the review of a (re)submitted dossier (reviewers, admins): reviewers may then score it.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn start_review(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
) -> Result<Application, AmiError> {
    simple(
        db,
        actor,
        clock,
        id,
        version,
        Event::StartReview,
        |_, _, _| Ok(TransitionSet::default()),
    )
    .await
}

/// Withdraws a dossier (its applicant), in any status but a final one.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn withdraw_application(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
) -> Result<Application, AmiError> {
    simple(db, actor, clock, id, version, Event::Withdraw, |_, _, _| {
        Ok(TransitionSet::default())
    })
    .await
}
