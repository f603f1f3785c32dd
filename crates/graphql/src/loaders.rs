//! Per-request DataLoaders: each batches one level of a nested query into one domain call (one SQL statement).
//!
//! They are created for every request and have no cache across requests, because what a caller may see depends on
//! who the caller is.

use crate::error::IntoGql;
use async_graphql::dataloader::{DataLoader, Loader};
use maillage_core::pagination::{Page, PageRequest};
use maillage_core::{DepartmentCode, HubId, RegionCode};
use maillage_sites::{Site, SiteFilter, SiteOrder};
use maillage_territories::{Department, Hub, Region};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Loads departments by code.
pub struct DepartmentLoader(pub DatabaseConnection);
/// Loads regions by code.
pub struct RegionLoader(pub DatabaseConnection);
/// Loads the departments each hub covers.
pub struct HubDepartmentsLoader(pub DatabaseConnection);
/// Loads the hubs covering each department.
pub struct DepartmentHubsLoader(pub DatabaseConnection);
/// Loads the departments of each region.
pub struct RegionDepartmentsLoader(pub DatabaseConnection);
/// Loads one page of sites per department, for the same arguments.
pub struct DepartmentSitesLoader(pub DatabaseConnection);

impl Loader<DepartmentCode> for DepartmentLoader {
    type Value = Department;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[DepartmentCode],
    ) -> Result<HashMap<DepartmentCode, Department>, Self::Error> {
        let rows = maillage_territories::departments_by_codes(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|d| (d.code.clone(), d)).collect())
    }
}

impl Loader<RegionCode> for RegionLoader {
    type Value = Region;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[RegionCode]) -> Result<HashMap<RegionCode, Region>, Self::Error> {
        let rows = maillage_territories::regions_by_codes(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|r| (r.code.clone(), r)).collect())
    }
}

impl Loader<HubId> for HubDepartmentsLoader {
    type Value = Vec<Department>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HubId]) -> Result<HashMap<HubId, Vec<Department>>, Self::Error> {
        let rows = maillage_territories::departments_of_hubs(&self.0, keys)
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

impl Loader<DepartmentCode> for DepartmentHubsLoader {
    type Value = Vec<Hub>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[DepartmentCode],
    ) -> Result<HashMap<DepartmentCode, Vec<Hub>>, Self::Error> {
        let rows = maillage_territories::hubs_of_departments(&self.0, keys)
            .await
            .gql()?;
        let mut out: HashMap<DepartmentCode, Vec<Hub>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for (dep, hub) in rows {
            out.entry(dep).or_default().push(hub);
        }
        Ok(out)
    }
}

impl Loader<RegionCode> for RegionDepartmentsLoader {
    type Value = Vec<Department>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[RegionCode],
    ) -> Result<HashMap<RegionCode, Vec<Department>>, Self::Error> {
        let rows = maillage_territories::departments_of_regions(&self.0, keys)
            .await
            .gql()?;
        let mut out: HashMap<RegionCode, Vec<Department>> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        for dep in rows {
            out.entry(dep.region_code.clone()).or_default().push(dep);
        }
        Ok(out)
    }
}

/// The arguments of a nested `sites` field; requests with equal arguments are batched together.
#[derive(Debug, Clone)]
pub struct SitesArgs {
    /// The filter.
    pub filter: SiteFilter,
    /// The order.
    pub order: SiteOrder,
    /// The page.
    pub page: PageRequest,
    canonical: Arc<str>,
}

impl SitesArgs {
    /// Bundles the arguments; equality is on their canonical text (the filter holds floats, which are not `Eq`).
    pub fn new(filter: SiteFilter, order: SiteOrder, page: PageRequest) -> Self {
        let canonical = format!("{filter:?}|{order:?}|{page:?}").into();
        Self {
            filter,
            order,
            page,
            canonical,
        }
    }
}

impl PartialEq for SitesArgs {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}
impl Eq for SitesArgs {}
impl Hash for SitesArgs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl Loader<(DepartmentCode, SitesArgs)> for DepartmentSitesLoader {
    type Value = Page<Site>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(DepartmentCode, SitesArgs)],
    ) -> Result<HashMap<(DepartmentCode, SitesArgs), Page<Site>>, Self::Error> {
        let mut groups: HashMap<&SitesArgs, Vec<DepartmentCode>> = HashMap::new();
        for (dep, args) in keys {
            groups.entry(args).or_default().push(dep.clone());
        }
        let mut out = HashMap::new();
        for (args, deps) in groups {
            let pages = maillage_sites::list_sites_by_departments(
                &self.0,
                &deps,
                &args.filter,
                args.order,
                &args.page,
            )
            .await
            .gql()?;
            for (dep, page) in pages {
                out.insert((dep, args.clone()), page);
            }
        }
        Ok(out)
    }
}

/// All loaders of one request.
pub struct Loaders {
    /// Departments by code.
    pub department: DataLoader<DepartmentLoader>,
    /// Regions by code.
    pub region: DataLoader<RegionLoader>,
    /// Departments of hubs.
    pub hub_departments: DataLoader<HubDepartmentsLoader>,
    /// Hubs of departments.
    pub department_hubs: DataLoader<DepartmentHubsLoader>,
    /// Departments of regions.
    pub region_departments: DataLoader<RegionDepartmentsLoader>,
    /// Sites of departments.
    pub department_sites: DataLoader<DepartmentSitesLoader>,
}

/// How long a loader waits for more keys before running its batch.
///
/// The keys of one level arrive from sibling resolvers polled together, normally within microseconds; async-graphql's
/// 1 ms default can still split a batch in two when the thread is preempted on a busy machine, which
/// would add a statement. 3 ms keeps a level in one batch at the cost of 3 ms per nested level.
const BATCH_DELAY: Duration = Duration::from_millis(3);

fn loader<T>(inner: T) -> DataLoader<T> {
    DataLoader::new(inner, crate::telemetry::spawn_in_current_span).delay(BATCH_DELAY)
}

impl Loaders {
    /// Fresh loaders for one request.
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            department: loader(DepartmentLoader(db.clone())),
            region: loader(RegionLoader(db.clone())),
            hub_departments: loader(HubDepartmentsLoader(db.clone())),
            department_hubs: loader(DepartmentHubsLoader(db.clone())),
            region_departments: loader(RegionDepartmentsLoader(db.clone())),
            department_sites: loader(DepartmentSitesLoader(db.clone())),
        }
    }
}
