//! The change feed: every committed write of every entity, in an order no reader can skip.
//!
//! The feed is the audit log read differently: each domain already records one audit entry per write, inside the
//! write's transaction, so a change and its feed entry commit together. The feed keeps the entity type, its id, the
//! kind of change (created, updated, archived), the time, and the department and hub it concerns, never the values
//! (those stay in the audit log, readable by admins and coordinators only).
//!
//! **Order.** A position is `(txid, id)`: the writing transaction's id (PostgreSQL, stamped by a column default) then
//! the entry's id. PostgreSQL hands out ids before commit, so entry 11 may be visible while entry 10 is still in
//! flight. A reader therefore only reads entries whose transaction is older than the oldest transaction still running
//! (`pg_snapshot_xmin(pg_current_snapshot())`): those are final, and whatever commits later has a larger `txid`,
//! hence a larger position than anything already read. A long transaction (a big import) delays the feed until it
//! ends, never makes a reader skip. SQLite serialises writers, so `txid` is 0 and `id` order is commit order.
//!
//! **Rights.** [`may_read`] and the SQL of [`list_changes`] apply the same rules: admins and BdT reviewers read every
//! change; a hub coordinator reads the changes of its departments and hub only; partners, applicants and anonymous
//! callers read changes of public entities only (sites, host structures, funded posts, Aidants Connect
//! organisations, hubs). Changes of entities that are personal data (aidants, counsellors) are read only by callers
//! who may read that personal data.

use crate::AccessError;
use crate::entity::audit_log;
use chrono::{DateTime, Utc};
use maillage_core::pagination::{Cursor, Page, PageRequest};
use maillage_core::{Actor, DepartmentCode, HubId, Role};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};

/// A position in the change feed; positions only grow in commit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChangePosition {
    /// The writing transaction (PostgreSQL), 0 on SQLite.
    pub txid: i64,
    /// The audit entry.
    pub id: i32,
}

impl ChangePosition {
    /// The opaque cursor handed to clients.
    pub fn cursor(&self) -> Cursor {
        Cursor::encode(&(self.txid, self.id))
    }

    /// Decodes a client's cursor (`invalid_cursor` if forged or mangled).
    pub fn from_cursor(cursor: &Cursor) -> Result<Self, AccessError> {
        let (txid, id): (i64, i32) = cursor.decode()?;
        Ok(Self { txid, id })
    }
}

/// What happened to the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It was created.
    Created,
    /// It changed (content, status, assignment, …).
    Updated,
    /// It was archived or deleted, or (a site's source record) merged into a canonical site, which now carries
    /// its data: it left its list, and a mirror should drop it.
    Archived,
}

impl ChangeKind {
    fn of_action(action: &str) -> Self {
        match action {
            "create" | "create_signed" => Self::Created,
            "archive" | "delete" | "merge" => Self::Archived,
            _ => Self::Updated,
        }
    }

    /// The stable name (`created`, `updated`, `archived`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Archived => "archived",
        }
    }
}

/// Who may read changes of an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Public entities: everyone.
    Public,
    /// Personal data: callers who may read the personal data of the change's department.
    Personal,
    /// Everything else (funding, AMI, …): admins, BdT, coordinators within their territory.
    Restricted,
}

/// Audit entries that are not changes of one entity (summaries of imports) or must never be announced (tokens).
const NOT_IN_FEED: [&str; 3] = ["site_import", "aidants_import", "api_token"];
/// Entity types anyone may read.
const PUBLIC_TYPES: [&str; 5] = [
    "site",
    "host_structure",
    "funded_post",
    "aidants_organisation",
    "hub",
];
/// Entity types that are personal data.
const PERSONAL_TYPES: [&str; 2] = ["aidant", "counsellor"];

fn class_of(entity_type: &str) -> Option<Class> {
    if NOT_IN_FEED.contains(&entity_type) {
        None
    } else if PUBLIC_TYPES.contains(&entity_type) {
        Some(Class::Public)
    } else if PERSONAL_TYPES.contains(&entity_type) {
        Some(Class::Personal)
    } else {
        // New entity types stay restricted until someone decides they are public.
        Some(Class::Restricted)
    }
}

/// One change of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Its position in the feed.
    pub position: ChangePosition,
    /// The entity type, as in the audit log (`site`, `aidant`, `funding_grant`, …).
    pub entity_type: String,
    /// The entity's id within its type (with the type, enough for a global ID).
    pub entity_id: String,
    /// What happened.
    pub kind: ChangeKind,
    /// When (server clock).
    pub occurred_at: DateTime<Utc>,
    /// The department concerned, if any.
    pub department: Option<DepartmentCode>,
    /// The hub concerned, if any.
    pub hub: Option<HubId>,
    /// Whether the entity is personal data (only callers who may read it see the change).
    pub personal_data: bool,
}

/// A hub, for filtering: the hub itself and the departments it covers (resolved by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubFilter {
    /// The hub.
    pub hub: HubId,
    /// The departments it covers.
    pub departments: Vec<DepartmentCode>,
}

/// What a reader wants from the feed (empty lists mean "any"); applied on top of the caller's rights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only these entity types.
    pub entity_types: Vec<String>,
    /// Only changes in these departments.
    pub departments: Vec<DepartmentCode>,
    /// Only changes of this hub or its departments.
    pub hub: Option<HubFilter>,
}

impl ChangeFilter {
    /// Whether `change` passes the filter (rights aside).
    pub fn matches(&self, change: &Change) -> bool {
        (self.entity_types.is_empty() || self.entity_types.contains(&change.entity_type))
            && (self.departments.is_empty()
                || change
                    .department
                    .as_ref()
                    .is_some_and(|d| self.departments.contains(d)))
            && self.hub.as_ref().is_none_or(|h| {
                change.hub == Some(h.hub)
                    || change
                        .department
                        .as_ref()
                        .is_some_and(|d| h.departments.contains(d))
            })
    }

    fn condition(&self) -> Condition {
        let mut cond = Condition::all();
        if !self.entity_types.is_empty() {
            cond = cond.add(audit_log::Column::EntityType.is_in(self.entity_types.clone()));
        }
        if !self.departments.is_empty() {
            cond = cond.add(audit_log::Column::DepartmentCode.is_in(codes(&self.departments)));
        }
        if let Some(h) = &self.hub {
            cond = cond.add(
                Condition::any()
                    .add(audit_log::Column::HubId.eq(h.hub.0))
                    .add(audit_log::Column::DepartmentCode.is_in(codes(&h.departments))),
            );
        }
        cond
    }
}

fn codes(deps: &[DepartmentCode]) -> Vec<String> {
    deps.iter().map(|d| d.as_str().to_owned()).collect()
}

/// Whether `actor` may see `change` (the rule [`list_changes`] applies in SQL, for in-memory fan-out).
pub fn may_read(actor: &Actor, change: &Change) -> bool {
    let Some(class) = class_of(&change.entity_type) else {
        return false;
    };
    match actor.role() {
        Role::Admin | Role::BdtReviewer => true,
        Role::HubCoordinator => {
            let Some(scope) = actor.hub_scope() else {
                return false;
            };
            let in_departments = change
                .department
                .as_ref()
                .is_some_and(|d| scope.departments.contains(d));
            match class {
                Class::Personal => in_departments,
                Class::Public | Class::Restricted => {
                    in_departments || change.hub == Some(scope.hub)
                }
            }
        }
        Role::Partner | Role::AmiApplicant | Role::Anonymous => class == Class::Public,
    }
}

/// The SQL form of [`may_read`].
fn rights_condition(actor: &Actor) -> Condition {
    let in_feed = Condition::all().add(audit_log::Column::EntityType.is_not_in(NOT_IN_FEED));
    match actor.role() {
        Role::Admin | Role::BdtReviewer => in_feed,
        Role::HubCoordinator => {
            let Some(scope) = actor.hub_scope() else {
                // Matches nothing: a coordinator without a hub reads nothing.
                return Condition::all().add(audit_log::Column::Id.lt(0));
            };
            let in_departments = audit_log::Column::DepartmentCode.is_in(codes(&scope.departments));
            in_feed
                .add(
                    Condition::any()
                        .add(in_departments.clone())
                        .add(audit_log::Column::HubId.eq(scope.hub.0)),
                )
                .add(
                    Condition::any()
                        .add(audit_log::Column::EntityType.is_not_in(PERSONAL_TYPES))
                        .add(in_departments),
                )
        }
        Role::Partner | Role::AmiApplicant | Role::Anonymous => {
            Condition::all().add(audit_log::Column::EntityType.is_in(PUBLIC_TYPES))
        }
    }
}

/// Only entries whose transaction is certainly finished (see the module docs); nothing to add on SQLite.
fn committed_condition(backend: DbBackend) -> Condition {
    match backend {
        DbBackend::Postgres => Condition::all().add(Expr::cust(
            "\"audit_log\".\"txid\" < pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
        )),
        _ => Condition::all(),
    }
}

/// The changes past `after` in feed order, or before it when `backward`.
fn after_condition(after: ChangePosition, backward: bool) -> Condition {
    let (txid, id) = if backward {
        (
            audit_log::Column::Txid.lt(after.txid),
            audit_log::Column::Id.lt(after.id),
        )
    } else {
        (
            audit_log::Column::Txid.gt(after.txid),
            audit_log::Column::Id.gt(after.id),
        )
    };
    Condition::any().add(txid).add(
        Condition::all()
            .add(audit_log::Column::Txid.eq(after.txid))
            .add(id),
    )
}

fn from_model(m: audit_log::Model) -> Option<Change> {
    let class = class_of(&m.entity_type)?;
    Some(Change {
        position: ChangePosition {
            txid: m.txid,
            id: m.id,
        },
        kind: ChangeKind::of_action(&m.action),
        personal_data: class == Class::Personal,
        entity_type: m.entity_type,
        entity_id: m.entity_id,
        occurred_at: m.occurred_at,
        department: m
            .department_code
            .as_deref()
            .and_then(|d| DepartmentCode::parse(d).ok()),
        hub: m.hub_id.map(HubId),
    })
}

/// Up to `limit` changes past `after`, in feed order, or scanning towards the start when `backward`.
async fn read<C: ConnectionTrait>(
    db: &C,
    cond: Condition,
    after: Option<ChangePosition>,
    limit: u64,
    backward: bool,
) -> Result<Vec<Change>, AccessError> {
    let mut cond = cond.add(committed_condition(db.get_database_backend()));
    if let Some(after) = after {
        cond = cond.add(after_condition(after, backward));
    }
    let order = if backward { Order::Desc } else { Order::Asc };
    let rows = maillage_core::db::page_rows(
        db,
        audit_log::Entity::find()
            .filter(cond)
            .order_by(audit_log::Column::Txid, order.clone())
            .order_by(audit_log::Column::Id, order)
            .limit(limit),
    )
    .await?;
    Ok(rows.into_iter().filter_map(from_model).collect())
}

/// One page of the changes `actor` may read after `page.after`, oldest first.
///
/// An empty last page is normal: keep its `after` and ask again later. `total_count` is never computed (the feed
/// grows while it is read).
#[tracing::instrument(skip_all)]
pub async fn list_changes<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    filter: &ChangeFilter,
    page: &PageRequest,
) -> Result<Page<Change>, AccessError> {
    let cond = rights_condition(actor).add(filter.condition());
    let rows = read_page(db, cond, page).await?;
    Ok(Page::from_rows(rows, page, None, |c| c.position.cursor()))
}

/// The audit actions that remove an entity from its list (see [`ChangeKind::Archived`]). A merged source record
/// leaves the default (canonical) sites list: without its tombstone a mirror would show the place twice, once as
/// the record and once as its canonical site.
const REMOVING_ACTIONS: [&str; 3] = ["archive", "delete", "merge"];

/// One page of the tombstones `actor` may read: the archive and delete changes that passed `filter` at or after
/// `since`, in feed order. A mirror of any list removes these ids; entity types never archived nor deleted simply
/// have none.
#[tracing::instrument(skip_all)]
pub async fn list_removed_since<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    since: DateTime<Utc>,
    filter: &ChangeFilter,
    page: &PageRequest,
) -> Result<Page<Change>, AccessError> {
    let cond = rights_condition(actor)
        .add(filter.condition())
        .add(audit_log::Column::Action.is_in(REMOVING_ACTIONS))
        .add(audit_log::Column::OccurredAt.gte(since));
    let rows = read_page(db, cond, page).await?;
    Ok(Page::from_rows(rows, page, None, |c| c.position.cursor()))
}

/// Up to `limit` changes after `after`, all entity types and territories, for the server's fan-out and webhook
/// worker, which then apply [`may_read`] per subscriber.
pub async fn read_feed<C: ConnectionTrait>(
    db: &C,
    after: Option<ChangePosition>,
    limit: u64,
) -> Result<Vec<Change>, AccessError> {
    let cond = Condition::all().add(audit_log::Column::EntityType.is_not_in(NOT_IN_FEED));
    read(db, cond, after, limit, false).await
}

/// Up to a page and one of changes for `page`, in scan order ([`Page::from_rows`] puts a backward page back in feed
/// order).
async fn read_page<C: ConnectionTrait>(
    db: &C,
    cond: Condition,
    page: &PageRequest,
) -> Result<Vec<Change>, AccessError> {
    let after = page
        .after
        .as_ref()
        .map(ChangePosition::from_cursor)
        .transpose()?;
    read(db, cond, after, u64::from(page.first) + 1, page.backward).await
}

/// The position of the newest change a reader can see now: a reader starting "from now" starts there.
pub async fn feed_head<C: ConnectionTrait>(db: &C) -> Result<ChangePosition, AccessError> {
    let row = audit_log::Entity::find()
        .filter(committed_condition(db.get_database_backend()))
        .order_by_desc(audit_log::Column::Txid)
        .order_by_desc(audit_log::Column::Id)
        .one(db)
        .await?;
    Ok(
        row.map_or(ChangePosition { txid: 0, id: 0 }, |m| ChangePosition {
            txid: m.txid,
            id: m.id,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use maillage_core::actor::HubScope;

    fn dep(code: &str) -> DepartmentCode {
        DepartmentCode::parse(code).unwrap_or_else(|e| panic!("{e}"))
    }

    fn change(entity_type: &str, department: Option<&str>, hub: Option<i32>) -> Change {
        Change {
            position: ChangePosition { txid: 0, id: 1 },
            entity_type: entity_type.to_owned(),
            entity_id: "1".to_owned(),
            kind: ChangeKind::Updated,
            occurred_at: Utc::now(),
            department: department.map(dep),
            hub: hub.map(HubId),
            personal_data: class_of(entity_type) == Some(Class::Personal),
        }
    }

    #[test]
    fn rights_follow_roles_territories_and_personal_data() {
        let coordinator = Actor::hub_coordinator(
            HubScope {
                hub: HubId(3),
                departments: vec![dep("69")],
            },
            "c",
        );
        let partner = Actor::with_role(Role::Partner, "p");
        let admin = Actor::cli();
        assert!(may_read(&partner, &change("site", Some("13"), None)));
        assert!(!may_read(&partner, &change("aidant", Some("13"), None)));
        assert!(!may_read(
            &partner,
            &change("funding_grant", Some("13"), None)
        ));
        assert!(may_read(&coordinator, &change("site", Some("69"), None)));
        assert!(!may_read(&coordinator, &change("site", Some("13"), None)));
        assert!(may_read(&coordinator, &change("aidant", Some("69"), None)));
        assert!(!may_read(&coordinator, &change("aidant", None, Some(3))));
        assert!(may_read(&coordinator, &change("hub", None, Some(3))));
        assert!(!may_read(
            &coordinator,
            &change("ami_application", None, None)
        ));
        assert!(may_read(&admin, &change("ami_application", None, None)));
        assert!(!may_read(&admin, &change("api_token", None, None)));
    }

    #[test]
    fn actions_map_to_kinds() {
        assert_eq!(ChangeKind::of_action("create"), ChangeKind::Created);
        assert_eq!(ChangeKind::of_action("create_signed"), ChangeKind::Created);
        assert_eq!(ChangeKind::of_action("archive"), ChangeKind::Archived);
        assert_eq!(ChangeKind::of_action("delete"), ChangeKind::Archived);
        assert_eq!(ChangeKind::of_action("assign"), ChangeKind::Updated);
    }

    #[test]
    fn positions_order_by_transaction_then_entry() {
        let a = ChangePosition { txid: 5, id: 20 };
        let b = ChangePosition { txid: 6, id: 10 };
        assert!(a < b);
        let back = ChangePosition::from_cursor(&b.cursor()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, b);
    }
}
