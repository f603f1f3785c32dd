//! Mutations on sites.

use super::inputs::{CreateSiteInput, DeleteSiteInput, SiteChecks, UpdateSiteInput};
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::{Checks, UserError, classify, maybe, opt_text, user_error, writer};
use crate::kit::state;
use async_graphql::{Context, ID, MaybeUndefined, Object, SimpleObject};
use chrono::Utc;
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{InseeCode, Pivot, PostalCode, SiteId};
use maillage_sites::{NewSite, SitePatch, StandardVersion, TaggedValue};

/// Result of `createSite`.
#[derive(SimpleObject)]
pub struct CreateSitePayload {
    /// The new site, unless there were user errors.
    pub site: Option<SiteNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `updateSite`.
#[derive(SimpleObject)]
pub struct UpdateSitePayload {
    /// The site as updated, unless there were user errors.
    pub site: Option<SiteNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `deleteSite`.
#[derive(SimpleObject)]
pub struct DeleteSitePayload {
    /// The archived site's id, unless there were user errors.
    pub deleted_site_id: Option<ID>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

/// Result of `updateHub` and `setHubDepartments`.
pub(crate) fn id_error(field: &str, e: &async_graphql::Error) -> UserError {
    user_error(
        FieldPath::new("input").push(field),
        Code::InvalidId,
        e.message.clone(),
    )
}

/// Mutations on sites.
#[derive(Default)]
pub struct SitesMutation;

/// Mutations on sites.
#[Object]
impl SitesMutation {
    /// Creates a site. Admins anywhere; hub coordinators in their hub's departments.
    async fn create_site(
        &self,
        ctx: &Context<'_>,
        input: CreateSiteInput,
    ) -> async_graphql::Result<CreateSitePayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let source = c.text("source", &input.source, 64);
        let source_id = c.text("sourceId", &input.source_id, 200);
        let pivot = match input.pivot.as_deref() {
            Some(p) => c.parse("pivot", Pivot::parse(p)),
            None => Some(Pivot::placeholder()),
        };
        let name = c.text("name", &input.name, 300);
        let commune = c.text("commune", &input.commune, 200);
        let postal_code = c.parse("postalCode", PostalCode::parse(&input.postal_code));
        let insee_code = input
            .insee_code
            .as_deref()
            .and_then(|v| c.parse("inseeCode", InseeCode::parse(v)));
        let address = c.text("address", &input.address, 300);
        let coordinates = c.coordinates(input.latitude, input.longitude);
        let phone = input.phone.as_deref().and_then(|p| c.phone(p));
        let emails = c.emails(&input.emails.unwrap_or_default());
        let values = input.values.check(&mut c);
        let (
            Some(source),
            Some(source_id),
            Some(pivot),
            Some(name),
            Some(commune),
            Some(postal_code),
            Some(address),
        ) = (
            source,
            source_id,
            pivot,
            name,
            commune,
            postal_code,
            address,
        )
        else {
            return Ok(CreateSitePayload {
                site: None,
                user_errors: c.0,
            });
        };
        if !c.0.is_empty() {
            return Ok(CreateSitePayload {
                site: None,
                user_errors: c.0,
            });
        }
        let new = NewSite {
            source_id,
            standard_version: StandardVersion::V1_0,
            pivot,
            name,
            commune,
            postal_code,
            insee_code,
            address,
            address_complement: opt_text(input.address_complement),
            latitude: coordinates.map(|c| c.0),
            longitude: coordinates.map(|c| c.1),
            ban_key: None,
            phone,
            emails,
            website: opt_text(input.website),
            opening_hours: opt_text(input.opening_hours),
            summary: opt_text(input.summary),
            description: opt_text(input.description),
            source_label: None,
            parent_structure: None,
            updated_on: input
                .updated_on
                .map_or_else(|| Utc::now().date_naive(), |d| d.0),
            values: values
                .into_iter()
                .flat_map(|(kind, labels)| {
                    labels.into_iter().map(move |label| TaggedValue {
                        kind,
                        value: Some(label.clone()),
                        raw: label,
                    })
                })
                .collect(),
            other_labels: None,
            accessibility_url: None,
            booking_url: None,
        };
        let s = state(ctx)?;
        match maillage_sites::create_site(&s.db, &actor, &source, new).await {
            Ok(site) => Ok(CreateSitePayload {
                site: Some(SiteNode::new(site)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(CreateSitePayload {
                site: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Updates a site at the given version. The caller must be allowed to write where the site is and where the
    /// change puts it.
    async fn update_site(
        &self,
        ctx: &Context<'_>,
        input: UpdateSiteInput,
    ) -> async_graphql::Result<UpdateSitePayload> {
        let actor = writer(ctx)?;
        let id = match decode_int(&input.id, NodeKind::Site) {
            Ok(id) => SiteId(id),
            Err(e) => {
                return Ok(UpdateSitePayload {
                    site: None,
                    user_errors: vec![id_error("id", &e)],
                });
            }
        };
        let mut c = Checks::default();
        let name = input.name.as_deref().and_then(|v| c.text("name", v, 300));
        let commune = input
            .commune
            .as_deref()
            .and_then(|v| c.text("commune", v, 200));
        let address = input
            .address
            .as_deref()
            .and_then(|v| c.text("address", v, 300));
        let postal_code = input
            .postal_code
            .as_deref()
            .and_then(|v| c.parse("postalCode", PostalCode::parse(v)));
        let insee_code = maybe(input.insee_code, |v| {
            c.parse("inseeCode", InseeCode::parse(&v))
        });
        let coordinates = match (input.latitude, input.longitude) {
            (MaybeUndefined::Undefined, MaybeUndefined::Undefined) => None,
            (lat, lon) => Some(c.coordinates(lat.take(), lon.take())),
        };
        let phone = maybe(input.phone, |v| c.phone(&v));
        let emails = input.emails.map(|e| c.emails(&e));
        let values = input.values.check(&mut c);
        if !c.0.is_empty() {
            return Ok(UpdateSitePayload {
                site: None,
                user_errors: c.0,
            });
        }
        let patch = SitePatch {
            name,
            commune,
            postal_code,
            insee_code,
            address,
            address_complement: maybe(input.address_complement, |v| opt_text(Some(v))),
            coordinates,
            phone,
            emails,
            website: maybe(input.website, |v| opt_text(Some(v))),
            opening_hours: maybe(input.opening_hours, |v| opt_text(Some(v))),
            summary: maybe(input.summary, |v| opt_text(Some(v))),
            description: maybe(input.description, |v| opt_text(Some(v))),
            updated_on: input.updated_on.map(|d| d.0),
            values,
        };
        let s = state(ctx)?;
        match maillage_sites::update_site(&s.db, &actor, id, input.version, patch).await {
            Ok(site) => Ok(UpdateSitePayload {
                site: Some(SiteNode::new(site)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(UpdateSitePayload {
                site: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Archives a site: it leaves every list but stays stored, with its history in the audit log.
    async fn delete_site(
        &self,
        ctx: &Context<'_>,
        input: DeleteSiteInput,
    ) -> async_graphql::Result<DeleteSitePayload> {
        let actor = writer(ctx)?;
        let id = match decode_int(&input.id, NodeKind::Site) {
            Ok(id) => SiteId(id),
            Err(e) => {
                return Ok(DeleteSitePayload {
                    deleted_site_id: None,
                    user_errors: vec![id_error("id", &e)],
                });
            }
        };
        let s = state(ctx)?;
        match maillage_sites::archive_site(&s.db, &actor, id, input.version).await {
            Ok(()) => Ok(DeleteSitePayload {
                deleted_site_id: Some(input.id),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(DeleteSitePayload {
                deleted_site_id: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}
