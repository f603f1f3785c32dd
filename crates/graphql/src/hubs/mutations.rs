//! Mutations on hub profiles: coordinators and reported indicators (the hub's coordinators and admins).

use crate::hubs::objects::{HubCoordinatorNode, HubIndicatorNode};
use crate::kit::date::Date;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::{Checks, classify, writer};
use crate::kit::state;
use crate::kit::territory::hub_id;
use async_graphql::{Context, ID, InputObject, Object};
use maillage_core::Email;
use maillage_territories::{
    HubCoordinatorId, HubIndicatorId, HubIndicatorPatch, NewHubCoordinator, NewHubIndicator,
};

/// A person to add to a hub's coordinators.
#[derive(InputObject)]
pub struct CreateHubCoordinatorInput {
    /// The hub (global ID or slug).
    pub hub: ID,
    /// Full name (personal data).
    pub name: String,
    /// Job title (public).
    pub title: Option<String>,
    /// Professional e-mail (personal data).
    pub email: Option<String>,
    /// Professional phone (personal data).
    pub phone: Option<String>,
    /// The hub-coordinator API token this person uses (a live token of this hub), if any.
    pub api_token: Option<ID>,
}

/// A coordinator to remove from its hub.
#[derive(InputObject)]
pub struct RemoveHubCoordinatorInput {
    /// The coordinator.
    pub id: ID,
}

/// A new figure reported by a hub, or by the network of all hubs.
#[derive(InputObject)]
pub struct CreateHubIndicatorInput {
    /// The hub (global ID or slug); null for the network of all hubs (admins).
    pub hub: Option<ID>,
    /// Stable key, unique per hub: lower-case letters, digits and `_` (e.g. `sites_mapped`).
    pub code: String,
    /// Label.
    pub name: String,
    /// The figure.
    pub value: f64,
    /// Its unit, e.g. `lieux`.
    pub unit: String,
    /// The date it describes.
    pub observed_on: Date,
    /// Who published it, and where.
    pub source: String,
}

/// A new version of a reported figure; omitted fields keep their value. The previous version stays in `history`.
#[derive(InputObject)]
pub struct UpdateHubIndicatorInput {
    /// The indicator.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// New label.
    pub name: Option<String>,
    /// New figure.
    pub value: Option<f64>,
    /// New unit.
    pub unit: Option<String>,
    /// New date.
    pub observed_on: Option<Date>,
    /// New source.
    pub source: Option<String>,
}

crate::payloads! {
    CreateHubCoordinatorPayloadBase {
        /// The coordinator as added, unless there were user errors.
        hub_coordinator: Option<HubCoordinatorNode>,
    }
    /// Result of `createHubCoordinator`.
    CreateHubCoordinatorPayload,
    /// Result of `removeHubCoordinator`: the coordinator as it was.
    RemoveHubCoordinatorPayload,
}

crate::payloads! {
    CreateHubIndicatorPayloadBase {
        /// The indicator as it now stands, unless there were user errors.
        hub_indicator: Option<HubIndicatorNode>,
    }
    /// Result of `createHubIndicator`.
    CreateHubIndicatorPayload,
    /// Result of `updateHubIndicator`.
    UpdateHubIndicatorPayload,
}

/// The shared shape of the coordinator payloads (never in the schema).
pub struct CreateHubCoordinatorPayloadBase {
    hub_coordinator: Option<HubCoordinatorNode>,
    user_errors: Vec<crate::kit::payload::UserError>,
}

/// The shared shape of the indicator payloads (never in the schema).
pub struct CreateHubIndicatorPayloadBase {
    hub_indicator: Option<HubIndicatorNode>,
    user_errors: Vec<crate::kit::payload::UserError>,
}

fn coordinator_result(
    r: Result<maillage_territories::HubCoordinator, maillage_territories::TerritoriesError>,
) -> async_graphql::Result<CreateHubCoordinatorPayloadBase> {
    Ok(match r {
        Ok(c) => CreateHubCoordinatorPayloadBase {
            hub_coordinator: Some(HubCoordinatorNode(c)),
            user_errors: Vec::new(),
        },
        Err(e) => CreateHubCoordinatorPayloadBase {
            hub_coordinator: None,
            user_errors: classify(&e)?,
        },
    })
}

fn indicator_result(
    r: Result<maillage_territories::HubIndicator, maillage_territories::TerritoriesError>,
) -> async_graphql::Result<CreateHubIndicatorPayloadBase> {
    Ok(match r {
        Ok(i) => CreateHubIndicatorPayloadBase {
            hub_indicator: Some(HubIndicatorNode(i)),
            user_errors: Vec::new(),
        },
        Err(e) => CreateHubIndicatorPayloadBase {
            hub_indicator: None,
            user_errors: classify(&e)?,
        },
    })
}

fn refused(checks: Checks) -> CreateHubIndicatorPayloadBase {
    CreateHubIndicatorPayloadBase {
        hub_indicator: None,
        user_errors: checks.0,
    }
}

/// Mutations on hub profiles.
#[derive(Default)]
pub struct HubProfileMutation;

/// Mutations on hub profiles.
#[Object]
impl HubProfileMutation {
    /// Adds a person to a hub's coordinators (the hub's coordinators and admins; audited).
    async fn create_hub_coordinator(
        &self,
        ctx: &Context<'_>,
        input: CreateHubCoordinatorInput,
    ) -> async_graphql::Result<CreateHubCoordinatorPayload> {
        let actor = writer(ctx)?;
        let mut checks = Checks::default();
        let hub = checks.id("hub", hub_id(ctx, &input.hub, "input.hub").await);
        let email = input
            .email
            .as_deref()
            .and_then(|e| checks.parse("email", Email::parse(e)).map(Some))
            .flatten();
        let api_token = match &input.api_token {
            Some(t) => checks
                .id("apiToken", decode_int(t, NodeKind::ApiToken))
                .map(Some),
            None => Some(None),
        };
        let (Some(hub), Some(api_token), true) = (hub, api_token, checks.is_empty()) else {
            return Ok(CreateHubCoordinatorPayloadBase {
                hub_coordinator: None,
                user_errors: checks.0,
            }
            .into());
        };
        let new = NewHubCoordinator {
            hub,
            name: input.name,
            title: input.title,
            email,
            phone: input.phone,
            api_token,
        };
        let s = state(ctx)?;
        Ok(coordinator_result(
            maillage_territories::create_hub_coordinator(&s.db, &actor, new).await,
        )?
        .into())
    }

    /// Removes a person from a hub's coordinators (the hub's coordinators and admins; audited).
    async fn remove_hub_coordinator(
        &self,
        ctx: &Context<'_>,
        input: RemoveHubCoordinatorInput,
    ) -> async_graphql::Result<RemoveHubCoordinatorPayload> {
        let actor = writer(ctx)?;
        let mut checks = Checks::default();
        let Some(id) = checks.id("id", decode_int(&input.id, NodeKind::HubCoordinator)) else {
            return Ok(CreateHubCoordinatorPayloadBase {
                hub_coordinator: None,
                user_errors: checks.0,
            }
            .into());
        };
        let s = state(ctx)?;
        Ok(coordinator_result(
            maillage_territories::remove_hub_coordinator(&s.db, &actor, HubCoordinatorId(id)).await,
        )?
        .into())
    }

    /// Reports a new figure for a hub (its coordinators and admins) or for the network of all hubs (admins);
    /// audited. A code the hub already reports is refused: update that indicator, so its history stays one.
    async fn create_hub_indicator(
        &self,
        ctx: &Context<'_>,
        input: CreateHubIndicatorInput,
    ) -> async_graphql::Result<CreateHubIndicatorPayload> {
        let actor = writer(ctx)?;
        let mut checks = Checks::default();
        let hub = match &input.hub {
            Some(h) => checks
                .id("hub", hub_id(ctx, h, "input.hub").await)
                .map(Some),
            None => Some(None),
        };
        let Some(hub) = hub else {
            return Ok(refused(checks).into());
        };
        let new = NewHubIndicator {
            hub,
            code: input.code,
            name: input.name,
            value: input.value,
            unit: input.unit,
            observed_on: input.observed_on.0,
            source: input.source,
        };
        let s = state(ctx)?;
        Ok(
            indicator_result(maillage_territories::create_hub_indicator(&s.db, &actor, new).await)?
                .into(),
        )
    }

    /// Records a new version of a reported figure if it is still at `version` (the hub's coordinators and admins;
    /// audited); the previous one stays in `history`.
    async fn update_hub_indicator(
        &self,
        ctx: &Context<'_>,
        input: UpdateHubIndicatorInput,
    ) -> async_graphql::Result<UpdateHubIndicatorPayload> {
        let actor = writer(ctx)?;
        let mut checks = Checks::default();
        let Some(id) = checks.id("id", decode_int(&input.id, NodeKind::HubIndicator)) else {
            return Ok(refused(checks).into());
        };
        let patch = HubIndicatorPatch {
            name: input.name,
            value: input.value,
            unit: input.unit,
            observed_on: input.observed_on.map(|d| d.0),
            source: input.source,
        };
        let s = state(ctx)?;
        Ok(indicator_result(
            maillage_territories::update_hub_indicator(
                &s.db,
                &actor,
                HubIndicatorId(id),
                input.version,
                patch,
            )
            .await,
        )?
        .into())
    }
}
