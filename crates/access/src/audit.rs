//! The append-only audit trail: who changed what, when, from which request, with the values before and after.
//!
//! Domain services call [`record`] inside the transaction of the change itself, so a change and its trace are
//! committed together or not at all. Nothing here updates or deletes an entry.

use crate::AccessError;
use crate::entity::audit_log;
use chrono::{DateTime, Utc};
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::{Actor, DepartmentCode, HubId, Role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The fields a change touched, each with its value before and after (`null` when absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditChanges(Map<String, Value>);

impl AuditChanges {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `field` if `before` and `after` differ.
    pub fn changed<T: Serialize + ?Sized, U: Serialize + ?Sized>(
        &mut self,
        field: &str,
        before: &T,
        after: &U,
    ) {
        let before = serde_json::to_value(before).unwrap_or(Value::Null);
        let after = serde_json::to_value(after).unwrap_or(Value::Null);
        if before != after {
            self.0.insert(
                field.to_owned(),
                json!({ "before": before, "after": after }),
            );
        }
    }

    /// Records a field of a new entity.
    pub fn created<T: Serialize + ?Sized>(&mut self, field: &str, after: &T) {
        self.changed(field, &Value::Null, after);
    }

    /// Records a free-form fact (e.g. an import summary) under `field`.
    pub fn note<T: Serialize + ?Sized>(&mut self, field: &str, value: &T) {
        self.0.insert(
            field.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The changes as JSON: `{ field: { before, after } }`.
    pub fn into_json(self) -> Value {
        Value::Object(self.0)
    }
}

/// One thing that happened, to record.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    entity_type: &'static str,
    entity_id: String,
    action: &'static str,
    changes: AuditChanges,
    department: Option<DepartmentCode>,
    hub: Option<HubId>,
}

impl AuditEntry {
    /// An entry about `entity_type` `entity_id` (e.g. `site`, `42`) and what was done (`create`, `update`, …).
    pub fn new(
        entity_type: &'static str,
        entity_id: String,
        action: &'static str,
        changes: AuditChanges,
    ) -> Self {
        Self {
            entity_type,
            entity_id,
            action,
            changes,
            department: None,
            hub: None,
        }
    }

    /// The department concerned, so that its hub coordinator can read the entry.
    #[must_use]
    pub fn department(mut self, department: Option<DepartmentCode>) -> Self {
        self.department = department;
        self
    }

    /// The hub concerned.
    #[must_use]
    pub fn hub(mut self, hub: Option<HubId>) -> Self {
        self.hub = hub;
        self
    }
}

/// Appends an entry naming `actor` and its request.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    entry: AuditEntry,
) -> Result<(), AccessError> {
    audit_log::ActiveModel {
        occurred_at: Set(Utc::now()),
        actor_label: Set(actor.label().to_owned()),
        actor_role: Set(actor.role().as_str().to_owned()),
        request_id: Set(actor.request_id().map(str::to_owned)),
        entity_type: Set(entry.entity_type.to_owned()),
        entity_id: Set(entry.entity_id),
        action: Set(entry.action.to_owned()),
        changes: Set(entry.changes.into_json().to_string()),
        department_code: Set(entry.department.map(|d| d.as_str().to_owned())),
        hub_id: Set(entry.hub.map(|h| h.0)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Appends many entries naming `actor` in a few multi-row statements (bulk imports): the cost grows with the number
/// of entries, not the number of statements.
pub async fn record_many<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    entries: Vec<AuditEntry>,
) -> Result<(), AccessError> {
    // 11 bound values per row: 1 000 rows stay well under SQLite's and PostgreSQL's parameter limits.
    const ROWS_PER_STATEMENT: usize = 1_000;
    let now = Utc::now();
    let mut rows = entries.into_iter().map(|entry| audit_log::ActiveModel {
        occurred_at: Set(now),
        actor_label: Set(actor.label().to_owned()),
        actor_role: Set(actor.role().as_str().to_owned()),
        request_id: Set(actor.request_id().map(str::to_owned)),
        entity_type: Set(entry.entity_type.to_owned()),
        entity_id: Set(entry.entity_id),
        action: Set(entry.action.to_owned()),
        changes: Set(entry.changes.into_json().to_string()),
        department_code: Set(entry.department.map(|d| d.as_str().to_owned())),
        hub_id: Set(entry.hub.map(|h| h.0)),
        ..Default::default()
    });
    loop {
        let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        audit_log::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Sequence number (increasing).
    pub id: i32,
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Who: `cli`, `token:ID:NAME`, …
    pub actor_label: String,
    /// The role the actor had.
    pub actor_role: String,
    /// The request, for API calls.
    pub request_id: Option<String>,
    /// What kind of entity.
    pub entity_type: String,
    /// Which one.
    pub entity_id: String,
    /// What was done.
    pub action: String,
    /// `{ field: { before, after } }`.
    pub changes: Value,
    /// The department concerned.
    pub department_code: Option<String>,
    /// The hub concerned.
    pub hub: Option<HubId>,
}

/// Criteria on audit entries (all given must hold).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entity type, e.g. `site`.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Action, e.g. `update`.
    pub action: Option<String>,
    /// Actor label, e.g. `cli`.
    pub actor: Option<String>,
}

/// Audit entries, newest first: everything for admins, the entries of their territory for hub coordinators.
pub async fn list_audit<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditRecord>, AccessError> {
    let mut cond = Condition::all();
    match actor.role() {
        Role::Admin => {}
        Role::HubCoordinator => {
            let Some(scope) = actor.hub_scope() else {
                return Err(AccessError::Forbidden("this token has no hub".to_owned()));
            };
            cond = cond.add(
                Condition::any()
                    .add(
                        audit_log::Column::DepartmentCode
                            .is_in(scope.departments.iter().map(|d| d.as_str().to_owned())),
                    )
                    .add(audit_log::Column::HubId.eq(scope.hub.0)),
            );
        }
        _ => {
            return Err(AccessError::Forbidden(
                "the audit log is readable by admins and hub coordinators only".to_owned(),
            ));
        }
    }
    if let Some(v) = &filter.entity_type {
        cond = cond.add(audit_log::Column::EntityType.eq(v.as_str()));
    }
    if let Some(v) = &filter.entity_id {
        cond = cond.add(audit_log::Column::EntityId.eq(v.as_str()));
    }
    if let Some(v) = &filter.action {
        cond = cond.add(audit_log::Column::Action.eq(v.as_str()));
    }
    if let Some(v) = &filter.actor {
        cond = cond.add(audit_log::Column::ActorLabel.eq(v.as_str()));
    }
    let mut query = audit_log::Entity::find().filter(cond.clone());
    if let Some(after) = &page.after {
        let id: i32 = after.decode()?;
        query = query.filter(page.past(audit_log::Column::Id, false, id));
    }
    let rows = maillage_core::db::page_rows(
        db,
        query
            .order_by(audit_log::Column::Id, page.order(false))
            .limit(u64::from(page.first) + 1),
    )
    .await?;
    let total = if page.with_total {
        Some(audit_log::Entity::find().filter(cond).count(db).await?)
    } else {
        None
    };
    let records = rows
        .into_iter()
        .map(|m| AuditRecord {
            id: m.id,
            occurred_at: m.occurred_at,
            actor_label: m.actor_label,
            actor_role: m.actor_role,
            request_id: m.request_id,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            action: m.action,
            changes: serde_json::from_str(&m.changes).unwrap_or(Value::Null),
            department_code: m.department_code,
            hub: m.hub_id.map(HubId),
        })
        .collect();
    Ok(Page::from_rows(records, page, total, |r| {
        Cursor::encode(&r.id)
    }))
}
