//! Handles of the objects several domains return: regions, departments, hubs and sites, with the loaders that fetch
//! territories.
//!
//! A handle is the data behind a GraphQL object; its `#[Object]` resolvers live in its domain module
//! (`territories::objects`, `sites::objects`). Keeping the handle here lets every domain return a `Department` or a
//! `Site` without importing the module that resolves its fields, so domain modules never import each other in a
//! circle.

use crate::kit::error::IntoGql;
use crate::kit::loader::DbLoader;
use async_graphql::dataloader::Loader;
use maillage_core::{DepartmentCode, RegionCode};
use maillage_sites::Site;
use maillage_territories::{Department, Hub, ReferenceSnapshot, ReferenceTerritories, Region};
use std::collections::HashMap;
use std::sync::Arc;

/// A French region (INSEE code), e.g. Auvergne-Rhône-Alpes (84).
///
/// Transparent, so that a region held elsewhere (the reference snapshot) is resolved in place without a copy.
#[derive(ref_cast::RefCast)]
#[repr(transparent)]
pub struct RegionNode(pub Region);

/// A department (INSEE code: 01…95, 2A/2B, 971…976).
///
/// Transparent, so that a department held elsewhere (a page's [`Related`], the reference snapshot) is resolved in
/// place without a copy.
#[derive(ref_cast::RefCast)]
#[repr(transparent)]
pub struct DepartmentNode(pub Department);

/// A hub territorial pour un numérique inclusif: coordinates the sites and actors of the departments it covers.
pub struct HubNode(pub Hub);

/// A lieu de médiation numérique (site), normalised from the national standard (v0.1.1 or v1.0.2).
///
/// Multi-valued fields (`services`, `publics`, …) give v1.0.2 labels; values of the source that have no v1.0.2
/// equivalent are in `rawValues` with a null `value`.
pub struct SiteNode {
    /// The site.
    pub site: Site,
    /// The department and its hubs when the parent already knows them (a department's sites) or prefetched them
    /// for the whole page: `department` and `hubs` then cost no query at all, whatever the page size.
    pub related: Arc<Related>,
}

/// Departments and hubs known in advance for the sites of one page.
#[derive(Default)]
pub struct Related {
    /// Departments by code: the parent's, and those the reference snapshot lacked.
    pub departments: HashMap<DepartmentCode, Department>,
    /// The reference snapshot the page's departments were looked up in, kept rather than copied from: most pages'
    /// departments are all in it, and copying each into `departments` was 7 % of a 50-site page's CPU (issue #16).
    pub snapshot: Option<Arc<ReferenceSnapshot>>,
    /// Hubs of each department, when prefetched.
    pub hubs: Option<HashMap<DepartmentCode, Vec<Hub>>>,
    /// Counsellors of each site of the page, when prefetched (shared with the other pages of the same batch).
    pub counsellors: Option<Arc<SiteCounsellors>>,
}

/// The counsellors of the sites of a page, read with one DataLoader key for the page rather than one per site, and
/// what was read of each (`Site.counsellors` uses brief rows only for a brief selection). It may hold the sites of
/// the other pages read in the same batch too.
pub struct SiteCounsellors {
    /// What was read of each counsellor.
    pub parts: maillage_counsellors::CounsellorParts,
    /// Counsellors by site, in the loader's order; a site without counsellors has no entry.
    pub by_site: HashMap<maillage_core::SiteId, Vec<maillage_counsellors::Counsellor>>,
}

impl Related {
    /// The department with this code, if the page knows it.
    pub fn department(&self, code: &DepartmentCode) -> Option<&Department> {
        self.departments
            .get(code)
            .or_else(|| self.snapshot.as_deref()?.department(code))
    }
}

impl SiteNode {
    /// A site with nothing prefetched.
    pub fn new(site: Site) -> Self {
        Self {
            site,
            related: Arc::default(),
        }
    }
}

/// Declares loaders of reference territories: they answer from the server's snapshot, and read the database only
/// for the codes it lacks (hubs are not reference data: mutations edit them, so the departments' hubs are kept only
/// while their changes are announced, see `maillage_territories::DepartmentHubs`).
macro_rules! reference_loader {
    ($($(#[$meta:meta])* $vis:vis $name:ident),+ $(,)?) => {
        $(
            $(#[$meta])*
            $vis struct $name {
                db: maillage_core::reads::Reads,
                territories: Arc<ReferenceTerritories>,
            }
            impl DbLoader for $name {
                fn from_db(db: maillage_core::reads::Reads, territories: &Arc<ReferenceTerritories>) -> Self {
                    Self {
                        db,
                        territories: Arc::clone(territories),
                    }
                }
            }
        )+
    };
}

reference_loader!(
    /// Loads the hubs covering each department (kept between requests on PostgreSQL, see
    /// `maillage_territories::DepartmentHubs`).
    pub DepartmentHubsLoader,
    /// Loads departments by code.
    pub DepartmentLoader,
    /// Loads regions by code.
    pub RegionLoader,
    /// Loads the departments of each region.
    pub RegionDepartmentsLoader,
);

impl Loader<DepartmentCode> for DepartmentLoader {
    type Value = Department;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[DepartmentCode],
    ) -> Result<HashMap<DepartmentCode, Department>, Self::Error> {
        let rows = self
            .territories
            .departments_by_codes(&self.db, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|d| (d.code.clone(), d)).collect())
    }
}

impl Loader<RegionCode> for RegionLoader {
    type Value = Region;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[RegionCode]) -> Result<HashMap<RegionCode, Region>, Self::Error> {
        let rows = self
            .territories
            .regions_by_codes(&self.db, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|r| (r.code.clone(), r)).collect())
    }
}

impl Loader<DepartmentCode> for DepartmentHubsLoader {
    type Value = Vec<Hub>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[DepartmentCode],
    ) -> Result<HashMap<DepartmentCode, Vec<Hub>>, Self::Error> {
        let rows = self
            .territories
            .department_hubs()
            .hubs_of_departments(&self.db, keys)
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
        let rows = self
            .territories
            .departments_of_regions(&self.db, keys)
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
