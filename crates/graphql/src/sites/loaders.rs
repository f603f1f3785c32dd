//! The sites loader: one page of sites per department, batched across departments.

use crate::db_loader;
use crate::kit::error::IntoGql;
use async_graphql::dataloader::Loader;
use maillage_core::DepartmentCode;
use maillage_core::pagination::{Page, PageRequest};
use maillage_sites::query::SiteRead;
use maillage_sites::{Site, SiteFilter, SiteOrder};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

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
    /// What the selection reads of each site (the brief columns, the row, or the row and its multi-valued fields:
    /// `sites::inputs::selected_parts`), and whether it reads cursors.
    pub read: SiteRead,
    /// The arguments as text, ending with whether cursors are read, and the length of its part before the
    /// cursors (requests equal on it are read together): written when a loader first compares the arguments.
    ///
    /// Why lazily: a root `sites` list never goes through a loader, and writing the filter's `Debug` text was 1 % of
    /// the instructions of a page of 50 sites (issue #16). Shared by clones: a loader clones its keys before it
    /// hashes them, and each clone writing the text again doubled that cost on nested lists. The fields above are
    /// never changed after [`SitesArgs::new`] (a changed field would leave this text stale).
    key: Arc<OnceLock<(Box<str>, usize)>>,
}

impl SitesArgs {
    /// Bundles the arguments; equality is on their canonical text (the filter holds floats, which are not `Eq`).
    pub fn new(filter: SiteFilter, order: SiteOrder, page: PageRequest, read: SiteRead) -> Self {
        Self {
            filter,
            order,
            page,
            read,
            key: Arc::default(),
        }
    }

    /// The arguments as text, and the length of the part before whether cursors are read.
    fn canonical(&self) -> (&str, usize) {
        let (text, batch) = self.key.get_or_init(|| {
            let mut text = format!(
                "{:?}|{:?}|{:?}|{:?}",
                self.filter, self.order, self.page, self.read.parts
            );
            let batch = text.len();
            text.push_str(if self.read.cursors { "|cursors" } else { "|" });
            (text.into(), batch)
        });
        (text, *batch)
    }

    /// What requests read together share: everything but whether they read cursors.
    fn batch_key(&self) -> &str {
        let (text, batch) = self.canonical();
        text.get(..batch).unwrap_or(text)
    }
}

impl PartialEq for SitesArgs {
    fn eq(&self, other: &Self) -> bool {
        self.canonical().0 == other.canonical().0
    }
}
impl Eq for SitesArgs {}
impl Hash for SitesArgs {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical().0.hash(state);
    }
}

/// Behind an `Arc`: the DataLoader hands each caller a clone of its value while it still holds the batch's map, and a
/// page of sites is large (measured with heaptrack under 64 concurrent nested queries: the clones of sites were
/// about a tenth of the peak heap). The resolver takes the page out of the `Arc` with [`take_page`].
impl Loader<(DepartmentCode, SitesArgs)> for DepartmentSitesLoader {
    type Value = Arc<Page<Site>>;
    type Error = async_graphql::Error;

    // The only interior mutability of `SitesArgs` is its key text, written once from fields that never change: its
    // hash and equality never change either.
    #[allow(clippy::mutable_key_type)]
    async fn load(
        &self,
        keys: &[(DepartmentCode, SitesArgs)],
    ) -> Result<HashMap<(DepartmentCode, SitesArgs), Arc<Page<Site>>>, Self::Error> {
        // Sibling lists that differ only in whether they read cursors are one statement, with cursors if any of
        // them reads them: a selection's cursors never cost a statement.
        let mut groups: HashMap<&str, Vec<&(DepartmentCode, SitesArgs)>> = HashMap::new();
        for key in keys {
            groups.entry(key.1.batch_key()).or_default().push(key);
        }
        let mut out = HashMap::new();
        for group in groups.into_values() {
            let Some((_, args)) = group.first() else {
                continue;
            };
            let mut deps: Vec<DepartmentCode> = group.iter().map(|(dep, _)| dep.clone()).collect();
            deps.sort();
            deps.dedup();
            let read = SiteRead {
                parts: args.read.parts,
                cursors: group.iter().any(|(_, a)| a.read.cursors),
            };
            let pages = maillage_sites::list_site_parts_by_departments(
                &self.0,
                &deps,
                &args.filter,
                args.order,
                &args.page,
                read,
            )
            .await
            .gql()?;
            let pages: HashMap<DepartmentCode, Arc<Page<Site>>> =
                pages.into_iter().map(|(d, p)| (d, Arc::new(p))).collect();
            for key in group {
                if let Some(page) = pages.get(&key.0) {
                    out.insert(key.clone(), Arc::clone(page));
                }
            }
        }
        Ok(out)
    }
}

/// The page out of the loader's `Arc`: moved when the loader has let go of it (the usual case), cloned otherwise.
pub fn take_page(page: Arc<Page<Site>>) -> Page<Site> {
    Arc::try_unwrap(page).unwrap_or_else(|shared| (*shared).clone())
}
