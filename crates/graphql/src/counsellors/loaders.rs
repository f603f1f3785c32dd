//! This domain's loaders: one batched statement per level of a nested query.

use crate::db_loader;
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteCounsellors;
use async_graphql::dataloader::Loader;
use maillage_core::SiteId;
use maillage_counsellors::{
    Assignment, Counsellor, CounsellorId, CounsellorParts, Post, PostId, Structure, StructureId,
};
use maillage_sites::Site;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

db_loader!(
    /// Loads host structures by id.
    pub StructureLoader,
    /// Loads posts by id.
    pub PostLoader,
    /// Loads counsellors by id.
    pub CounsellorLoader,
    /// Loads the posts of each structure.
    pub StructurePostsLoader,
    /// Loads the counsellors of each structure.
    pub StructureCounsellorsLoader,
    /// Loads the counsellors each coordinator coordinates.
    pub CoordinatedLoader,
    /// Loads the site assignments of each counsellor.
    pub AssignmentsLoader,
    /// Loads the counsellors working at each site.
    pub SiteCounsellorsLoader,
    /// Loads the counsellors working at the sites of each page of sites (see [`PageSites`]).
    pub PageCounsellorsLoader,
    /// Loads sites by id (for a counsellor's sites).
    pub SiteLoader,
);

pub(crate) fn grouped<K: std::hash::Hash + Eq + Clone, V>(
    keys: &[K],
    items: impl IntoIterator<Item = (K, V)>,
) -> HashMap<K, Vec<V>> {
    let mut out: HashMap<K, Vec<V>> = keys.iter().map(|k| (k.clone(), Vec::new())).collect();
    for (k, v) in items {
        out.entry(k).or_default().push(v);
    }
    out
}

impl Loader<StructureId> for StructureLoader {
    type Value = Structure;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[StructureId],
    ) -> Result<HashMap<StructureId, Structure>, Self::Error> {
        let rows = maillage_counsellors::structures_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}

impl Loader<PostId> for PostLoader {
    type Value = Post;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[PostId]) -> Result<HashMap<PostId, Post>, Self::Error> {
        let rows = maillage_counsellors::posts_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

impl Loader<CounsellorId> for CounsellorLoader {
    type Value = Counsellor;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CounsellorId],
    ) -> Result<HashMap<CounsellorId, Counsellor>, Self::Error> {
        let rows = maillage_counsellors::counsellors_by_ids(&self.0, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
    }
}

impl Loader<StructureId> for StructurePostsLoader {
    type Value = Vec<Post>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[StructureId],
    ) -> Result<HashMap<StructureId, Vec<Post>>, Self::Error> {
        let rows = maillage_counsellors::posts_of_structures(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(keys, rows.into_iter().map(|p| (p.structure_id, p))))
    }
}

impl Loader<StructureId> for StructureCounsellorsLoader {
    type Value = Vec<Counsellor>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[StructureId],
    ) -> Result<HashMap<StructureId, Vec<Counsellor>>, Self::Error> {
        let rows = maillage_counsellors::counsellors_of_structures(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter().map(|c| (c.data.structure_id, c)),
        ))
    }
}

impl Loader<CounsellorId> for CoordinatedLoader {
    type Value = Vec<Counsellor>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CounsellorId],
    ) -> Result<HashMap<CounsellorId, Vec<Counsellor>>, Self::Error> {
        let rows = maillage_counsellors::coordinated_by(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter()
                .filter_map(|c| c.data.coordinator_id.map(|k| (k, c))),
        ))
    }
}

impl Loader<CounsellorId> for AssignmentsLoader {
    type Value = Vec<Assignment>;
    type Error = async_graphql::Error;
    async fn load(
        &self,
        keys: &[CounsellorId],
    ) -> Result<HashMap<CounsellorId, Vec<Assignment>>, Self::Error> {
        let rows = maillage_counsellors::assignments_of_counsellors(&self.0, keys)
            .await
            .gql()?;
        Ok(grouped(
            keys,
            rows.into_iter().map(|a| (a.counsellor_id, a)),
        ))
    }
}

/// A site's counsellors and what to read of each: the key of [`SiteCounsellorsLoader`], since the selection under
/// `Site.counsellors` decides the columns (`CounsellorParts`).
pub(crate) type SiteCounsellorsKey = (SiteId, CounsellorParts);

impl Loader<SiteCounsellorsKey> for SiteCounsellorsLoader {
    type Value = Vec<(Assignment, Counsellor)>;
    type Error = async_graphql::Error;
    /// One statement per kind of read in the batch: one in practice, since all the sites of a level share their
    /// selection.
    async fn load(
        &self,
        keys: &[SiteCounsellorsKey],
    ) -> Result<HashMap<SiteCounsellorsKey, Vec<(Assignment, Counsellor)>>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for parts in [CounsellorParts::Whole, CounsellorParts::Brief] {
            let sites: Vec<SiteId> = keys
                .iter()
                .filter(|(_, p)| *p == parts)
                .map(|(site, _)| *site)
                .collect();
            if sites.is_empty() {
                continue;
            }
            let rows = maillage_counsellors::counsellors_of_sites(&self.0, &sites, parts)
                .await
                .gql()?;
            let by_site = grouped(&sites, rows.into_iter().map(|(a, c)| (a.site_id, (a, c))));
            out.extend(
                by_site
                    .into_iter()
                    .map(|(site, list)| ((site, parts), list)),
            );
        }
        Ok(out)
    }
}

/// The sites of one page and what to read of their counsellors: the key of [`PageCounsellorsLoader`].
///
/// Why a page rather than a site as the key: with a site per key, the DataLoader hashed, copied into its key sets and
/// answered each of a level's sites one by one (1 300 on the bench's Q5), and cloned every site's counsellors out of
/// its result map; with a page per key it handles one key per page and an `Arc`. The key is identified by a number
/// drawn once per page, so hashing and comparing it never reads its sites.
#[derive(Clone)]
pub struct PageSites {
    number: u64,
    sites: Arc<[SiteId]>,
    parts: CounsellorParts,
}

impl PageSites {
    /// The sites of a new page.
    pub fn new(sites: Arc<[SiteId]>, parts: CounsellorParts) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            number: NEXT.fetch_add(1, Ordering::Relaxed),
            sites,
            parts,
        }
    }
}

impl PartialEq for PageSites {
    fn eq(&self, other: &Self) -> bool {
        self.number == other.number
    }
}

impl Eq for PageSites {}

impl Hash for PageSites {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl Loader<PageSites> for PageCounsellorsLoader {
    type Value = Arc<SiteCounsellors>;
    type Error = async_graphql::Error;
    /// One statement per kind of read in the batch (one in practice: the pages of a level share their selection),
    /// over the sites of all its pages; every page of that kind gets the same map, of all those sites.
    async fn load(
        &self,
        keys: &[PageSites],
    ) -> Result<HashMap<PageSites, Arc<SiteCounsellors>>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for parts in [CounsellorParts::Whole, CounsellorParts::Brief] {
            let mut sites: Vec<SiteId> = keys
                .iter()
                .filter(|k| k.parts == parts)
                .flat_map(|k| k.sites.iter().copied())
                .collect();
            if sites.is_empty() {
                continue;
            }
            sites.sort_unstable();
            sites.dedup();
            let rows = maillage_counsellors::counsellors_of_sites(&self.0, &sites, parts)
                .await
                .gql()?;
            let mut by_site: HashMap<SiteId, Vec<Counsellor>> = HashMap::with_capacity(sites.len());
            for (assignment, counsellor) in rows {
                by_site
                    .entry(assignment.site_id)
                    .or_default()
                    .push(counsellor);
            }
            let shared = Arc::new(SiteCounsellors { parts, by_site });
            for key in keys.iter().filter(|k| k.parts == parts) {
                out.insert(key.clone(), Arc::clone(&shared));
            }
        }
        Ok(out)
    }
}

impl Loader<SiteId> for SiteLoader {
    type Value = Site;
    type Error = async_graphql::Error;
    async fn load(&self, keys: &[SiteId]) -> Result<HashMap<SiteId, Site>, Self::Error> {
        let rows = maillage_sites::sites_by_ids(&self.0, keys).await.gql()?;
        Ok(rows.into_iter().map(|s| (s.id, s)).collect())
    }
}
