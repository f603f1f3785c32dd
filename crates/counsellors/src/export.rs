//! CSV exports of the lists a hub works with: "counsellors of my territory", "counsellors without a site", and
//! "structures and their posts".
//!
//! Counsellor files use the import's columns (so an export can be edited and imported back), plus read-only
//! columns (`departement`, `structure`, `lieux`) that the import ignores. Personal columns are filled only for rows
//! the caller may read personal data of; for other rows they are empty.

use crate::CounsellorsError;
use crate::import::{COUNSELLOR_COLUMNS, STRUCTURE_COLUMNS};
use crate::model::{Counsellor, CounsellorId, Structure, StructureId};
use crate::query::{
    CounsellorFilter, StructureFilter, all_counsellors, all_structures, assignments_of_counsellors,
    posts_of_structures, structures_by_ids,
};
use chrono::NaiveDate;
use maillage_core::{Actor, DepartmentCode, Role};
use sea_orm::ConnectionTrait;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// Which counsellors to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounsellorList {
    /// Every counsellor of the territory.
    Territory,
    /// Counsellors still under contract whose time is assigned to no site.
    WithoutSite,
}

/// Where to export from; a hub coordinator's export is always limited to its hub's departments.
#[derive(Debug, Clone, Default)]
pub struct ExportScope {
    /// Only the departments of this hub (slug).
    pub hub: Option<String>,
    /// Only this department.
    pub department: Option<DepartmentCode>,
}

/// The departments `actor` may export from within `scope` (`None`: all).
fn departments(actor: &Actor, scope: &ExportScope) -> Option<Vec<DepartmentCode>> {
    let own = actor.hub_scope().map(|s| s.departments.clone());
    match (&scope.department, own) {
        (Some(d), Some(own)) => Some(own.into_iter().filter(|o| o == d).collect()),
        (Some(d), None) => Some(vec![d.clone()]),
        (None, own) => own,
    }
}

fn date(d: Option<NaiveDate>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

fn yes_no(b: bool) -> String {
    if b { "oui" } else { "non" }.to_owned()
}

fn io(e: impl std::fmt::Display) -> CounsellorsError {
    CounsellorsError::Write(e.to_string())
}

/// Writes counsellors as CSV and returns how many; for hub coordinators, BdT reviewers and admins.
#[tracing::instrument(skip_all)]
pub async fn export_counsellors<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    list: CounsellorList,
    scope: &ExportScope,
    out: W,
) -> Result<u64, CounsellorsError> {
    if !matches!(
        actor.role(),
        Role::Admin | Role::HubCoordinator | Role::BdtReviewer
    ) {
        return Err(CounsellorsError::Forbidden(
            "counsellor lists are exported by hub coordinators, BdT reviewers and admins"
                .to_owned(),
        ));
    }
    let filter = CounsellorFilter {
        departments: departments(actor, scope),
        hub: scope.hub.clone(),
        without_site: list == CounsellorList::WithoutSite,
        ..CounsellorFilter::default()
    };
    let counsellors = all_counsellors(db, &filter).await?;
    let ids: Vec<CounsellorId> = counsellors.iter().map(|c| c.id).collect();
    let mut sites: HashMap<CounsellorId, Vec<String>> = HashMap::new();
    for a in assignments_of_counsellors(db, &ids).await? {
        sites
            .entry(a.counsellor_id)
            .or_default()
            .push(format!("{}:{}", a.site_id, a.share));
    }
    let mut structure_ids: Vec<StructureId> =
        counsellors.iter().map(|c| c.data.structure_id).collect();
    structure_ids.sort();
    structure_ids.dedup();
    let structures: HashMap<StructureId, Structure> = structures_by_ids(db, &structure_ids)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let posts: HashMap<_, bool> = posts_of_structures(db, &structure_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p.data.renewal))
        .collect();
    let coordinators: BTreeMap<CounsellorId, String> = {
        let mut wanted: Vec<CounsellorId> = counsellors
            .iter()
            .filter_map(|c| c.data.coordinator_id)
            .collect();
        wanted.sort();
        wanted.dedup();
        crate::query::counsellors_by_ids(db, &wanted)
            .await?
            .into_iter()
            .map(|c| (c.id, c.data.external_id))
            .collect()
    };
    let mut w = maillage_core::csv::Writer::from_writer(out);
    let mut header: Vec<&str> = COUNSELLOR_COLUMNS.to_vec();
    header.extend(["departement", "structure", "lieux"]);
    w.write_record(&header).map_err(io)?;
    let mut count = 0;
    for c in &counsellors {
        w.write_record(counsellor_record(
            actor,
            c,
            structures.get(&c.data.structure_id),
            c.data.post_id.and_then(|p| posts.get(&p)).copied(),
            c.data.coordinator_id.and_then(|k| coordinators.get(&k)),
            sites.get(&c.id),
        ))
        .map_err(io)?;
        count += 1;
    }
    w.flush().map_err(io)?;
    Ok(count)
}

fn counsellor_record(
    actor: &Actor,
    c: &Counsellor,
    structure: Option<&Structure>,
    post_renewal: Option<bool>,
    coordinator: Option<&String>,
    sites: Option<&Vec<String>>,
) -> Vec<String> {
    let d = &c.data;
    let personal = c.personal_for(actor);
    let p = |f: &dyn Fn(&crate::PersonalData) -> Option<String>| {
        personal.and_then(f).unwrap_or_default()
    };
    vec![
        d.external_id.clone(),
        structure
            .map(|s| s.data.siret.as_str().to_owned())
            .unwrap_or_default(),
        p(&|x| Some(x.first_name.clone())),
        p(&|x| Some(x.last_name.clone())),
        d.status.as_str().to_owned(),
        p(&|x| x.email.as_ref().map(|e| e.as_str().to_owned())),
        p(&|x| x.personal_email.as_ref().map(|e| e.as_str().to_owned())),
        p(&|x| x.phone.clone()),
        date(d.recruited_on),
        date(d.training_started_on),
        date(d.active_since),
        date(d.ended_on),
        d.contract_type
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        date(d.contract_start),
        date(d.contract_end),
        date(d.training_completed_on),
        yes_no(d.pix_certified),
        d.host_share.to_string(),
        yes_no(d.is_coordinator),
        coordinator.cloned().unwrap_or_default(),
        match post_renewal {
            Some(true) => "renouvellement".to_owned(),
            Some(false) => "initial".to_owned(),
            None => String::new(),
        },
        c.department.as_str().to_owned(),
        structure.map(|s| s.data.name.clone()).unwrap_or_default(),
        sites.map(|s| s.join("|")).unwrap_or_default(),
    ]
}

/// Writes structures and their posts as CSV (one row per post; a structure without post has one row with empty
/// post columns) and returns the number of rows. Public data: any caller may export it.
#[tracing::instrument(skip_all)]
pub async fn export_structures<C: ConnectionTrait, W: Write>(
    db: &C,
    actor: &Actor,
    scope: &ExportScope,
    out: W,
) -> Result<u64, CounsellorsError> {
    let filter = StructureFilter {
        departments: departments(actor, scope),
        hub: scope.hub.clone(),
        kinds: Vec::new(),
    };
    let structures = all_structures(db, &filter).await?;
    let ids: Vec<StructureId> = structures.iter().map(|s| s.id).collect();
    let mut posts: HashMap<StructureId, Vec<crate::Post>> = HashMap::new();
    for p in posts_of_structures(db, &ids).await? {
        posts.entry(p.structure_id).or_default().push(p);
    }
    let mut counsellors: HashMap<StructureId, u64> = HashMap::new();
    for c in crate::query::counsellors_of_structures(db, &ids).await? {
        *counsellors.entry(c.data.structure_id).or_default() += 1;
    }
    let mut w = maillage_core::csv::Writer::from_writer(out);
    let mut header: Vec<&str> = STRUCTURE_COLUMNS.to_vec();
    header.extend(["type_financement", "conseillers"]);
    w.write_record(&header).map_err(io)?;
    let mut count = 0;
    for s in &structures {
        let d = &s.data;
        let base = vec![
            d.siret.as_str().to_owned(),
            d.name.clone(),
            d.kind.as_str().to_owned(),
            d.department.as_str().to_owned(),
            d.address.clone().unwrap_or_default(),
            d.postal_code
                .as_ref()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            d.commune.clone().unwrap_or_default(),
            yes_no(d.france_services),
            yes_no(d.zrr),
            yes_no(d.qpv),
        ];
        let tail = [
            s.funding_kind().as_str().to_owned(),
            counsellors.get(&s.id).copied().unwrap_or(0).to_string(),
        ];
        let list = posts.get(&s.id).map(Vec::as_slice).unwrap_or_default();
        let post_cells: Vec<Vec<String>> = if list.is_empty() {
            vec![vec![String::new(); 7]]
        } else {
            list.iter()
                .map(|p| {
                    vec![
                        yes_no(p.data.renewal),
                        p.data.requested.to_string(),
                        p.data.granted.to_string(),
                        p.data.decision.as_str().to_owned(),
                        date(p.data.committee_date),
                        date(p.data.agreement_start),
                        date(p.data.agreement_end),
                    ]
                })
                .collect()
        };
        for cells in post_cells {
            let mut record = base.clone();
            record.extend(cells);
            record.extend(tail.iter().cloned());
            w.write_record(&record).map_err(io)?;
            count += 1;
        }
    }
    w.flush().map_err(io)?;
    Ok(count)
}
