//! Where each field of a canonical site comes from, and its source records.

use crate::db_loader;
use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::handles::SiteNode;
use crate::kit::loader::loader;
use crate::kit::state;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use maillage_core::{DepartmentCode, SiteId};
use maillage_sites::dedup::{self, CANONICAL_SOURCE};
use maillage_sites::provenance::{Origin, ProvenanceView, provenance_views};
use maillage_sites::{Site, ValueKind};
use std::collections::HashMap;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------------------------
// Provenance and source records on `Site`
// ---------------------------------------------------------------------------------------------------------------

/// Who set a field's value.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SiteFieldOrigin {
    /// A feed's file, through an import (`source`, `fileName`, `fileDate`, `importJob` say which).
    Import,
    /// An edit through the API (`updateSite`, `createSite`, or a coordinator's `overrideSiteField` on a canonical
    /// site): `by` and `at` say who and when.
    Api,
    /// Taken from one of the source records of a canonical site (`record`, with that record's own `source`, file
    /// and date).
    Merge,
}

impl From<Origin> for SiteFieldOrigin {
    fn from(o: Origin) -> Self {
        match o {
            Origin::Import => Self::Import,
            Origin::Api => Self::Api,
            Origin::Merge => Self::Merge,
        }
    }
}

/// The name of a `Site` field for a stored field name (`postal_code` → `postalCode`, `service` → `services`).
pub(crate) fn site_field_name(field: &str) -> String {
    if let Some(kind) = ValueKind::from_key(field) {
        let plural = match kind {
            ValueKind::Service => "services",
            ValueKind::Public => "publics",
            ValueKind::SpecificSupport => "specificSupport",
            ValueKind::Fee => "fees",
            ValueKind::NationalProgramme => "nationalProgrammes",
            ValueKind::TrainingLabel => "trainingLabels",
            ValueKind::AccessMode => "accessModes",
            ValueKind::SupportMode => "supportModes",
            ValueKind::Typology => "typologies",
            ValueKind::Itinerance => "itinerance",
        };
        return plural.to_owned();
    }
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Where one field of a site got its value.
pub struct SiteFieldProvenanceNode {
    view: ProvenanceView,
    department: Option<DepartmentCode>,
}

/// Where one field of a site got its value: a feed's file (which feed, file and date), an API edit (who, when), or,
/// for a canonical site, the source record it was taken from.
#[Object(name = "SiteFieldProvenance")]
impl SiteFieldProvenanceNode {
    /// The `Site` field (`name`, `postalCode`, `services`, …; `latitude` and `longitude` come together, as do the
    /// address fields).
    async fn field(&self) -> String {
        site_field_name(&self.view.entry.field)
    }
    /// Who set it.
    async fn origin(&self) -> SiteFieldOrigin {
        self.view.entry.origin.into()
    }
    /// The source (feed) name the value came from (for a merged field, the source record's); null for an API edit.
    async fn source(&self) -> Option<&str> {
        self.view.source.as_deref()
    }
    /// For a merged field: the source record's own id in its source.
    async fn source_id(&self) -> Option<&str> {
        self.view.record_source_id.as_deref()
    }
    /// For a merged field: the source record it was taken from (also served when it is merged).
    async fn record(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<SiteNode>> {
        let Some(id) = self.view.entry.record_site_id else {
            return Ok(None);
        };
        let _s = state(ctx)?;
        Ok(loader::<SourceRecordLoader>(ctx)?
            .load_one(id)
            .await?
            .map(SiteNode::new))
    }
    /// The imported file's name.
    async fn file_name(&self) -> Option<&str> {
        self.view.entry.file_name.as_deref()
    }
    /// The imported file's date, when the feed gave one.
    async fn file_date(&self) -> Option<Date> {
        self.view.entry.file_date.map(Date)
    }
    /// The import job that brought it, for imports over HTTP.
    async fn import_job(&self) -> Option<ID> {
        self.view
            .entry
            .import_job_id
            .map(|j| crate::feeds::job_id(maillage_sites::jobs::JobId(j)))
    }
    /// When the value was set.
    async fn at(&self) -> DateTime<Utc> {
        self.view.entry.at
    }
    /// Who set it (an API token's or the operator's label). Null for callers who may not read the site's personal
    /// data (anonymous and partner callers, coordinators of other departments): labels may name people.
    async fn by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        let s = state(ctx)?;
        Ok(s.actor
            .can_read_personal_data(self.department.as_ref())
            .then_some(self.view.entry.actor.as_deref())
            .flatten())
    }
}

/// The loader key of a site's provenance: its id and its source name (named as the source of imported fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProvenanceKey(SiteId, Arc<str>);

db_loader!(
    /// Loads the provenance of the sites of a page, in two statements whatever the page size.
    pub SiteProvenanceLoader,
    /// Loads the source records of the canonical sites of a page, in one statement plus their values.
    pub SourceRecordsLoader,
    /// Loads source records by id, merged or not.
    pub SourceRecordLoader,
);

impl Loader<ProvenanceKey> for SiteProvenanceLoader {
    type Value = Vec<ProvenanceView>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[ProvenanceKey],
    ) -> Result<HashMap<ProvenanceKey, Vec<ProvenanceView>>, Self::Error> {
        let sites: Vec<(SiteId, String)> = keys.iter().map(|k| (k.0, k.1.to_string())).collect();
        let mut found = provenance_views(&self.0, &sites).await.gql()?;
        Ok(keys
            .iter()
            .filter_map(|k| found.remove(&k.0).map(|v| (k.clone(), v)))
            .collect())
    }
}

impl Loader<SiteId> for SourceRecordsLoader {
    type Value = Vec<Site>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[SiteId]) -> Result<HashMap<SiteId, Vec<Site>>, Self::Error> {
        dedup::source_records_of(&self.0, keys).await.gql()
    }
}

impl Loader<SiteId> for SourceRecordLoader {
    type Value = Site;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[SiteId]) -> Result<HashMap<SiteId, Site>, Self::Error> {
        Ok(dedup::records_by_ids(&self.0, keys)
            .await
            .gql()?
            .into_iter()
            .map(|s| (s.id, s))
            .collect())
    }
}

/// `Site.provenance`: each field's provenance, in the order of the site's fields.
pub async fn site_provenance(
    ctx: &Context<'_>,
    site: &Site,
) -> async_graphql::Result<Vec<SiteFieldProvenanceNode>> {
    let _s = state(ctx)?;
    let views = loader::<SiteProvenanceLoader>(ctx)?
        .load_one(ProvenanceKey(site.id, Arc::from(site.source.as_str())))
        .await?
        .unwrap_or_default();
    Ok(views
        .into_iter()
        .map(|view| SiteFieldProvenanceNode {
            view,
            department: site.department_code.clone(),
        })
        .collect())
}

/// `Site.sourceRecords`: a canonical site's source records, or the site itself when it is a source record.
pub async fn site_source_records(
    ctx: &Context<'_>,
    site: &Site,
) -> async_graphql::Result<Vec<SiteNode>> {
    if site.source != CANONICAL_SOURCE {
        return Ok(vec![SiteNode::new(site.clone())]);
    }
    let _s = state(ctx)?;
    Ok(loader::<SourceRecordsLoader>(ctx)?
        .load_one(site.id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(SiteNode::new)
        .collect())
}
