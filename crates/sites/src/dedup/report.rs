//! The dedup report: per hub and per source (feed), how many source records, candidate pairs and decisions.

use super::entity::site_match;
use super::{CANONICAL_SOURCE, MatchStatus};
use crate::SitesError;
use crate::entity::site;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

/// One line of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportLine {
    /// `hub`, `source` (a feed) or `origin` (a feed and a row's own `source` label, for files mixing several).
    pub scope: &'static str,
    /// The hub's slug, the source name, or `source/label`.
    pub key: String,
    /// Live source records.
    pub rows: u64,
    /// Candidate pairs with a record here, whatever their status.
    pub candidates: u64,
    /// Confirmed by a coordinator.
    pub confirmed: u64,
    /// Confirmed by matching itself.
    pub auto_confirmed: u64,
    /// Rejected.
    pub rejected: u64,
    /// Waiting for review.
    pub pending: u64,
}

impl ReportLine {
    fn count(&mut self, status: &str) {
        self.candidates += 1;
        match MatchStatus::parse(status) {
            Some(MatchStatus::Pending) => self.pending += 1,
            Some(MatchStatus::Confirmed) => self.confirmed += 1,
            Some(MatchStatus::AutoConfirmed) => self.auto_confirmed += 1,
            Some(MatchStatus::Rejected) => self.rejected += 1,
            None => {}
        }
    }
}

type RecordRow = (i32, String, Option<String>, Option<String>);
type PairRow = (i32, i32, String, Option<String>, Option<String>);

/// The report: one line per hub (by slug), then per source, then per origin, each sorted by key.
#[tracing::instrument(skip_all)]
pub async fn dedup_report<C: ConnectionTrait>(db: &C) -> Result<Vec<ReportLine>, SitesError> {
    let records: Vec<RecordRow> = site::Entity::find()
        .select_only()
        .columns([
            site::Column::Id,
            site::Column::Source,
            site::Column::SourceLabel,
            site::Column::DepartmentCode,
        ])
        .filter(site::Column::Source.ne(CANONICAL_SOURCE))
        .filter(site::Column::ArchivedAt.is_null())
        .into_tuple()
        .all(db)
        .await?;
    let pairs: Vec<PairRow> = site_match::Entity::find()
        .select_only()
        .columns([
            site_match::Column::SiteA,
            site_match::Column::SiteB,
            site_match::Column::Status,
            site_match::Column::DepartmentA,
            site_match::Column::DepartmentB,
        ])
        .into_tuple()
        .all(db)
        .await?;
    let hubs = maillage_territories::list_hubs(db).await?;
    let hub_ids: Vec<_> = hubs.iter().map(|h| h.id).collect();
    let mut hubs_of_department: HashMap<String, Vec<String>> = HashMap::new();
    let slugs: HashMap<_, _> = hubs.iter().map(|h| (h.id, h.slug.clone())).collect();
    for (hub, dep) in maillage_territories::departments_of_hubs(db, &hub_ids).await? {
        if let Some(slug) = slugs.get(&hub) {
            hubs_of_department
                .entry(dep.code.as_str().to_owned())
                .or_default()
                .push(slug.clone());
        }
    }
    let origin = |source: &str, label: &Option<String>| {
        format!("{source}/{}", label.as_deref().unwrap_or("").trim())
    };
    let mut by_hub: BTreeMap<String, ReportLine> = hubs
        .iter()
        .map(|h| {
            (
                h.slug.clone(),
                ReportLine {
                    scope: "hub",
                    key: h.slug.clone(),
                    ..ReportLine::default()
                },
            )
        })
        .collect();
    let mut by_source: BTreeMap<String, ReportLine> = BTreeMap::new();
    let mut by_origin: BTreeMap<String, ReportLine> = BTreeMap::new();
    let mut keys_of: HashMap<i32, (String, String)> = HashMap::with_capacity(records.len());
    for (id, source, label, dep) in &records {
        for slug in dep
            .as_ref()
            .and_then(|d| hubs_of_department.get(d))
            .into_iter()
            .flatten()
        {
            if let Some(line) = by_hub.get_mut(slug) {
                line.rows += 1;
            }
        }
        let o = origin(source, label);
        by_source
            .entry(source.clone())
            .or_insert_with(|| line("source", source))
            .rows += 1;
        by_origin
            .entry(o.clone())
            .or_insert_with(|| line("origin", &o))
            .rows += 1;
        keys_of.insert(*id, (source.clone(), o));
    }
    for (a, b, status, dep_a, dep_b) in &pairs {
        let mut hubs_here: HashSet<&String> = HashSet::new();
        for dep in [dep_a, dep_b].into_iter().flatten() {
            hubs_here.extend(hubs_of_department.get(dep).into_iter().flatten());
        }
        for slug in hubs_here {
            if let Some(line) = by_hub.get_mut(slug) {
                line.count(status);
            }
        }
        let (ka, kb) = (keys_of.get(a), keys_of.get(b));
        let sources: HashSet<&String> = [ka, kb].into_iter().flatten().map(|k| &k.0).collect();
        for s in sources {
            by_source
                .entry(s.clone())
                .or_insert_with(|| line("source", s))
                .count(status);
        }
        let origins: HashSet<&String> = [ka, kb].into_iter().flatten().map(|k| &k.1).collect();
        for o in origins {
            by_origin
                .entry(o.clone())
                .or_insert_with(|| line("origin", o))
                .count(status);
        }
    }
    Ok(by_hub
        .into_values()
        .chain(by_source.into_values())
        .chain(by_origin.into_values())
        .collect())
}

fn line(scope: &'static str, key: &str) -> ReportLine {
    ReportLine {
        scope,
        key: key.to_owned(),
        ..ReportLine::default()
    }
}

/// Writes the report as CSV (header: `scope,key,rows,candidates,confirmed,auto_confirmed,rejected,pending`).
pub fn write_report_csv<W: Write>(lines: &[ReportLine], out: W) -> Result<(), SitesError> {
    let io = |e: csv::Error| SitesError::Io {
        path: "dedup report".to_owned(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "scope",
        "key",
        "rows",
        "candidates",
        "confirmed",
        "auto_confirmed",
        "rejected",
        "pending",
    ])
    .map_err(io)?;
    for l in lines {
        w.write_record([
            l.scope.to_owned(),
            l.key.clone(),
            l.rows.to_string(),
            l.candidates.to_string(),
            l.confirmed.to_string(),
            l.auto_confirmed.to_string(),
            l.rejected.to_string(),
            l.pending.to_string(),
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|source| SitesError::Io {
        path: "dedup report".to_owned(),
        source,
    })
}
