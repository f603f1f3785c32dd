//! Mutations on sites.

use super::inputs::{CreateSiteInput, DeleteSiteInput, UpdateSiteInput};
use crate::kit::handles::SiteNode;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::{UserError, classify, draft_errors, maybe, user_error, writer};
use crate::kit::state;
use async_graphql::{Context, ID, Object, SimpleObject};
use maillage_core::error::FieldPath;
use maillage_core::{Code, FieldProblems, SiteId};
use maillage_sites::draft::check_source;
use maillage_sites::{NewSite, SiteDraft, SitePatch, SitePatchDraft};

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

fn refused_create(problems: FieldProblems) -> CreateSitePayload {
    CreateSitePayload {
        site: None,
        user_errors: draft_errors(problems),
    }
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
        let mut problems = FieldProblems::new();
        check_source(&mut problems, FieldPath::new("source"), &input.source);
        let draft = SiteDraft {
            source_id: input.source_id,
            pivot: input.pivot,
            name: input.name,
            commune: input.commune,
            postal_code: input.postal_code,
            insee_code: input.insee_code,
            address: input.address,
            address_complement: input.address_complement,
            latitude: input.latitude,
            longitude: input.longitude,
            phone: input.phone,
            emails: input.emails.unwrap_or_default(),
            website: input.website,
            opening_hours: input.opening_hours,
            summary: input.summary,
            description: input.description,
            updated_on: input.updated_on.map(|d| d.0),
            values: input.values.into_values(),
        };
        // Every broken rule at once, the source's included.
        let new = match NewSite::try_from(draft) {
            Ok(new) if problems.is_empty() => new,
            Ok(_) => return Ok(refused_create(problems)),
            Err(more) => {
                for p in more {
                    problems.push(p.field, p.code, p.message);
                }
                return Ok(refused_create(problems));
            }
        };
        let source = input.source;
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
        let draft = SitePatchDraft {
            name: input.name,
            commune: input.commune,
            postal_code: input.postal_code,
            insee_code: maybe(input.insee_code, Some),
            address: input.address,
            address_complement: maybe(input.address_complement, Some),
            latitude: maybe(input.latitude, Some),
            longitude: maybe(input.longitude, Some),
            phone: maybe(input.phone, Some),
            emails: input.emails,
            website: maybe(input.website, Some),
            opening_hours: maybe(input.opening_hours, Some),
            summary: maybe(input.summary, Some),
            description: maybe(input.description, Some),
            updated_on: input.updated_on.map(|d| d.0),
            values: input.values.into_values(),
        };
        let patch = match SitePatch::try_from(draft) {
            Ok(patch) => patch,
            Err(problems) => {
                return Ok(UpdateSitePayload {
                    site: None,
                    user_errors: draft_errors(problems),
                });
            }
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
