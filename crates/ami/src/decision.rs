//! The decision on a dossier under review, in one transaction: selecting creates the hub (territories) with the
//! dossier's departments and the signed grant (funding) of the awarded amount from the campaign's envelope, or
//! nothing at all when the envelope lacks room; rejecting records a reason the applicant reads.

use crate::AmiError;
use crate::access::{identity, require_reviewer};
use crate::applications::{
    Step, TransitionSet, check_ceiling, check_version, fire, load, load_visible, raced_application,
};
use crate::campaigns::load_campaign;
use crate::entity::{application, conflict};
use crate::model::{Application, ApplicationId};
use crate::state::{self, Clock, Event, Party};
use chrono_tz::Europe::Paris;
use maillage_access::AuditChanges;
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{Actor, text::fold};
use maillage_funding::{BeneficiaryKind, Money, SelectionGrant, VerifiedBeneficiary};
use maillage_territories::NewHub;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};

const MAX_REASON: usize = 10_000;

/// Locks the dossier's row while it is still at `version` (a no-op `UPDATE`), so that of two concurrent deciders
/// the second waits here and then finds the version moved (`stale_version`), before creating anything.
async fn lock_row<C: ConnectionTrait>(
    txn: &C,
    app: &Application,
    version: i32,
) -> Result<(), AmiError> {
    check_version(app, version)?;
    let locked = application::Entity::update_many()
        .col_expr(
            application::Column::Version,
            Expr::col(application::Column::Version),
        )
        .filter(application::Column::Id.eq(app.id.0))
        .filter(application::Column::Version.eq(version))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(raced_application(txn, app.id.0, version).await?);
    }
    Ok(())
}

/// A hub slug from the dossier: `ami-<id>-<folded hub name>`, unique by the id and readable by the name.
fn hub_slug(app: &Application) -> String {
    let mut slug = String::new();
    for c in fold(&app.data.hub_name).chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let name: String = slug.trim_matches('-').chars().take(60).collect();
    format!("ami-{}-{}", app.id, name.trim_end_matches('-'))
        .trim_end_matches('-')
        .to_owned()
}

/// A reviewer who declared a conflict of interest on a dossier does not decide it either.
async fn refuse_conflicted<C: ConnectionTrait>(
    txn: &C,
    actor: &Actor,
    id: ApplicationId,
) -> Result<(), AmiError> {
    let declared = conflict::Entity::find_by_id((id.0, identity(actor).to_owned()))
        .one(txn)
        .await?;
    if declared.is_some() {
        return Err(AmiError::ConflictOfInterest(id.0));
    }
    Ok(())
}

fn clean_reason(reason: Option<&str>, required: bool) -> Result<Option<String>, AmiError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        None if required => Err(AmiError::invalid(
            FieldPath::new("input").push("reason"),
            Code::InvalidValue,
            "a rejection needs a reason: the applicant reads it",
        )),
        Some(r) if r.chars().count() > MAX_REASON => Err(AmiError::invalid(
            FieldPath::new("input").push("reason"),
            Code::InvalidValue,
            format!("a reason has at most {MAX_REASON} characters"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Selects a dossier under review (reviewers, admins) and awards `awarded`: in one transaction, creates the hub
/// with the dossier's departments, a hub-coordinator invitation for the dossier's applicant account, the signed
/// grant from the campaign's envelope, moves the dossier to `selected` and writes the audit entries of all.
///
/// `awarded` must be positive, at most the amount requested and at most the cap plus the bonuses that apply.
/// When the envelope (or an ancestor) lacks room the answer is `envelope_exceeded` and nothing is written.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn select_application(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
    awarded: Money,
    reason: Option<&str>,
) -> Result<Application, AmiError> {
    require_reviewer(actor)?;
    let reason = clean_reason(reason, false)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let app = load_visible(&txn, actor, id).await?;
    refuse_conflicted(&txn, actor, id).await?;
    let campaign = load_campaign(&txn, app.campaign_id).await?;
    let now = clock.now();
    // Ask the state machine before creating anything, so a refused decision reports the real reason.
    let party = if actor.is_admin() {
        Party::Admin
    } else {
        Party::Reviewer
    };
    state::apply(app.status, Event::Select, party, now, &campaign.window())?;
    if awarded <= Money::ZERO {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("awarded"),
            Code::InvalidValue,
            "the amount awarded must be positive",
        ));
    }
    if awarded > app.data.amount_requested {
        return Err(AmiError::invalid(
            FieldPath::new("input").push("awarded"),
            Code::InvalidValue,
            format!(
                "the amount awarded ({awarded}) exceeds the amount requested ({})",
                app.data.amount_requested
            ),
        ));
    }
    check_ceiling(&campaign, &app.data, awarded)?;
    lock_row(&txn, &app, version).await?;
    let hub = maillage_territories::create_hub_in(
        &txn,
        actor,
        NewHub {
            slug: hub_slug(&app),
            name: app.data.hub_name.clone(),
            website: None,
            description: Some(format!(
                "Lauréat de l'appel « {} » (dossier {}, porté par {}).",
                campaign.name, app.id, app.data.carrier_name
            )),
            departments: app.data.departments.clone(),
        },
    )
    .await?;
    // The laureate's applicant account will coordinate the new hub: it accepts this invitation with its own token.
    maillage_access::invite_hub_coordinator_in(&txn, actor, hub.id, &app.owner).await?;
    let grant = maillage_funding::create_signed_grant_in(
        &txn,
        actor,
        SelectionGrant {
            envelope_id: campaign.envelope_id,
            beneficiary: VerifiedBeneficiary {
                kind: BeneficiaryKind::Hub,
                reference: format!("hub:{}", hub.id),
                name: app.data.carrier_name.clone(),
                host_kind: None,
                department: match app.data.departments.as_slice() {
                    [only] => Some(only.clone()),
                    _ => None,
                },
                hub: Some(hub.id),
                funded_posts: None,
            },
            amount: awarded,
            decided_on: now.with_timezone(&Paris).date_naive(),
        },
    )
    .await?;
    let mut changes = AuditChanges::new();
    changes.note("via", "decision");
    let step = Step {
        event: Event::Select,
        now,
        window: campaign.window(),
    };
    fire(
        &txn,
        actor,
        &app,
        version,
        step,
        TransitionSet {
            changes,
            decided_at: Some(now),
            decision_reason: Some(reason),
            awarded: Some(awarded),
            hub: Some(hub.id),
            grant_id: Some(grant.id),
            ..TransitionSet::default()
        },
    )
    .await?;
    let app = load(&txn, id).await?;
    txn.commit().await?;
    Ok(app)
}

/// Rejects a dossier under review (reviewers, admins) with a reason the applicant reads.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn reject_application(
    db: &DatabaseConnection,
    actor: &Actor,
    clock: &dyn Clock,
    id: ApplicationId,
    version: i32,
    reason: &str,
) -> Result<Application, AmiError> {
    require_reviewer(actor)?;
    let reason = clean_reason(Some(reason), true)?;
    let txn = maillage_core::db::begin_write(db).await?;
    let app = load_visible(&txn, actor, id).await?;
    refuse_conflicted(&txn, actor, id).await?;
    let campaign = load_campaign(&txn, app.campaign_id).await?;
    let now = clock.now();
    let step = Step {
        event: Event::Reject,
        now,
        window: campaign.window(),
    };
    fire(
        &txn,
        actor,
        &app,
        version,
        step,
        TransitionSet {
            decided_at: Some(now),
            decision_reason: Some(reason),
            ..TransitionSet::default()
        },
    )
    .await?;
    let app = load(&txn, id).await?;
    txn.commit().await?;
    Ok(app)
}
