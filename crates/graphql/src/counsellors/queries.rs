//! Queries on counsellors, host structures and their statistics.

use super::inputs::{
    CounsellorExportList, CounsellorFilterInput, CounsellorStatistics, HostStructureFilter,
    StatisticsLevel, departments, invalid_input,
};
use super::loaders::{CounsellorLoader, StructureLoader};
use super::objects::{CounsellorNode, StructureNode};
use crate::changes::sync::{CounsellorOrderBy, HostStructureOrderBy};
use crate::kit::connection::{Connection, PageArgs, connection, page_request};
use crate::kit::error::{IntoGql, coded};
use crate::kit::id::{NodeKind, decode_int, encode};
use crate::kit::loader::loader;
use crate::kit::state;
use crate::kit::territory::opt_hub_slug;
use async_graphql::{Context, ID, Object};
use maillage_core::Code;
use maillage_core::DepartmentCode;
use maillage_core::error::FieldPath;
use maillage_counsellors::{CounsellorFilter, CounsellorId, StructureFilter, StructureId};
use std::collections::BTreeMap;

/// Queries on counsellors, host structures and their statistics.
#[derive(Default)]
pub struct CounsellorsQuery;

/// Queries on counsellors, host structures and their statistics.
#[Object]
impl CounsellorsQuery {
    /// Host structures matching a filter, as a Relay connection (at most 100 per page).
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn host_structures(
        &self,
        ctx: &Context<'_>,
        filter: Option<HostStructureFilter>,
        order_by: Option<HostStructureOrderBy>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<StructureNode>> {
        let s = state(ctx)?;
        let f = filter.unwrap_or_default();
        let filter = StructureFilter {
            departments: departments(f.departments)?,
            hub: opt_hub_slug(ctx, f.hub.as_ref(), "filter.hub").await?,
            kinds: f
                .kinds
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        let sync = HostStructureOrderBy::sync(order_by, f.updated_since);
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let result = maillage_counsellors::list_structures_synced(&s.db, &filter, &sync, &page)
            .await
            .gql()?;
        Ok(connection(result, StructureNode))
    }

    /// One host structure by its global ID.
    async fn host_structure(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<StructureNode>> {
        let id = StructureId(decode_int(&id, NodeKind::HostStructure)?);
        Ok(loader::<StructureLoader>(ctx)?
            .load_one(id)
            .await?
            .map(StructureNode))
    }

    /// Counsellors matching a filter, as a Relay connection (at most 100 per page). Personal fields are null
    /// unless the caller may read them.
    #[graphql(
        complexity = "first.or(last).unwrap_or(20).clamp(0, 100) as usize * child_complexity + 1"
    )]
    async fn counsellors(
        &self,
        ctx: &Context<'_>,
        filter: Option<CounsellorFilterInput>,
        order_by: Option<CounsellorOrderBy>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size reading backward, 0 to 100 (default 20).")] last: Option<i32>,
        #[graphql(desc = "Cursor of the first item of the next page: read backward from it.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<CounsellorNode>> {
        let s = state(ctx)?;
        let f = filter.unwrap_or_default();
        let updated_since = f.updated_since;
        let filter = counsellor_filter(ctx, f).await?;
        let sync = CounsellorOrderBy::sync(order_by, updated_since);
        let page = page_request(ctx, PageArgs::new(first, after, last, before))?;
        let result = maillage_counsellors::list_counsellors_synced(&s.db, &filter, &sync, &page)
            .await
            .gql()?;
        Ok(connection(result, CounsellorNode))
    }

    /// One counsellor by its global ID.
    async fn counsellor(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<CounsellorNode>> {
        let id = CounsellorId(decode_int(&id, NodeKind::Counsellor)?);
        Ok(loader::<CounsellorLoader>(ctx)?
            .load_one(id)
            .await?
            .map(CounsellorNode))
    }

    /// Public counts per department, hub or region: posts granted, counsellors active, in training and without any
    /// site. Readable by anyone; territories with nothing to count are included with zeros.
    #[graphql(
        deprecation = "use statistics { counsellors(by: [DEPARTMENT, STATUS], includeEmpty: true) } and statistics { posts(by: [DEPARTMENT]) }"
    )]
    async fn counsellor_statistics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "StatisticsLevel::Department")] by: StatisticsLevel,
    ) -> async_graphql::Result<Vec<CounsellorStatistics>> {
        let s = state(ctx)?;
        let per_department = maillage_counsellors::statistics_by_department(&s.db)
            .await
            .gql()?;
        let all_departments = maillage_territories::list_departments(&s.db, None)
            .await
            .gql()?;
        let mut lines: BTreeMap<String, (String, maillage_counsellors::DepartmentCounts)> =
            BTreeMap::new();
        match by {
            StatisticsLevel::Department => {
                for d in &all_departments {
                    let counts = per_department.get(&d.code).cloned().unwrap_or_default();
                    lines.insert(d.code.as_str().to_owned(), (d.name.clone(), counts));
                }
            }
            StatisticsLevel::Region => {
                let regions = maillage_territories::list_regions(&s.db).await.gql()?;
                for r in &regions {
                    let mut counts = maillage_counsellors::DepartmentCounts::default();
                    for d in all_departments.iter().filter(|d| d.region_code == r.code) {
                        if let Some(c) = per_department.get(&d.code) {
                            counts.add(c);
                        }
                    }
                    lines.insert(r.code.as_str().to_owned(), (r.name.clone(), counts));
                }
            }
            StatisticsLevel::Hub => {
                let hubs = maillage_territories::list_hubs(&s.db).await.gql()?;
                let ids: Vec<_> = hubs.iter().map(|h| h.id).collect();
                let covered = maillage_territories::departments_of_hubs(&s.db, &ids)
                    .await
                    .gql()?;
                for h in &hubs {
                    let mut counts = maillage_counsellors::DepartmentCounts::default();
                    for (_, d) in covered.iter().filter(|(id, _)| *id == h.id) {
                        if let Some(c) = per_department.get(&d.code) {
                            counts.add(c);
                        }
                    }
                    lines.insert(
                        encode(NodeKind::Hub, h.id.0).to_string(),
                        (h.name.clone(), counts),
                    );
                }
            }
        }
        Ok(lines
            .into_iter()
            .map(|(key, (name, c))| CounsellorStatistics {
                key,
                name,
                posts_granted: c.posts_granted,
                counsellors_active: c.active,
                counsellors_in_training: c.in_training,
                counsellors_without_site: c.without_site,
            })
            .collect())
    }

    /// A list as CSV text (UTF-8, `,`-separated, header row), as hub coordinators use it in spreadsheets. Counsellor
    /// lists need a hub coordinator (its departments only), BdT or admin token; structures are public.
    async fn counsellors_export(
        &self,
        ctx: &Context<'_>,
        list: CounsellorExportList,
        #[graphql(desc = "Only this department (INSEE code).")] department: Option<String>,
        #[graphql(desc = "Only the departments of this hub: its global ID, or its slug.")]
        hub: Option<ID>,
    ) -> async_graphql::Result<String> {
        use maillage_counsellors::export::{
            CounsellorList, ExportScope, export_counsellors, export_structures,
        };
        let s = state(ctx)?;
        let department = department
            .map(|d| DepartmentCode::parse(&d))
            .transpose()
            .map_err(|e| invalid_input(FieldPath::new("department"), &e))?;
        let hub = opt_hub_slug(ctx, hub.as_ref(), "hub").await?;
        let scope = ExportScope { hub, department };
        let mut out = Vec::new();
        match list {
            CounsellorExportList::Territory => {
                export_counsellors(&s.db, &s.actor, CounsellorList::Territory, &scope, &mut out)
                    .await
            }
            CounsellorExportList::WithoutSite => {
                export_counsellors(
                    &s.db,
                    &s.actor,
                    CounsellorList::WithoutSite,
                    &scope,
                    &mut out,
                )
                .await
            }
            CounsellorExportList::StructuresAndPosts => {
                export_structures(&s.db, &s.actor, &scope, &mut out).await
            }
        }
        .gql()?;
        String::from_utf8(out).map_err(|_| coded("internal error", Code::InternalError, None))
    }
}

/// The domain's counsellor filter for an input (the list's and the statistics' criteria); `updatedSince` is the
/// caller's to read.
pub(crate) async fn counsellor_filter(
    ctx: &Context<'_>,
    f: CounsellorFilterInput,
) -> async_graphql::Result<CounsellorFilter> {
    Ok(CounsellorFilter {
        departments: departments(f.departments)?,
        hub: opt_hub_slug(ctx, f.hub.as_ref(), "filter.hub").await?,
        statuses: f
            .statuses
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect(),
        structure_kinds: f
            .structure_kinds
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect(),
        without_site: f.without_site,
        structure: None,
    })
}
