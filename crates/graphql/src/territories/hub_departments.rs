//! `Hub.departments`: read with the hubs when `Query.hubs` or `Query.hub` selects it, batched across hubs otherwise.
//!
//! Under load a request is bound by its sequential statements (issue #16). `{ hubs { departments { … } } }` used to
//! read the hubs, then their departments joined to `department` (two statements, the second waiting for the
//! first). Which departments a hub covers is now read with the hubs in one statement (`hub` left-joined to
//! `hub_department`), and the departments themselves come from the server's reference snapshot. A hub found
//! anywhere else (a department's hubs, a node, a mutation's payload) still gets its departments from the loader:
//! one statement on `hub_department` alone, batched across hubs.
//!
//! Hubs are writable, so nothing here outlives the request: the prefetched departments live in this request's
//! loader, and a hub answers from them only when it is the very version read with them.

use crate::kit::error::IntoGql;
use crate::kit::handles::{DepartmentNode, HubNode};
use crate::kit::loader::{DbLoader, loader};
use crate::kit::state;
use async_graphql::Context;
use async_graphql::dataloader::Loader;
use maillage_core::HubId;
use maillage_territories::{Department, Hub, ReferenceTerritories};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Loads the departments each hub covers, and keeps those read with the hubs of this request.
pub struct HubDepartmentsLoader {
    db: maillage_core::reads::Reads,
    territories: Arc<ReferenceTerritories>,
    /// The departments read with each hub by `Query.hubs`/`Query.hub`, with the hub's version at that read.
    prefetched: Mutex<HashMap<HubId, (i32, Vec<Department>)>>,
}

impl DbLoader for HubDepartmentsLoader {
    fn from_db(db: maillage_core::reads::Reads, territories: &Arc<ReferenceTerritories>) -> Self {
        Self {
            db,
            territories: Arc::clone(territories),
            prefetched: Mutex::default(),
        }
    }
}

impl HubDepartmentsLoader {
    fn keep(&self, hub: &Hub, departments: Vec<Department>) {
        self.prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(hub.id, (hub.version, departments));
    }

    /// The departments read with this hub, if they were, and with this very version of it: a hub read by another
    /// statement of the request at another version asks the database again.
    fn prefetched(&self, hub: &Hub) -> Option<Vec<Department>> {
        self.prefetched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&hub.id)
            .filter(|(version, _)| *version == hub.version)
            .map(|(_, departments)| departments.clone())
    }
}

impl Loader<HubId> for HubDepartmentsLoader {
    type Value = Vec<Department>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HubId]) -> Result<HashMap<HubId, Vec<Department>>, Self::Error> {
        let rows = self
            .territories
            .departments_of_hubs(&self.db, keys)
            .await
            .gql()?;
        let mut out: HashMap<HubId, Vec<Department>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for (hub, dep) in rows {
            out.entry(hub).or_default().push(dep);
        }
        Ok(out)
    }
}

/// Whether the hubs being resolved select `departments` (through fragments and aliases too).
fn selects_departments(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("departments").exists()
}

/// Hubs with their departments, read together, as nodes whose `departments` cost nothing more.
fn nodes_with_departments(
    ctx: &Context<'_>,
    rows: Vec<(Hub, Vec<Department>)>,
) -> async_graphql::Result<Vec<HubNode>> {
    let prefetch = loader::<HubDepartmentsLoader>(ctx)?;
    Ok(rows
        .into_iter()
        .map(|(hub, departments)| {
            prefetch.loader().keep(&hub, departments);
            HubNode(hub)
        })
        .collect())
}

/// `Query.hubs`: all hubs, by name; with their departments in the same statement when the query selects them.
pub async fn list_hubs(ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
    let s = state(ctx)?;
    if !selects_departments(ctx) {
        let rows = maillage_territories::list_hubs(&s.db).await.gql()?;
        return Ok(rows.into_iter().map(HubNode).collect());
    }
    let rows = s
        .territories
        .list_hubs_with_departments(&s.db)
        .await
        .gql()?;
    nodes_with_departments(ctx, rows)
}

/// `Query.hub(slug:)`: one hub; with its departments in the same statement when the query selects them.
pub async fn hub_by_slug(ctx: &Context<'_>, slug: &str) -> async_graphql::Result<Option<HubNode>> {
    let s = state(ctx)?;
    if !selects_departments(ctx) {
        let hub = maillage_territories::hub_by_slug(&s.db, slug).await.gql()?;
        return Ok(hub.map(HubNode));
    }
    let row = s
        .territories
        .hub_by_slug_with_departments(&s.db, slug)
        .await
        .gql()?;
    Ok(nodes_with_departments(ctx, Vec::from_iter(row))?
        .into_iter()
        .next())
}

/// `Hub.departments`: those read with the hub when they were, else batched across hubs.
pub async fn departments_of(
    ctx: &Context<'_>,
    hub: &Hub,
) -> async_graphql::Result<Vec<DepartmentNode>> {
    let loader = loader::<HubDepartmentsLoader>(ctx)?;
    let departments = match loader.loader().prefetched(hub) {
        Some(departments) => departments,
        None => loader.load_one(hub.id).await?.unwrap_or_default(),
    };
    Ok(departments.into_iter().map(DepartmentNode).collect())
}
