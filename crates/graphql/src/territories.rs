//! Regions, departments and hubs.

use crate::error::{IntoGql, coded};
use crate::id::{NodeKind, encode};
use crate::sites::{SiteConnection, SiteFilterInput, SiteOrderByInput, sites_args};
use crate::state;
use async_graphql::{Context, ID, Object};
use maillage_core::{DepartmentCode, RegionCode};
use maillage_territories::{Department, Hub, Region};

/// A French region (INSEE code), e.g. Auvergne-Rhône-Alpes (84).
pub struct RegionNode(pub Region);

/// A department (INSEE code: 01…95, 2A/2B, 971…976).
pub struct DepartmentNode(pub Department);

/// A hub territorial pour un numérique inclusif: coordinates the sites and actors of the departments it covers.
pub struct HubNode(pub Hub);

#[Object(name = "Region")]
impl RegionNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::Region, self.0.code.as_str())
    }
    /// INSEE region code, e.g. `84`.
    async fn code(&self) -> &str {
        self.0.code.as_str()
    }
    /// Official name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Departments of the region, by code.
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentNode>> {
        let s = state(ctx)?;
        let deps = s
            .loaders
            .region_departments
            .load_one(self.0.code.clone())
            .await?;
        Ok(deps
            .unwrap_or_default()
            .into_iter()
            .map(DepartmentNode)
            .collect())
    }
}

#[Object(name = "Department")]
impl DepartmentNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::Department, self.0.code.as_str())
    }
    /// INSEE department code, e.g. `69`, `2A`, `974`.
    async fn code(&self) -> &str {
        self.0.code.as_str()
    }
    /// Official name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The region it belongs to.
    async fn region(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<RegionNode>> {
        let s = state(ctx)?;
        Ok(s.loaders
            .region
            .load_one(self.0.region_code.clone())
            .await?
            .map(RegionNode))
    }
    /// Hubs covering this department (usually one).
    async fn hubs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
        let s = state(ctx)?;
        let hubs = s
            .loaders
            .department_hubs
            .load_one(self.0.code.clone())
            .await?;
        Ok(hubs.unwrap_or_default().into_iter().map(HubNode).collect())
    }
    /// Sites in this department. Same arguments as `Query.sites`; batched across departments in one statement.
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1")]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        filter: Option<SiteFilterInput>,
        order_by: Option<SiteOrderByInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<SiteConnection> {
        let s = state(ctx)?;
        let args = sites_args(ctx, filter, order_by, first, after)?;
        let page = s
            .loaders
            .department_sites
            .load_one((self.0.code.clone(), args))
            .await?
            .ok_or_else(|| coded("internal error", "internal_error", None))?;
        SiteConnection::load(ctx, page, Some(&self.0)).await
    }
    /// Aidants Connect organisations located in this department; batched across departments in one statement.
    async fn aidants_organisations(
        &self,
        ctx: &Context<'_>,
        filter: Option<crate::aidants::AidantsOrganisationFilter>,
    ) -> async_graphql::Result<Vec<crate::aidants::AidantsOrganisationNode>> {
        crate::aidants::department_organisations(ctx, &self.0.code, filter).await
    }
}

#[Object(name = "Hub")]
impl HubNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::Hub, self.0.id)
    }
    /// Stable short name used in URLs and filters, e.g. `hinaura`.
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Public website.
    async fn website(&self) -> Option<&str> {
        self.0.website.as_deref()
    }
    /// Presentation.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Version for optimistic concurrency: send it back with an update.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// The departments this hub covers.
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentNode>> {
        let s = state(ctx)?;
        let deps = s.loaders.hub_departments.load_one(self.0.id).await?;
        Ok(deps
            .unwrap_or_default()
            .into_iter()
            .map(DepartmentNode)
            .collect())
    }
}

/// Queries on territories.
#[derive(Default)]
pub struct TerritoriesQuery;

#[Object]
impl TerritoriesQuery {
    /// The 18 regions, by code.
    async fn regions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RegionNode>> {
        let s = state(ctx)?;
        let rows = maillage_territories::list_regions(&s.db).await.gql()?;
        Ok(rows.into_iter().map(RegionNode).collect())
    }

    /// The 101 departments by code, or those of one region.
    async fn departments(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "INSEE region code, e.g. \"84\".")] region: Option<String>,
    ) -> async_graphql::Result<Vec<DepartmentNode>> {
        let s = state(ctx)?;
        let region = region
            .map(|r| RegionCode::parse(&r))
            .transpose()
            .map_err(|e| coded(&e.to_string(), "invalid_value", Some("region".to_owned())))?;
        let rows = maillage_territories::list_departments(&s.db, region.as_ref())
            .await
            .gql()?;
        Ok(rows.into_iter().map(DepartmentNode).collect())
    }

    /// One department by INSEE code.
    async fn department(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Option<DepartmentNode>> {
        let s = state(ctx)?;
        let code = DepartmentCode::parse(&code)
            .map_err(|e| coded(&e.to_string(), "invalid_value", Some("code".to_owned())))?;
        Ok(s.loaders
            .department
            .load_one(code)
            .await?
            .map(DepartmentNode))
    }

    /// The hubs, by name.
    async fn hubs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
        let s = state(ctx)?;
        let rows = maillage_territories::list_hubs(&s.db).await.gql()?;
        Ok(rows.into_iter().map(HubNode).collect())
    }

    /// One hub by slug, e.g. `hinaura`.
    async fn hub(&self, ctx: &Context<'_>, slug: String) -> async_graphql::Result<Option<HubNode>> {
        let s = state(ctx)?;
        let hub = maillage_territories::hub_by_slug(&s.db, &slug)
            .await
            .gql()?;
        Ok(hub.map(HubNode))
    }
}
