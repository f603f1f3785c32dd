//! Queries on territories.

use crate::kit::error::{IntoGql, coded};
use crate::kit::handles::{DepartmentLoader, DepartmentNode, HubNode, RegionNode};
use crate::kit::loader::loader;
use crate::kit::state;
use async_graphql::{Context, Object};
use maillage_core::Code;
use maillage_core::{DepartmentCode, RegionCode};

/// Queries on territories.
#[derive(Default)]
pub struct TerritoriesQuery;

/// Queries on territories.
#[Object]
impl TerritoriesQuery {
    /// The 18 regions, by code.
    async fn regions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<RegionNode>> {
        let s = state(ctx)?;
        let rows = s.territories.list_regions(&s.db).await.gql()?;
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
            .map_err(|e| {
                coded(
                    &e.to_string(),
                    Code::InvalidValue,
                    Some("region".to_owned()),
                )
            })?;
        let rows = s
            .territories
            .list_departments(&s.db, region.as_ref())
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
            .map_err(|e| coded(&e.to_string(), Code::InvalidValue, Some("code".to_owned())))?;
        // From memory without waiting for a batch; a code the snapshot lacks goes through the loader, batched.
        if let Some(dep) = s.territories.snapshot(&s.db).await.gql()?.department(&code) {
            return Ok(Some(DepartmentNode(dep.clone())));
        }
        Ok(loader::<DepartmentLoader>(ctx)?
            .load_one(code)
            .await?
            .map(DepartmentNode))
    }

    /// The hubs, by name.
    async fn hubs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
        super::hub_departments::list_hubs(ctx).await
    }

    /// One hub by slug, e.g. `hinaura`.
    async fn hub(&self, ctx: &Context<'_>, slug: String) -> async_graphql::Result<Option<HubNode>> {
        super::hub_departments::hub_by_slug(ctx, &slug).await
    }
}
