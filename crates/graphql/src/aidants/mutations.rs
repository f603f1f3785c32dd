//! Mutations on Aidants Connect.

use super::inputs::AidantChecks;
use super::inputs::{
    CreateAidantInput, CreateAidantsOrganisationInput, UpdateAidantInput,
    UpdateAidantsOrganisationInput,
};
use super::objects::{AidantNode, AidantsOrganisationNode};
use crate::kit::date::Date;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::{Checks, UserError, classify, draft_errors, writer};
use crate::kit::state;
use async_graphql::{Context, MaybeUndefined, Object, SimpleObject};
use maillage_aidants::{
    AidantDraft, AidantId, AidantPatch, AidantPatchDraft, CounsellorRef, NewAidant,
    NewOrganisation, OrganisationDraft, OrganisationId, OrganisationPatch, OrganisationPatchDraft,
};
use maillage_core::error::FieldPath;
use maillage_core::{HubId, SiteId};

pub(crate) fn maybe<T, U>(
    v: MaybeUndefined<T>,
    f: impl FnOnce(T) -> Option<U>,
) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => f(v).map(Some),
    }
}

/// An optional field of an update as typed: absent leaves it, `null` clears it, a value (even blank, which the
/// rules read as clearing) is the draft's to check.
pub(crate) fn raw<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    maybe(v, Some)
}

/// The result of creating or updating an organisation.
#[derive(SimpleObject)]
pub struct AidantsOrganisationPayload {
    /// The organisation as stored, or null when nothing was written.
    pub organisation: Option<AidantsOrganisationNode>,
    /// Why nothing was written.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    AidantsOrganisationPayload {
        /// The organisation as stored, or null when nothing was written.
        organisation: Option<AidantsOrganisationNode>,
    }
    /// Result of `createAidantsOrganisation`.
    CreateAidantsOrganisationPayload,
    /// Result of `updateAidantsOrganisation`.
    UpdateAidantsOrganisationPayload,
}

/// The result of creating or updating an aidant.
#[derive(SimpleObject)]
pub struct AidantPayload {
    /// The aidant as stored, or null when nothing was written.
    pub aidant: Option<AidantNode>,
    /// Why nothing was written.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    AidantPayload {
        /// The aidant as stored, or null when nothing was written.
        aidant: Option<AidantNode>,
    }
    /// Result of `createAidant`.
    CreateAidantPayload,
    /// Result of `updateAidant`.
    UpdateAidantPayload,
}

pub(crate) fn date(v: MaybeUndefined<Date>) -> Option<Option<chrono::NaiveDate>> {
    maybe(v, |d| Some(d.0))
}

/// Mutations on Aidants Connect: admins anywhere, hub coordinators in their hub's departments.
#[derive(Default)]
pub struct AidantsMutation;

/// Mutations on Aidants Connect: admins anywhere, hub coordinators in their hub's departments.
#[Object]
impl AidantsMutation {
    /// Creates an organisation.
    async fn create_aidants_organisation(
        &self,
        ctx: &Context<'_>,
        input: CreateAidantsOrganisationInput,
    ) -> async_graphql::Result<CreateAidantsOrganisationPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let site = input
            .site
            .map(|id| {
                c.id_at(
                    FieldPath::new("input").push("site"),
                    decode_int(&id, NodeKind::Site),
                )
            })
            .and_then(|v| v.map(SiteId));
        let draft = OrganisationDraft {
            name: input.name,
            siret: input.siret,
            kind: input.kind.into(),
            address: input.address,
            postal_code: input.postal_code,
            commune: input.commune,
            department: input.department,
            france_services: input.france_services,
            site,
        };
        let new = NewOrganisation::try_from(draft).map_err(|p| c.0.extend(draft_errors(p)));
        let (Ok(new), true) = (new, c.0.is_empty()) else {
            return Ok(CreateAidantsOrganisationPayload {
                organisation: None,
                user_errors: c.0,
            });
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::create_organisation(&s.db, &actor, new).await {
                Ok(org) => CreateAidantsOrganisationPayload {
                    organisation: Some(AidantsOrganisationNode(org)),
                    user_errors: Vec::new(),
                },
                Err(e) => CreateAidantsOrganisationPayload {
                    organisation: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }

    /// Updates an organisation if `version` is still its version.
    async fn update_aidants_organisation(
        &self,
        ctx: &Context<'_>,
        input: UpdateAidantsOrganisationInput,
    ) -> async_graphql::Result<UpdateAidantsOrganisationPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id_at(
            FieldPath::new("input").push("id"),
            decode_int(&input.id, NodeKind::AidantsOrganisation),
        );
        let site = maybe(input.site, |id| {
            c.id_at(
                FieldPath::new("input").push("site"),
                decode_int(&id, NodeKind::Site),
            )
            .map(SiteId)
        });
        let draft = OrganisationPatchDraft {
            name: input.name,
            kind: input.kind.map(Into::into),
            address: input.address,
            postal_code: raw(input.postal_code),
            commune: raw(input.commune),
            department: input.department,
            france_services: input.france_services,
            active: input.active,
            site,
        };
        let patch = OrganisationPatch::try_from(draft).map_err(|p| c.0.extend(draft_errors(p)));
        let (Some(id), Ok(patch), true) = (id, patch, c.0.is_empty()) else {
            return Ok(UpdateAidantsOrganisationPayload {
                organisation: None,
                user_errors: c.0,
            });
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::update_organisation(
                &s.db,
                &actor,
                OrganisationId(id),
                input.version,
                patch,
            )
            .await
            {
                Ok(org) => UpdateAidantsOrganisationPayload {
                    organisation: Some(AidantsOrganisationNode(org)),
                    user_errors: Vec::new(),
                },
                Err(e) => UpdateAidantsOrganisationPayload {
                    organisation: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }

    /// Creates an aidant.
    async fn create_aidant(
        &self,
        ctx: &Context<'_>,
        input: CreateAidantInput,
    ) -> async_graphql::Result<CreateAidantPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let organisations = c.organisations(&input.organisations);
        let training_hub = input
            .training_hub
            .map(|id| {
                c.id_at(
                    FieldPath::new("input").push("trainingHub"),
                    decode_int(&id, NodeKind::Hub),
                )
            })
            .and_then(|v| v.map(HubId));
        let draft = AidantDraft {
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email,
            profession: input.profession,
            // A bad ID leaves its user error and the list shorter: the input is refused for it anyway.
            organisations,
            status: input.status.into(),
            requested_on: input.requested_on.map(|d| d.0),
            trained_on: input.trained_on.map(|d| d.0),
            training_hub,
            authorised_on: input.authorised_on.map(|d| d.0),
            revoked_on: input.revoked_on.map(|d| d.0),
            counsellor: input.counsellor_id.map(CounsellorRef),
        };
        let new = NewAidant::try_from(draft).map_err(|p| c.0.extend(draft_errors(p)));
        let (Ok(new), true) = (new, c.0.is_empty()) else {
            return Ok(CreateAidantPayload {
                aidant: None,
                user_errors: c.0,
            });
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::create_aidant(&s.db, &actor, new).await {
                Ok(a) => CreateAidantPayload {
                    aidant: Some(AidantNode(a)),
                    user_errors: Vec::new(),
                },
                Err(e) => CreateAidantPayload {
                    aidant: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }

    /// Updates an aidant if `version` is still its version.
    async fn update_aidant(
        &self,
        ctx: &Context<'_>,
        input: UpdateAidantInput,
    ) -> async_graphql::Result<UpdateAidantPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id_at(
            FieldPath::new("input").push("id"),
            decode_int(&input.id, NodeKind::Aidant),
        );
        let organisations = input.organisations.map(|ids| c.organisations(&ids));
        let training_hub = maybe(input.training_hub, |id| {
            c.id_at(
                FieldPath::new("input").push("trainingHub"),
                decode_int(&id, NodeKind::Hub),
            )
            .map(HubId)
        });
        let draft = AidantPatchDraft {
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email,
            profession: raw(input.profession),
            organisations,
            status: input.status.map(Into::into),
            requested_on: date(input.requested_on),
            trained_on: date(input.trained_on),
            training_hub,
            authorised_on: date(input.authorised_on),
            revoked_on: date(input.revoked_on),
            counsellor: maybe(input.counsellor_id, |v| Some(CounsellorRef(v))),
        };
        let patch = AidantPatch::try_from(draft).map_err(|p| c.0.extend(draft_errors(p)));
        let (Some(id), Ok(patch), true) = (id, patch, c.0.is_empty()) else {
            return Ok(UpdateAidantPayload {
                aidant: None,
                user_errors: c.0,
            });
        };
        let s = state(ctx)?;
        Ok(
            match maillage_aidants::update_aidant(&s.db, &actor, AidantId(id), input.version, patch)
                .await
            {
                Ok(a) => UpdateAidantPayload {
                    aidant: Some(AidantNode(a)),
                    user_errors: Vec::new(),
                },
                Err(e) => UpdateAidantPayload {
                    aidant: None,
                    user_errors: classify(&e)?,
                },
            },
        )
    }
}
