//! Where each stored field of a site came from: a feed's file (which feed, job, file and its date), an API edit (who,
//! when), or a merge of several records (which record).
//!
//! One row per site and field, except that imports write a single row for the field [`ALL_FIELDS`] (`*`): it stands
//! for every field without a row of its own. An import of 100 000 sites thus writes 100 000 provenance rows, not
//! 3 million, and an API edit writes one row per field it changed. A later import keeps the value of a field whose
//! own row says `api` unless the feed's policy lets the feed win (see [`crate::import::FeedPolicy`]).

use crate::SitesError;
use crate::entity::site_field_provenance as row;
use crate::model::{NewSite, ValueKind};
use chrono::{DateTime, NaiveDate, Utc};
use maillage_core::{Actor, SiteId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The field name standing for every field of a site without a row of its own.
pub const ALL_FIELDS: &str = "*";

/// Who set a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A feed's file, through an import.
    Import,
    /// An edit through the API (`createSite`, `updateSite`).
    Api,
    /// A merge of several records of the same place into a canonical site.
    Merge,
}

impl Origin {
    /// The stored key (`import`, `api`, `merge`); frozen, since rows carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Api => "api",
            Self::Merge => "merge",
        }
    }

    /// Inverse of [`Origin::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "import" => Some(Self::Import),
            "api" => Some(Self::Api),
            "merge" => Some(Self::Merge),
            _ => None,
        }
    }
}

/// Where one field's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProvenance {
    /// The field (a name of [`FIELDS`], or [`ALL_FIELDS`] when recording).
    pub field: String,
    /// Who set it.
    pub origin: Origin,
    /// The feed of the import, when known.
    pub feed_id: Option<i32>,
    /// The import job, when known.
    pub import_job_id: Option<i32>,
    /// The imported file's name.
    pub file_name: Option<String>,
    /// The imported file's date.
    pub file_date: Option<NaiveDate>,
    /// For a merged (canonical) site: the record the value was taken from.
    pub record_site_id: Option<SiteId>,
    /// Who did it (an actor label: `cli`, `token:ID:NAME`, …).
    pub actor: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl FieldProvenance {
    /// The provenance of an API edit by `actor` now.
    pub fn api(field: &str, actor: &Actor, at: DateTime<Utc>) -> Self {
        Self {
            field: field.to_owned(),
            origin: Origin::Api,
            feed_id: None,
            import_job_id: None,
            file_name: None,
            file_date: None,
            record_site_id: None,
            actor: Some(actor.label().to_owned()),
            at,
        }
    }

    fn into_row(self, site: i32) -> row::ActiveModel {
        row::ActiveModel {
            site_id: Set(site),
            field: Set(self.field),
            origin: Set(self.origin.as_str().to_owned()),
            feed_id: Set(self.feed_id),
            import_job_id: Set(self.import_job_id),
            file_name: Set(self.file_name),
            file_date: Set(self.file_date),
            record_site_id: Set(self.record_site_id.map(|s| s.0)),
            actor: Set(self.actor),
            at: Set(self.at),
        }
    }

    fn from_row(r: row::Model) -> Result<Self, SitesError> {
        let origin = Origin::parse(&r.origin).ok_or_else(|| SitesError::CorruptRow {
            id: r.site_id,
            detail: format!("unknown provenance origin {:?}", r.origin),
        })?;
        Ok(Self {
            field: r.field,
            origin,
            feed_id: r.feed_id,
            import_job_id: r.import_job_id,
            file_name: r.file_name,
            file_date: r.file_date,
            record_site_id: r.record_site_id.map(SiteId),
            actor: r.actor,
            at: r.at,
        })
    }
}

macro_rules! scalar_fields {
    ($($name:literal : $f:ident => $get:expr),* $(,)?) => {
        const SCALAR_FIELDS: &[&str] = &[$($name),*];

        fn scalar_value(s: &NewSite, field: &str) -> Option<Value> {
            match field {
                $($name => Some(serde_json::to_value(($get)(s)).unwrap_or(Value::Null)),)*
                _ => None,
            }
        }

        fn copy_scalar(from: &NewSite, to: &mut NewSite, field: &str) -> bool {
            match field {
                $($name => { to.$f = from.$f.clone(); true })*
                _ => false,
            }
        }
    };
}

scalar_fields! {
    "standard_version": standard_version => |s: &NewSite| s.standard_version.as_str(),
    "pivot": pivot => |s: &NewSite| s.pivot.as_str().to_owned(),
    "name": name => |s: &NewSite| s.name.clone(),
    "commune": commune => |s: &NewSite| s.commune.clone(),
    "postal_code": postal_code => |s: &NewSite| s.postal_code.as_str().to_owned(),
    "insee_code": insee_code => |s: &NewSite| s.insee_code.as_ref().map(|c| c.as_str().to_owned()),
    "address": address => |s: &NewSite| s.address.clone(),
    "address_complement": address_complement => |s: &NewSite| s.address_complement.clone(),
    "latitude": latitude => |s: &NewSite| s.latitude,
    "longitude": longitude => |s: &NewSite| s.longitude,
    "ban_key": ban_key => |s: &NewSite| s.ban_key.clone(),
    "phone": phone => |s: &NewSite| s.phone.clone(),
    "emails": emails => |s: &NewSite| s.emails.iter().map(|e| e.as_str().to_owned()).collect::<Vec<_>>(),
    "website": website => |s: &NewSite| s.website.clone(),
    "opening_hours": opening_hours => |s: &NewSite| s.opening_hours.clone(),
    "summary": summary => |s: &NewSite| s.summary.clone(),
    "description": description => |s: &NewSite| s.description.clone(),
    "source_label": source_label => |s: &NewSite| s.source_label.clone(),
    "parent_structure": parent_structure => |s: &NewSite| s.parent_structure.clone(),
    "updated_on": updated_on => |s: &NewSite| s.updated_on.to_string(),
    "other_labels": other_labels => |s: &NewSite| s.other_labels.clone(),
    "accessibility_url": accessibility_url => |s: &NewSite| s.accessibility_url.clone(),
    "booking_url": booking_url => |s: &NewSite| s.booking_url.clone(),
}

/// Every field of a site that has a provenance: the scalar fields, then the multi-valued ones (by
/// [`ValueKind::as_str`]), in a stable order.
pub fn fields() -> impl Iterator<Item = &'static str> {
    SCALAR_FIELDS
        .iter()
        .copied()
        .chain(ValueKind::ALL.into_iter().map(ValueKind::as_str))
}

/// A field's value as JSON, for reports (`None` for an unknown field).
pub(crate) fn field_value(s: &NewSite, field: &str) -> Option<Value> {
    if let Some(kind) = ValueKind::from_key(field) {
        return Some(Value::from(
            s.values
                .iter()
                .filter(|v| v.kind == kind)
                .map(|v| v.raw.clone())
                .collect::<Vec<_>>(),
        ));
    }
    scalar_value(s, field)
}

/// Whether two sites hold the same value in `field` (multi-valued fields compared kind by kind, so that the order
/// of kinds inside the stored list does not count as a change).
pub(crate) fn same_field(a: &NewSite, b: &NewSite, field: &str) -> bool {
    if let Some(kind) = ValueKind::from_key(field) {
        return a
            .values
            .iter()
            .filter(|v| v.kind == kind)
            .eq(b.values.iter().filter(|v| v.kind == kind));
    }
    scalar_value(a, field) == scalar_value(b, field)
}

/// Whether two sites hold the same content, field by field.
pub(crate) fn same_content(a: &NewSite, b: &NewSite) -> bool {
    a.source_id == b.source_id && fields().all(|f| same_field(a, b, f))
}

/// The fields whose value differs between `a` and `b`.
pub(crate) fn changed_fields(a: &NewSite, b: &NewSite) -> Vec<&'static str> {
    fields().filter(|f| !same_field(a, b, f)).collect()
}

/// Sets `field` of `to` to its value in `from` (multi-valued fields keep their place in `to`'s list).
pub(crate) fn copy_field(from: &NewSite, to: &mut NewSite, field: &str) {
    if let Some(kind) = ValueKind::from_key(field) {
        let at = to
            .values
            .iter()
            .position(|v| v.kind == kind)
            .unwrap_or(to.values.len());
        to.values.retain(|v| v.kind != kind);
        let at = at.min(to.values.len());
        let moved: Vec<_> = from
            .values
            .iter()
            .filter(|v| v.kind == kind)
            .cloned()
            .collect();
        to.values.splice(at..at, moved);
        return;
    }
    copy_scalar(from, to, field);
}

/// The provenance of every field of these sites, field by field in the order of [`fields`] (one statement).
///
/// A field without a row of its own takes the site's [`ALL_FIELDS`] row; a site with neither (stored before
/// provenance was recorded) has no entry.
pub async fn provenance_of<C: ConnectionTrait>(
    db: &C,
    site_ids: &[SiteId],
) -> Result<HashMap<SiteId, Vec<FieldProvenance>>, SitesError> {
    let mut out: HashMap<SiteId, Vec<FieldProvenance>> = HashMap::new();
    if site_ids.is_empty() {
        return Ok(out);
    }
    let rows = row::Entity::find()
        .filter(row::Column::SiteId.is_in(site_ids.iter().map(|s| s.0)))
        .all(db)
        .await?;
    let mut by_site: HashMap<i32, HashMap<String, FieldProvenance>> = HashMap::new();
    for r in rows {
        let site = r.site_id;
        let p = FieldProvenance::from_row(r)?;
        by_site.entry(site).or_default().insert(p.field.clone(), p);
    }
    for (site, mut rows) in by_site {
        let all = rows.remove(ALL_FIELDS);
        let list = fields()
            .filter_map(|f| {
                rows.remove(f).or_else(|| {
                    all.clone().map(|mut p| {
                        f.clone_into(&mut p.field);
                        p
                    })
                })
            })
            .collect();
        out.insert(SiteId(site), list);
    }
    Ok(out)
}

/// One field's provenance with the source it came from named, as API clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceView {
    /// The stored provenance.
    pub entry: FieldProvenance,
    /// The source (feed) name the value came from: the site's own for an import, the source record's for a merge;
    /// `None` for an edit through the API.
    pub source: Option<String>,
    /// For a merge: the source record's own id in its source.
    pub record_source_id: Option<String>,
}

/// The provenance of every field of these sites with its source named ([`provenance_of`] plus one statement for
/// the source records that merged fields came from).
pub async fn provenance_views<C: ConnectionTrait>(
    db: &C,
    sites: &[(SiteId, String)],
) -> Result<HashMap<SiteId, Vec<ProvenanceView>>, SitesError> {
    let ids: Vec<SiteId> = sites.iter().map(|(id, _)| *id).collect();
    let all = provenance_of(db, &ids).await?;
    let mut records: Vec<i32> = all
        .values()
        .flatten()
        .filter_map(|p| p.record_site_id.map(|r| r.0))
        .collect();
    records.sort_unstable();
    records.dedup();
    let mut named: HashMap<i32, (String, String)> = HashMap::new();
    for chunk in records.chunks(500) {
        let rows: Vec<(i32, String, String)> = crate::entity::site::Entity::find()
            .select_only()
            .column(crate::entity::site::Column::Id)
            .column(crate::entity::site::Column::Source)
            .column(crate::entity::site::Column::SourceId)
            .filter(crate::entity::site::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        named.extend(rows.into_iter().map(|(id, s, sid)| (id, (s, sid))));
    }
    let own: HashMap<SiteId, &String> = sites.iter().map(|(id, s)| (*id, s)).collect();
    Ok(all
        .into_iter()
        .map(|(site, list)| {
            let views = list
                .into_iter()
                .map(|entry| {
                    let record = entry.record_site_id.and_then(|r| named.get(&r.0));
                    let source = match entry.origin {
                        Origin::Import => own.get(&site).map(|s| (*s).clone()),
                        Origin::Merge => record.map(|(s, _)| s.clone()),
                        Origin::Api => None,
                    };
                    ProvenanceView {
                        source,
                        record_source_id: record.map(|(_, sid)| sid.clone()),
                        entry,
                    }
                })
                .collect();
            (site, views)
        })
        .collect())
}

/// Records (replaces) the provenance of fields of one site, e.g. a canonical site's fields taken from its records.
pub async fn record_provenance<C: ConnectionTrait>(
    db: &C,
    site: SiteId,
    entries: Vec<FieldProvenance>,
) -> Result<(), SitesError> {
    upsert(
        db,
        entries.into_iter().map(|p| p.into_row(site.0)).collect(),
    )
    .await
}

/// Makes `entries` the whole provenance of `site` (a canonical site rebuilt from its records): rows of other fields
/// go. Writes nothing when the stored rows already say exactly this.
pub async fn replace_provenance<C: ConnectionTrait>(
    db: &C,
    site: SiteId,
    mut entries: Vec<FieldProvenance>,
) -> Result<(), SitesError> {
    let mut stored = row::Entity::find()
        .filter(row::Column::SiteId.eq(site.0))
        .all(db)
        .await?
        .into_iter()
        .map(FieldProvenance::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    stored.sort_by(|a, b| a.field.cmp(&b.field));
    entries.sort_by(|a, b| a.field.cmp(&b.field));
    if stored == entries {
        return Ok(());
    }
    row::Entity::delete_many()
        .filter(row::Column::SiteId.eq(site.0))
        .exec(db)
        .await?;
    upsert(
        db,
        entries.into_iter().map(|p| p.into_row(site.0)).collect(),
    )
    .await
}

/// Inserts or replaces provenance rows, in multi-row statements.
pub(crate) async fn upsert<C: ConnectionTrait>(
    db: &C,
    rows: Vec<row::ActiveModel>,
) -> Result<(), SitesError> {
    // 10 bound values per row.
    const ROWS_PER_STATEMENT: usize = 2_000;
    let mut rows = rows.into_iter();
    loop {
        let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        row::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([row::Column::SiteId, row::Column::Field])
                    .update_columns([
                        row::Column::Origin,
                        row::Column::FeedId,
                        row::Column::ImportJobId,
                        row::Column::FileName,
                        row::Column::FileDate,
                        row::Column::RecordSiteId,
                        row::Column::Actor,
                        row::Column::At,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
}

/// Records that `actor` set `fields` of `site` through the API now.
pub(crate) async fn record_api_edit<C: ConnectionTrait>(
    db: &C,
    site: i32,
    fields: &[&str],
    actor: &Actor,
) -> Result<(), SitesError> {
    let now = Utc::now();
    upsert(
        db,
        fields
            .iter()
            .map(|f| FieldProvenance::api(f, actor, now).into_row(site))
            .collect(),
    )
    .await
}

/// The fields of these sites whose value an API edit set, by site (one statement).
pub(crate) async fn edited_fields<C: ConnectionTrait>(
    db: &C,
    sites: &[i32],
) -> Result<HashMap<i32, HashSet<String>>, SitesError> {
    let mut out: HashMap<i32, HashSet<String>> = HashMap::new();
    if sites.is_empty() {
        return Ok(out);
    }
    let rows = row::Entity::find()
        .filter(row::Column::SiteId.is_in(sites.iter().copied()))
        .filter(row::Column::Origin.eq(Origin::Api.as_str()))
        .filter(row::Column::Field.ne(ALL_FIELDS))
        .all(db)
        .await?;
    for r in rows {
        out.entry(r.site_id).or_default().insert(r.field);
    }
    Ok(out)
}

/// Forgets the per-field rows of these (site, field) pairs: the fields fall back to the site's [`ALL_FIELDS`] row.
pub(crate) async fn forget<C: ConnectionTrait>(
    db: &C,
    pairs: &[(i32, String)],
) -> Result<(), SitesError> {
    for chunk in pairs.chunks(500) {
        let cond = chunk.iter().fold(Condition::any(), |c, (site, field)| {
            c.add(
                Condition::all()
                    .add(row::Column::SiteId.eq(*site))
                    .add(row::Column::Field.eq(field.as_str())),
            )
        });
        row::Entity::delete_many().filter(cond).exec(db).await?;
    }
    Ok(())
}

/// The row saying that every field of `site` without a row of its own came from this import.
pub(crate) fn import_row(site: i32, source: &ImportOrigin, at: DateTime<Utc>) -> row::ActiveModel {
    FieldProvenance {
        field: ALL_FIELDS.to_owned(),
        origin: Origin::Import,
        feed_id: source.feed_id,
        import_job_id: source.import_job_id,
        file_name: source.file_name.clone(),
        file_date: source.file_date,
        record_site_id: None,
        actor: source.actor.clone(),
        at,
    }
    .into_row(site)
}

/// What an import records as the provenance of the values it writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImportOrigin {
    pub(crate) feed_id: Option<i32>,
    pub(crate) import_job_id: Option<i32>,
    pub(crate) file_name: Option<String>,
    pub(crate) file_date: Option<NaiveDate>,
    pub(crate) actor: Option<String>,
}
