//! The audit log, read-only: there is no mutation that edits or deletes it.

use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::IntoGql;
use crate::kit::state;
use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, Utc};
use maillage_access::{AuditFilter, AuditRecord};

/// One recorded change.
#[derive(SimpleObject)]
pub struct AuditEntry {
    /// Sequence number: later entries have larger numbers.
    pub sequence: i32,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Who: `cli`, or `token:ID:NAME` for API tokens.
    pub actor: String,
    /// The actor's role at the time.
    pub actor_role: String,
    /// The API request it came from (`x-request-id`), if any.
    pub request_id: Option<String>,
    /// Kind of entity: `site`, `hub`, `api_token`, `site_import`.
    pub entity_type: String,
    /// The entity's id (a site's or hub's database id, a token id, an import's source).
    pub entity_id: String,
    /// What was done: `create`, `update`, `archive`, `set_departments`, `import`, `revoke`.
    pub action: String,
    /// Changed fields: `{ "field": { "before": …, "after": … } }`, plus facts such as `via`.
    pub changes: Json<serde_json::Value>,
    /// The department concerned, if any.
    pub department_code: Option<String>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> Self {
        Self {
            sequence: r.id,
            occurred_at: r.occurred_at,
            actor: r.actor_label,
            actor_role: r.actor_role,
            request_id: r.request_id,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            action: r.action,
            changes: Json(r.changes),
            department_code: r.department_code,
        }
    }
}

/// Criteria on audit entries; all given must hold.
#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    /// Entity type, e.g. `site`.
    pub entity_type: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// Action, e.g. `update`.
    pub action: Option<String>,
    /// Actor, e.g. `cli`.
    pub actor: Option<String>,
}

/// `auditLog`.
#[derive(Default)]
pub struct AuditQuery;

/// `auditLog`.
#[Object]
impl AuditQuery {
    /// What changed, who changed it, when: every entry for admins, the entries of their departments for hub
    /// coordinators; refused (`forbidden`) for other callers.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last entry of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<AuditEntry>> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default();
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let filter = AuditFilter {
            entity_type: filter.entity_type,
            entity_id: filter.entity_id,
            action: filter.action,
            actor: filter.actor,
        };
        let page = maillage_access::list_audit(&s.db, &s.actor, &filter, &page)
            .await
            .gql()?;
        Ok(connection(page, AuditEntry::from))
    }
}
