//! The sites loader: one page of sites per department, batched across departments.

use crate::db_loader;
use crate::kit::error::IntoGql;
use async_graphql::dataloader::Loader;
use maillage_core::DepartmentCode;
use maillage_core::pagination::{Page, PageRequest};
use maillage_sites::{Site, SiteFilter, SiteOrder, SiteParts};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

db_loader!(
    /// Loads one page of sites per department, for the same arguments.
    pub DepartmentSitesLoader,
);

/// The arguments of a nested `sites` field; requests with equal arguments are batched together.
#[derive(Debug, Clone)]
pub struct SitesArgs {
    /// The filter.
    pub filter: SiteFilter,
    /// The order.
    pub order: SiteOrder,
    /// The page.
    pub page: PageRequest,
    /// What the selection reads of each site: the brief columns, the row, or the row and its multi-valued fields
    /// (`sites::inputs::selected_parts`).
    pub parts: SiteParts,
    pub(crate) canonical: Arc<str>,
}

impl SitesArgs {
    /// Bundles the arguments; equality is on their canonical text (the filter holds floats, which are not `Eq`).
    pub fn new(filter: SiteFilter, order: SiteOrder, page: PageRequest, parts: SiteParts) -> Self {
        let canonical = format!("{filter:?}|{order:?}|{page:?}|{parts:?}").into();
        Self {
            filter,
            order,
            page,
            parts,
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

/// Behind an `Arc`: the DataLoader hands each caller a clone of its value while it still holds the batch's map, and a
/// page of sites is large (measured with heaptrack under 64 concurrent nested queries: the clones of sites were
/// about a tenth of the peak heap). The resolver takes the page out of the `Arc` with [`take_page`].
impl Loader<(DepartmentCode, SitesArgs)> for DepartmentSitesLoader {
    type Value = Arc<Page<Site>>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(DepartmentCode, SitesArgs)],
    ) -> Result<HashMap<(DepartmentCode, SitesArgs), Arc<Page<Site>>>, Self::Error> {
        let mut groups: HashMap<&SitesArgs, Vec<DepartmentCode>> = HashMap::new();
        for (dep, args) in keys {
            groups.entry(args).or_default().push(dep.clone());
        }
        let mut out = HashMap::new();
        for (args, deps) in groups {
            let pages = maillage_sites::list_site_parts_by_departments(
                &self.0,
                &deps,
                &args.filter,
                args.order,
                &args.page,
                args.parts,
            )
            .await
            .gql()?;
            for (dep, page) in pages {
                out.insert((dep, args.clone()), Arc::new(page));
            }
        }
        Ok(out)
    }
}

/// The page out of the loader's `Arc`: moved when the loader has let go of it (the usual case), cloned otherwise.
pub fn take_page(page: Arc<Page<Site>>) -> Page<Site> {
    Arc::try_unwrap(page).unwrap_or_else(|shared| (*shared).clone())
}
