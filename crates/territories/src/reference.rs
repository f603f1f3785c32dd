//! Regions and departments held in memory, so reading them by code costs no SQL statement.
//!
//! They are reference data: only [`crate::seed_reference_data`] writes them (at every start), yet nearly every
//! GraphQL request reads some (a site's department, a department's region). Under load a request is bound by its
//! sequential database round trips, not by CPU, so one avoided statement per level is worth more than any
//! micro-optimisation (issue #16).
//!
//! The snapshot stays correct without coordination between instances:
//!
//! - a code absent from the snapshot falls back to the database, exactly as the `read` functions do, so a department
//!   inserted after the load is still found (and the snapshot is then reloaded on the next read), and an unknown code
//!   costs the one statement it always cost;
//! - the snapshot is reloaded once it is older than [`REFERENCE_MAX_AGE`], so a name fixed by the seed of a newer
//!   binary on another instance (or by hand in the database) shows up without restarting this one.
//!
//! Hubs and which departments each covers are not here: mutations edit them, so they are read from the database, or
//! kept only while PostgreSQL announces their changes ([`crate::DepartmentHubs`], held here beside the snapshot). Only the departments those codes name are resolved here ([`ReferenceTerritories::list_hubs_with_departments`]
//! and its siblings), which spares the join with `department`.

use crate::error::TerritoriesError;
use crate::hub_cache::DepartmentHubs;
use crate::model::{Department, Hub, Region};
use crate::read;
use maillage_core::{DepartmentCode, HubId, RegionCode};
use rustc_hash::FxHashMap;
use sea_orm::ConnectionTrait;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a snapshot answers before the next read reloads it.
///
/// Names only change when a newer binary's seed restores them, or when someone edits them by hand: ten minutes is
/// a short wait for either, and costs two statements per instance every ten minutes, nothing next to the traffic.
pub const REFERENCE_MAX_AGE: Duration = Duration::from_secs(10 * 60);

/// All regions and departments as read by one load: two statements, one per table.
#[derive(Debug)]
pub struct ReferenceSnapshot {
    loaded_at: Instant,
    /// Set when a fallback read found a row this snapshot lacks: the next read reloads whatever the age.
    outdated: AtomicBool,
    /// In the order of [`crate::list_regions`].
    regions: Vec<Region>,
    /// In the order of [`crate::list_departments`].
    departments: Vec<Department>,
    /// Hashed with FxHash rather than SipHash: a page of 50 sites looks up about 90 codes here, and SipHash was
    /// 2 % of its instructions (issue #16). The keys are the reference codes, loaded from the database; a client's
    /// code is only looked up, so there is no table a client could fill with colliding keys.
    region_at: FxHashMap<RegionCode, usize>,
    department_at: FxHashMap<DepartmentCode, usize>,
    /// Positions in `departments`, so in its order.
    of_region: HashMap<RegionCode, Vec<usize>>,
}

impl ReferenceSnapshot {
    fn new(regions: Vec<Region>, departments: Vec<Department>) -> Self {
        let region_at = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.code.clone(), i))
            .collect();
        let department_at = departments
            .iter()
            .enumerate()
            .map(|(i, d)| (d.code.clone(), i))
            .collect();
        let mut of_region: HashMap<RegionCode, Vec<usize>> = HashMap::new();
        for (i, d) in departments.iter().enumerate() {
            of_region.entry(d.region_code.clone()).or_default().push(i);
        }
        Self {
            loaded_at: Instant::now(),
            outdated: AtomicBool::new(false),
            regions,
            departments,
            region_at,
            department_at,
            of_region,
        }
    }

    /// The region with this code, if the snapshot has it.
    pub fn region(&self, code: &RegionCode) -> Option<&Region> {
        self.region_at.get(code).and_then(|&i| self.regions.get(i))
    }

    /// The department with this code, if the snapshot has it.
    pub fn department(&self, code: &DepartmentCode) -> Option<&Department> {
        self.department_at
            .get(code)
            .and_then(|&i| self.departments.get(i))
    }

    /// All regions, ordered by code.
    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    /// All departments, ordered by code as [`crate::list_departments`] orders them.
    pub fn departments(&self) -> &[Department] {
        &self.departments
    }

    /// The departments of a region the snapshot has, ordered by code; `None` for a region it lacks (which may be
    /// newer than the snapshot: ask the database).
    pub fn departments_of_region(&self, code: &RegionCode) -> Option<Vec<Department>> {
        self.region_at.get(code)?;
        let positions = self.of_region.get(code).map(Vec::as_slice).unwrap_or(&[]);
        Some(
            positions
                .iter()
                .filter_map(|&i| self.departments.get(i).cloned())
                .collect(),
        )
    }

    fn fresh(&self, max_age: Duration) -> bool {
        !self.outdated.load(Ordering::Relaxed) && self.loaded_at.elapsed() < max_age
    }

    /// A fallback read found `late` rows this snapshot lacks (when any): the next read reloads whatever the age.
    fn note_late<T>(&self, late: &[T]) {
        if !late.is_empty() {
            self.outdated.store(true, Ordering::Relaxed);
        }
    }
}

/// The regions and departments of one server, loaded on first use and reloaded after [`REFERENCE_MAX_AGE`].
///
/// Cheap to read from many tasks at once: a read clones an `Arc` under a read lock. Only one reload runs at a time;
/// while it runs, other readers keep answering from the previous snapshot.
#[derive(Debug)]
pub struct ReferenceTerritories {
    current: RwLock<Option<Arc<ReferenceSnapshot>>>,
    /// Held by the one reader that loads; the others wait only when there is no snapshot at all.
    loading: tokio::sync::Mutex<()>,
    max_age: Duration,
    /// Each department's hubs, kept while their changes are announced.
    hubs: Arc<DepartmentHubs>,
}

impl Default for ReferenceTerritories {
    fn default() -> Self {
        Self::new()
    }
}

impl ReferenceTerritories {
    /// Nothing loaded yet; snapshots last [`REFERENCE_MAX_AGE`].
    pub fn new() -> Self {
        Self::with_max_age(REFERENCE_MAX_AGE)
    }

    /// Nothing loaded yet; snapshots last `max_age` (tests use a short one to see reloads).
    pub fn with_max_age(max_age: Duration) -> Self {
        Self {
            current: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
            max_age,
            hubs: Arc::new(DepartmentHubs::new()),
        }
    }

    /// Each department's hubs, kept between requests while [`crate::follow_hub_changes`] hears their changes.
    pub fn department_hubs(&self) -> &Arc<DepartmentHubs> {
        &self.hubs
    }

    /// The current snapshot if it is fresh, without waiting or reading anything: for a caller that cannot wait
    /// (the GraphQL layer resolving an object in place) and otherwise asks [`ReferenceTerritories::snapshot`],
    /// which loads or reloads it.
    pub fn fresh_snapshot(&self) -> Option<Arc<ReferenceSnapshot>> {
        self.peek().filter(|s| s.fresh(self.max_age))
    }

    fn peek(&self) -> Option<Arc<ReferenceSnapshot>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn load<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Arc<ReferenceSnapshot>, TerritoriesError> {
        let regions = read::list_regions(db).await?;
        let departments = read::list_departments(db, None).await?;
        let snapshot = Arc::new(ReferenceSnapshot::new(regions, departments));
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// The current snapshot, loading it first when there is none (two statements) and reloading it when it is older
    /// than the maximum age. When a reload fails, or another reader is already reloading, the previous snapshot
    /// answers: reference data a few minutes old beats an error.
    #[tracing::instrument(skip_all)]
    pub async fn snapshot<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Arc<ReferenceSnapshot>, TerritoriesError> {
        match self.peek() {
            Some(snapshot) if snapshot.fresh(self.max_age) => Ok(snapshot),
            Some(stale) => {
                let Ok(_loading) = self.loading.try_lock() else {
                    return Ok(stale);
                };
                // Another reader may have reloaded between the peek and the lock.
                if let Some(current) = self.peek().filter(|s| s.fresh(self.max_age)) {
                    return Ok(current);
                }
                match self.load(db).await {
                    Ok(snapshot) => Ok(snapshot),
                    Err(error) => {
                        tracing::warn!(%error, "reloading the reference territories failed; the previous snapshot answers");
                        Ok(stale)
                    }
                }
            }
            None => {
                let _loading = self.loading.lock().await;
                if let Some(current) = self.peek() {
                    return Ok(current);
                }
                self.load(db).await
            }
        }
    }

    /// The regions with these codes, ordered by code, unknown codes skipped: [`crate::regions_by_codes`] without a
    /// statement when the snapshot has them all, with one for the codes it lacks.
    pub async fn regions_by_codes<C: ConnectionTrait>(
        &self,
        db: &C,
        codes: &[RegionCode],
    ) -> Result<Vec<Region>, TerritoriesError> {
        let snapshot = self.snapshot(db).await?;
        let (mut found, missing) = split_known(codes, |code| snapshot.region(code));
        if !missing.is_empty() {
            let late = read::regions_by_codes(db, &missing).await?;
            snapshot.note_late(&late);
            found.extend(late);
        }
        found.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
        Ok(found)
    }

    /// The departments with these codes, ordered by code, unknown codes skipped: [`crate::departments_by_codes`]
    /// without a statement when the snapshot has them all, with one for the codes it lacks.
    pub async fn departments_by_codes<C: ConnectionTrait>(
        &self,
        db: &C,
        codes: &[DepartmentCode],
    ) -> Result<Vec<Department>, TerritoriesError> {
        let snapshot = self.snapshot(db).await?;
        let (mut found, missing) = split_known(codes, |code| snapshot.department(code));
        if !missing.is_empty() {
            let late = read::departments_by_codes(db, &missing).await?;
            snapshot.note_late(&late);
            found.extend(late);
        }
        found.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
        Ok(found)
    }

    /// The departments of these regions, ordered by region then code: [`crate::departments_of_regions`] without a
    /// statement for the regions the snapshot has, with one for those it lacks.
    pub async fn departments_of_regions<C: ConnectionTrait>(
        &self,
        db: &C,
        codes: &[RegionCode],
    ) -> Result<Vec<Department>, TerritoriesError> {
        let snapshot = self.snapshot(db).await?;
        let wanted: BTreeSet<&RegionCode> = codes.iter().collect();
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for code in wanted {
            match snapshot.departments_of_region(code) {
                Some(departments) => found.extend(departments),
                None => missing.push(code.clone()),
            }
        }
        if !missing.is_empty() {
            let late = read::departments_of_regions(db, &missing).await?;
            snapshot.note_late(&late);
            found.extend(late);
            found.sort_by(|a, b| {
                (a.region_code.as_str(), a.code.as_str())
                    .cmp(&(b.region_code.as_str(), b.code.as_str()))
            });
        }
        Ok(found)
    }

    /// All regions, ordered by code: [`crate::list_regions`] from the snapshot.
    pub async fn list_regions<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<Region>, TerritoriesError> {
        Ok(self.snapshot(db).await?.regions().to_vec())
    }

    /// All departments, or those of one region, ordered by code: [`crate::list_departments`] from the snapshot, or
    /// from the database for a region the snapshot lacks (an unknown region gives an empty list, as it always did).
    pub async fn list_departments<C: ConnectionTrait>(
        &self,
        db: &C,
        region: Option<&RegionCode>,
    ) -> Result<Vec<Department>, TerritoriesError> {
        let snapshot = self.snapshot(db).await?;
        let Some(region) = region else {
            return Ok(snapshot.departments().to_vec());
        };
        if let Some(departments) = snapshot.departments_of_region(region) {
            return Ok(departments);
        }
        let late = read::list_departments(db, Some(region)).await?;
        snapshot.note_late(&late);
        Ok(late)
    }
}

impl ReferenceTerritories {
    /// Each item's departments, from the codes the caller read in the database (hubs' coverage, say), in the order
    /// of the items, each list ordered by code as a string (as [`crate::departments_of_hubs`] orders them); a code
    /// naming no department is skipped, as the join with `department` skipped it. No statement when the snapshot
    /// has every code, one for all the codes it lacks together.
    pub async fn resolve_department_codes<C: ConnectionTrait, K>(
        &self,
        db: &C,
        items: Vec<(K, Vec<DepartmentCode>)>,
    ) -> Result<Vec<(K, Vec<Department>)>, TerritoriesError> {
        let codes: Vec<DepartmentCode> = items
            .iter()
            .flat_map(|(_, codes)| codes.iter().cloned())
            .collect();
        let by_code: HashMap<DepartmentCode, Department> = if codes.is_empty() {
            HashMap::new()
        } else {
            self.departments_by_codes(db, &codes)
                .await?
                .into_iter()
                .map(|d| (d.code.clone(), d))
                .collect()
        };
        Ok(items
            .into_iter()
            .map(|(item, codes)| {
                let mut departments: Vec<Department> = codes
                    .iter()
                    .filter_map(|code| by_code.get(code).cloned())
                    .collect();
                departments.sort_by(|a, b| a.code.as_str().cmp(b.code.as_str()));
                (item, departments)
            })
            .collect())
    }

    /// [`crate::departments_of_hubs`] (same pairs, same order) reading only `hub_department`: one statement, plus
    /// one for departments newer than the snapshot.
    pub async fn departments_of_hubs<C: ConnectionTrait>(
        &self,
        db: &C,
        ids: &[HubId],
    ) -> Result<Vec<(HubId, Department)>, TerritoriesError> {
        let links = read::department_codes_of_hubs(db, ids).await?;
        let mut items: Vec<(HubId, Vec<DepartmentCode>)> = Vec::new();
        for (hub, code) in links {
            match items.last_mut() {
                Some((last, codes)) if *last == hub => codes.push(code),
                _ => items.push((hub, vec![code])),
            }
        }
        Ok(self
            .resolve_department_codes(db, items)
            .await?
            .into_iter()
            .flat_map(|(hub, departments)| departments.into_iter().map(move |d| (hub, d)))
            .collect())
    }

    /// All hubs as [`crate::list_hubs`] orders them, each with its departments as [`crate::departments_of_hubs`]
    /// gives them: one statement (hubs and their department codes), plus one for departments newer than the
    /// snapshot.
    pub async fn list_hubs_with_departments<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Vec<(Hub, Vec<Department>)>, TerritoriesError> {
        let hubs = read::list_hubs_with_department_codes(db).await?;
        self.resolve_department_codes(db, hubs).await
    }

    /// The hub with this slug, if any, with its departments: [`Self::list_hubs_with_departments`] for one hub.
    pub async fn hub_by_slug_with_departments<C: ConnectionTrait>(
        &self,
        db: &C,
        slug: &str,
    ) -> Result<Option<(Hub, Vec<Department>)>, TerritoriesError> {
        let hub = read::hub_by_slug_with_department_codes(db, slug).await?;
        Ok(self
            .resolve_department_codes(db, Vec::from_iter(hub))
            .await?
            .into_iter()
            .next())
    }
}

/// The values the snapshot has for `codes` (each code once) and the codes it lacks, which the caller reads from the
/// database.
fn split_known<'a, K: Ord + Clone, T: Clone + 'a>(
    codes: &[K],
    known: impl Fn(&K) -> Option<&'a T>,
) -> (Vec<T>, Vec<K>) {
    let wanted: BTreeSet<&K> = codes.iter().collect();
    let mut found = Vec::with_capacity(wanted.len());
    let mut missing = Vec::new();
    for code in wanted {
        match known(code) {
            Some(value) => found.push(value.clone()),
            None => missing.push(code.clone()),
        }
    }
    (found, missing)
}
