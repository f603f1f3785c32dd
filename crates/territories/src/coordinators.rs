//! The people coordinating a hub: personal data (name, e-mail, phone) that only the hub's own coordinators, BdT
//! reviewers and admins may read; the hub's coordinators and admins add and remove them, audited.

use crate::TerritoriesError;
use crate::entity::{hub, hub_coordinator};
use chrono::Utc;
use maillage_access::{AuditChanges, AuditEntry, record};
use maillage_core::error::FieldPath;
use maillage_core::{Actor, Email, HubId, Role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter,
    QueryOrder, Set,
};

/// Identifier of a hub coordinator (a person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HubCoordinatorId(pub i32);

/// A person coordinating a hub. Name, e-mail, phone and linked token are personal data: read them through the
/// `*_for(actor)` accessors, which return `None` to callers who may not see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubCoordinator {
    /// Identifier.
    pub id: HubCoordinatorId,
    /// The hub coordinated.
    pub hub: HubId,
    /// Job title, public (e.g. "coordinatrice du hub"): it says what the hub offers, not who.
    pub title: Option<String>,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    api_token: Option<i32>,
}

/// Whether `actor` may read the people of `hub`: its own coordinators, BdT reviewers and admins.
///
/// A coordinator of another hub may not: personal data stays within the territory it belongs to.
pub fn can_read_hub_people(actor: &Actor, hub: HubId) -> bool {
    match actor.role() {
        Role::Admin | Role::BdtReviewer => true,
        Role::HubCoordinator => actor.hub_scope().is_some_and(|s| s.hub == hub),
        Role::Anonymous | Role::Partner | Role::AmiApplicant => false,
    }
}

/// Whether `actor` may edit the profile of `hub` (coordinators, website, description, reported indicators): the
/// hub's own coordinators and admins. `None` is the network of all hubs, whose figures only admins edit.
pub fn can_edit_hub_profile(actor: &Actor, hub: Option<HubId>) -> bool {
    match (actor.role(), hub) {
        (Role::Admin, _) => true,
        (Role::HubCoordinator, Some(hub)) => actor.hub_scope().is_some_and(|s| s.hub == hub),
        _ => false,
    }
}

pub(crate) fn require_profile_editor(
    actor: &Actor,
    hub: Option<HubId>,
) -> Result<(), TerritoriesError> {
    if can_edit_hub_profile(actor, hub) {
        Ok(())
    } else {
        Err(TerritoriesError::Forbidden(match hub {
            Some(_) => "only the hub's own coordinators and admins edit its profile".to_owned(),
            None => "only admins edit the figures of the network of hubs".to_owned(),
        }))
    }
}

impl HubCoordinator {
    /// The person's name, for callers who may read the hub's people.
    pub fn name_for(&self, actor: &Actor) -> Option<&str> {
        can_read_hub_people(actor, self.hub).then_some(self.name.as_str())
    }
    /// The person's e-mail, for callers who may read the hub's people.
    pub fn email_for(&self, actor: &Actor) -> Option<&str> {
        self.email
            .as_deref()
            .filter(|_| can_read_hub_people(actor, self.hub))
    }
    /// The person's phone, for callers who may read the hub's people.
    pub fn phone_for(&self, actor: &Actor) -> Option<&str> {
        self.phone
            .as_deref()
            .filter(|_| can_read_hub_people(actor, self.hub))
    }
    /// The id of the API token this person uses, for callers who may read the hub's people.
    pub fn api_token_for(&self, actor: &Actor) -> Option<i32> {
        self.api_token
            .filter(|_| can_read_hub_people(actor, self.hub))
    }
}

impl From<hub_coordinator::Model> for HubCoordinator {
    fn from(m: hub_coordinator::Model) -> Self {
        Self {
            id: HubCoordinatorId(m.id),
            hub: HubId(m.hub_id),
            title: m.title,
            name: m.name,
            email: m.email,
            phone: m.phone,
            api_token: m.api_token_id,
        }
    }
}

/// A coordinator to add to a hub.
#[derive(Debug, Clone)]
pub struct NewHubCoordinator {
    /// The hub.
    pub hub: HubId,
    /// Full name.
    pub name: String,
    /// Job title.
    pub title: Option<String>,
    /// Professional e-mail.
    pub email: Option<Email>,
    /// Professional phone.
    pub phone: Option<String>,
    /// The hub-coordinator API token this person uses, if any (must be a token of this hub).
    pub api_token: Option<i32>,
}

/// The coordinators of these hubs, by hub then id (one statement).
pub async fn coordinators_of_hubs(
    db: &DatabaseConnection,
    hubs: &[HubId],
) -> Result<Vec<HubCoordinator>, TerritoriesError> {
    Ok(hub_coordinator::Entity::find()
        .filter(hub_coordinator::Column::HubId.is_in(hubs.iter().map(|h| h.0)))
        .order_by_asc(hub_coordinator::Column::HubId)
        .order_by_asc(hub_coordinator::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(HubCoordinator::from)
        .collect())
}

/// The coordinators with these ids (for `node`); absent ids are left out.
pub async fn coordinators_by_ids(
    db: &DatabaseConnection,
    ids: &[HubCoordinatorId],
) -> Result<Vec<HubCoordinator>, TerritoriesError> {
    Ok(hub_coordinator::Entity::find()
        .filter(hub_coordinator::Column::Id.is_in(ids.iter().map(|i| i.0)))
        .all(db)
        .await?
        .into_iter()
        .map(HubCoordinator::from)
        .collect())
}

fn text(field: &str, value: &str, max: usize) -> Result<String, TerritoriesError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(TerritoriesError::InvalidInput {
            field: FieldPath::new("input").push(field),
            message: format!("{field} has 1 to {max} characters"),
        });
    }
    Ok(v.to_owned())
}

/// Adds a coordinator to a hub (the hub's coordinators and admins), audited. Personal values are recorded in the
/// audit trail as present or absent only: the trail is kept forever, the person may leave.
#[tracing::instrument(skip_all, fields(hub.id = %new.hub))]
pub async fn create_hub_coordinator(
    db: &DatabaseConnection,
    actor: &Actor,
    new: NewHubCoordinator,
) -> Result<HubCoordinator, TerritoriesError> {
    require_profile_editor(actor, Some(new.hub))?;
    let name = text("name", &new.name, 200)?;
    let title = new
        .title
        .as_deref()
        .map(|t| text("title", t, 200))
        .transpose()?;
    let phone = new
        .phone
        .as_deref()
        .map(|t| text("phone", t, 40))
        .transpose()?;
    if let Some(token) = new.api_token {
        let linkable = maillage_access::token_by_id(db, token)
            .await?
            .is_some_and(|t| {
                t.role == Role::HubCoordinator
                    && t.hub == Some(new.hub)
                    && t.revoked_at.is_none()
                    && !t.is_invitation()
            });
        if !linkable {
            return Err(TerritoriesError::InvalidInput {
                field: FieldPath::new("input").push("apiToken"),
                message: "the token must be a live hub-coordinator token of this hub".to_owned(),
            });
        }
    }
    let txn = maillage_core::db::begin_write(db).await?;
    hub::Entity::find_by_id(new.hub.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::UnknownHub(new.hub))?;
    let now = Utc::now();
    let m = hub_coordinator::ActiveModel {
        hub_id: Set(new.hub.0),
        name: Set(name),
        title: Set(title),
        email: Set(new.email.map(|e| e.as_str().to_owned())),
        phone: Set(phone),
        api_token_id: Set(new.api_token),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await?;
    let mut changes = AuditChanges::new();
    changes.created("hub", &m.hub_id);
    changes.created("title", &m.title);
    changes.created("name", "(personal data)");
    changes.created("email", &m.email.as_ref().map(|_| "(personal data)"));
    changes.created("phone", &m.phone.as_ref().map(|_| "(personal data)"));
    changes.created("apiToken", &m.api_token_id);
    record(
        &txn,
        actor,
        AuditEntry::new("hub_coordinator", m.id.to_string(), "create", changes).hub(Some(new.hub)),
    )
    .await?;
    txn.commit().await?;
    Ok(m.into())
}

/// Removes a coordinator from its hub (the hub's coordinators and admins), audited; returns who was removed.
#[tracing::instrument(skip_all, fields(hub_coordinator.id = id.0))]
pub async fn remove_hub_coordinator(
    db: &DatabaseConnection,
    actor: &Actor,
    id: HubCoordinatorId,
) -> Result<HubCoordinator, TerritoriesError> {
    let txn = maillage_core::db::begin_write(db).await?;
    let m = hub_coordinator::Entity::find_by_id(id.0)
        .one(&txn)
        .await?
        .ok_or(TerritoriesError::NotFound {
            what: "hub coordinator",
            id: id.0,
        })?;
    require_profile_editor(actor, Some(HubId(m.hub_id)))?;
    m.clone().delete(&txn).await?;
    let mut changes = AuditChanges::new();
    changes.changed("hub", &m.hub_id, &());
    record(
        &txn,
        actor,
        AuditEntry::new("hub_coordinator", m.id.to_string(), "delete", changes)
            .hub(Some(HubId(m.hub_id))),
    )
    .await?;
    txn.commit().await?;
    Ok(m.into())
}
