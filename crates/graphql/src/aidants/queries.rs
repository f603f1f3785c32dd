//! Queries on Aidants Connect.

use super::inputs::{AidantFilterInput, AidantsOrganisationFilter, invalid};
use super::loaders::OrganisationLoader;
use super::objects::{AidantNode, AidantsOrganisationNode, AidantsStatistics};
use crate::changes::sync::{AidantOrderBy, AidantsOrganisationOrderBy};
use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::{IntoGql, coded};
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::loader::loader;
use crate::kit::state;
use crate::kit::territory::opt_hub_slug;
use async_graphql::{Context, ID, Object};
use maillage_aidants::{AidantId, OrganisationId, Territory};
use maillage_core::Code;
use maillage_core::{DepartmentCode, RegionCode};

// ---------------------------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------------------------

/// Queries on Aidants Connect.
#[derive(Default)]
pub struct AidantsQuery;

/// Queries on Aidants Connect.
#[Object]
impl AidantsQuery {
    /// Aidants Connect organisations matching a filter, by id (at most 100 per page).
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn aidants_organisations(
        &self,
        ctx: &Context<'_>,
        filter: Option<AidantsOrganisationFilter>,
        order_by: Option<AidantsOrganisationOrderBy>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<AidantsOrganisationNode>> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default();
        let sync = AidantsOrganisationOrderBy::sync(order_by, filter.updated_since);
        let filter = filter.into_domain(ctx).await?;
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let page = maillage_aidants::list_organisations_synced(&s.db, &filter, &sync, &page)
            .await
            .gql()?;
        Ok(connection(page, AidantsOrganisationNode))
    }

    /// One organisation by ID.
    async fn aidants_organisation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<AidantsOrganisationNode>> {
        let id = OrganisationId(decode_int(&id, NodeKind::AidantsOrganisation)?);
        let org = loader::<OrganisationLoader>(ctx)?.load_one(id).await?;
        Ok(org.map(AidantsOrganisationNode))
    }

    /// Aidants matching a filter, by id (at most 100 per page). Personal fields follow the caller's rights.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn aidants(
        &self,
        ctx: &Context<'_>,
        filter: Option<AidantFilterInput>,
        order_by: Option<AidantOrderBy>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<AidantNode>> {
        let s = state(ctx)?;
        let filter = filter.unwrap_or_default();
        let sync = AidantOrderBy::sync(order_by, filter.updated_since);
        let filter = filter.into_domain(ctx).await?;
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let page = maillage_aidants::list_aidants_synced(&s.db, &filter, &sync, &page)
            .await
            .gql()?;
        Ok(connection(page, AidantNode))
    }

    /// One aidant by ID.
    async fn aidant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<AidantNode>> {
        let s = state(ctx)?;
        let id = AidantId(decode_int(&id, NodeKind::Aidant)?);
        let aidant = maillage_aidants::get_aidant(&s.db, id).await.gql()?;
        Ok(aidant.map(AidantNode))
    }

    /// Public aggregates for dashboards: give at most one of `department`, `hub` or `region`; none is the whole
    /// country.
    async fn aidants_statistics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "INSEE department code, e.g. \"31\".")] department: Option<String>,
        #[graphql(desc = "A hub: its global ID, or its slug, e.g. \"rhinocc\".")] hub: Option<ID>,
        #[graphql(desc = "INSEE region code, e.g. \"76\".")] region: Option<String>,
    ) -> async_graphql::Result<AidantsStatistics> {
        let s = state(ctx)?;
        let hub = opt_hub_slug(ctx, hub.as_ref(), "hub").await?;
        let territory = match (department, hub, region) {
            (None, None, None) => Territory::National,
            (Some(d), None, None) => Territory::Department(
                DepartmentCode::parse(&d).map_err(|e| invalid("department", &e))?,
            ),
            (None, Some(h), None) => Territory::Hub(h),
            (None, None, Some(r)) => {
                Territory::Region(RegionCode::parse(&r).map_err(|e| invalid("region", &e))?)
            }
            _ => {
                return Err(coded(
                    "give at most one of department, hub or region",
                    Code::InvalidValue,
                    None,
                ));
            }
        };
        let counts = maillage_aidants::aidants_counts(&s.db, &territory)
            .await
            .gql()?;
        Ok(AidantsStatistics { territory, counts })
    }
}

// ---------------------------------------------------------------------------------------------------------------
