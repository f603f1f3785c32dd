//! The `Region`, `Department` and `Hub` objects (their data: [`crate::kit::handles`]).

use crate::kit::connection::MemoryConnection;
use crate::kit::connection::{Connection, PageArgs};
use crate::kit::error::{IntoGql, coded};
use crate::kit::handles::{
    DepartmentHubsLoader, DepartmentNode, HubNode, RegionDepartmentsLoader, RegionLoader,
    RegionNode, SiteNode,
};
use crate::kit::id::{NodeKind, encode};
use crate::kit::loader::loader;
use crate::kit::memory::{Answer, FromMemory, Out, object_in_memory, scalar, text};
use crate::kit::{RequestState, state};
use crate::sites::{
    DepartmentSitesLoader, SiteFilterInput, SiteOrderByInput, site_connection, sites_args,
};
use async_graphql::parser::types::Field;
use async_graphql::{Context, ContextSelectionSet, ID, Object, Positioned};
use maillage_core::Code;
use ref_cast::RefCast;

/// Regions and departments: territories named by their INSEE code, whose `id`, `code` and `name` come from memory.
macro_rules! coded_territory {
    ($node:ident, $fields:ident, $kind:ident) => {
        impl $node {
            /// Global ID (opaque).
            fn global_id(&self) -> ID {
                encode(NodeKind::$kind, self.0.code.as_str())
            }

            /// The `Node` interface's `id`, which its derive calls on the node itself, as `#[Object]` shapes a
            /// resolver: with the context, as a result.
            pub async fn id(&self, _: &Context<'_>) -> async_graphql::Result<ID> {
                Ok(self.global_id())
            }
        }

        crate::object_from_memory!(
            #[doc = concat!("The `", stringify!($kind), "` object's resolvers: [`", stringify!($node), "`] is the object, resolved through [`crate::kit::memory::resolve_object`], which gives `id`, `code` and `name` from memory and asks these resolvers for the others.")]
            pub struct $fields for $node
        );

        impl $node {
            /// `id`, `code` and `name`, the fields [`FromMemory`] gives.
            fn coded_field(&self, name: &str) -> Option<Answer<'_>> {
                Some(match name {
                    "id" => scalar(&self.global_id()),
                    "code" => text(self.0.code.as_str()),
                    "name" => text(&self.0.name),
                    _ => return None,
                })
            }
        }
    };
}

coded_territory!(RegionNode, RegionFields, Region);
coded_territory!(DepartmentNode, DepartmentFields, Department);

impl FromMemory for RegionNode {
    fn field_from_memory(&self, name: &str) -> Option<Answer<'_>> {
        self.coded_field(name)
    }
}

impl FromMemory for DepartmentNode {
    fn field_from_memory(&self, name: &str) -> Option<Answer<'_>> {
        self.coded_field(name)
    }

    /// `region`, from the reference snapshot when it is fresh and has it, as the resolver would give it (which
    /// otherwise waits for the snapshot to load, or asks the database).
    fn object_from_memory(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
        out: &mut Out<'_>,
    ) -> bool {
        if field.node.name.node != "region" {
            return false;
        }
        let Some(snapshot) = out.kept(|| {
            ctx.data::<RequestState>()
                .ok()
                .and_then(|state| state.territories.fresh_snapshot())
        }) else {
            return false;
        };
        let Some(region) = snapshot.region(&self.0.region_code) else {
            return false;
        };
        object_in_memory(ctx, field, Some(RegionNode::ref_cast(region)), out)
    }
}

/// A French region (INSEE code), e.g. Auvergne-Rhône-Alpes (84).
#[Object(name = "Region")]
impl RegionFields {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        self.0.global_id()
    }
    /// INSEE region code, e.g. `84`.
    async fn code(&self) -> &str {
        self.0.0.code.as_str()
    }
    /// Official name.
    async fn name(&self) -> &str {
        &self.0.0.name
    }
    /// Departments of the region, by code.
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentNode>> {
        let s = state(ctx)?;
        // From memory without waiting for a batch; a region the snapshot lacks goes through the loader, batched.
        let snapshot = s.territories.snapshot(&s.db).await.gql()?;
        if let Some(deps) = snapshot.departments_of_region(&self.0.0.code) {
            return Ok(deps.into_iter().map(DepartmentNode).collect());
        }
        let deps = loader::<RegionDepartmentsLoader>(ctx)?
            .load_one(self.0.0.code.clone())
            .await?;
        Ok(deps
            .unwrap_or_default()
            .into_iter()
            .map(DepartmentNode)
            .collect())
    }
}

/// A department (INSEE code: 01…95, 2A/2B, 971…976).
#[Object(name = "Department")]
impl DepartmentFields {
    /// Global ID (opaque).
    async fn id(&self) -> ID {
        self.0.global_id()
    }
    /// INSEE department code, e.g. `69`, `2A`, `974`.
    async fn code(&self) -> &str {
        self.0.0.code.as_str()
    }
    /// Official name.
    async fn name(&self) -> &str {
        &self.0.0.name
    }
    /// The region it belongs to.
    async fn region(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<RegionNode>> {
        let s = state(ctx)?;
        // From memory without waiting for a batch: a page of 50 sites asking for their region costs nothing.
        let snapshot = s.territories.snapshot(&s.db).await.gql()?;
        if let Some(region) = snapshot.region(&self.0.0.region_code) {
            return Ok(Some(RegionNode(region.clone())));
        }
        Ok(loader::<RegionLoader>(ctx)?
            .load_one(self.0.0.region_code.clone())
            .await?
            .map(RegionNode))
    }
    /// Hubs covering this department (usually one).
    async fn hubs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HubNode>> {
        let _s = state(ctx)?;
        let hubs = loader::<DepartmentHubsLoader>(ctx)?
            .load_one(self.0.0.code.clone())
            .await?;
        Ok(hubs.unwrap_or_default().into_iter().map(HubNode).collect())
    }
    /// Sites in this department. Same arguments as `Query.sites`; batched across departments in one statement.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn sites(
        &self,
        ctx: &Context<'_>,
        filter: Option<SiteFilterInput>,
        order_by: Option<SiteOrderByInput>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<MemoryConnection<SiteNode>> {
        let _s = state(ctx)?;
        let args = sites_args(
            ctx,
            filter,
            order_by,
            PageArgs::new(first, after, last, before),
        )
        .await?;
        let page = loader::<DepartmentSitesLoader>(ctx)?
            .load_one((self.0.0.code.clone(), args))
            .await?
            .ok_or_else(|| coded("internal error", Code::InternalError, None))?;
        site_connection(ctx, crate::sites::take_page(page), Some(&self.0.0)).await
    }
    /// Aidants Connect organisations located in this department, by id; batched across departments in one
    /// statement.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn aidants_organisations(
        &self,
        ctx: &Context<'_>,
        filter: Option<crate::aidants::AidantsOrganisationFilter>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<crate::aidants::AidantsOrganisationNode>> {
        crate::aidants::department_organisations(
            ctx,
            &self.0.0.code,
            filter,
            PageArgs::new(first, after, last, before),
        )
        .await
    }
}

/// A hub territorial pour un numérique inclusif: coordinates the sites and actors of the departments it covers.
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
    /// The people coordinating this hub (names, e-mails and phones are personal data, see `HubCoordinator`).
    async fn coordinators(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::hubs::HubCoordinatorNode>> {
        crate::hubs::coordinators_of(ctx, self.0.id).await
    }
    /// The figures this hub reports (name, value, unit, date, source), by code, each with its history: what a
    /// dashboard shows beside the measured statistics. The network's figures are `hubNetworkIndicators`.
    async fn reported_indicators(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::hubs::HubIndicatorNode>> {
        crate::hubs::indicators_of(ctx, self.0.id).await
    }
    /// The departments this hub covers.
    async fn departments(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<DepartmentNode>> {
        super::hub_departments::departments_of(ctx, &self.0).await
    }
}
