//! `HubCoordinator`, `HubIndicator` and its revisions, their loaders, and the network's indicators.

use crate::db_loader;
use crate::kit::date::Date;
use crate::kit::error::IntoGql;
use crate::kit::id::{NodeKind, encode};
use crate::kit::loader::loader;
use crate::kit::state;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use maillage_core::HubId;
use maillage_territories::{HubCoordinator, HubIndicator, HubIndicatorId, IndicatorRevision};
use std::collections::HashMap;

db_loader!(
    /// Loads the coordinators of each hub.
    pub HubCoordinatorsLoader,
    /// Loads the reported indicators of each hub.
    pub HubIndicatorsLoader,
    /// Loads the revisions of each indicator.
    pub IndicatorRevisionsLoader,
);

impl Loader<HubId> for HubCoordinatorsLoader {
    type Value = Vec<HubCoordinator>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HubId]) -> Result<HashMap<HubId, Self::Value>, Self::Error> {
        let rows = maillage_territories::coordinators_of_hubs(self.0.pool(), keys)
            .await
            .gql()?;
        let mut out: HashMap<HubId, Self::Value> = HashMap::new();
        for c in rows {
            out.entry(c.hub).or_default().push(c);
        }
        Ok(out)
    }
}

impl Loader<HubId> for HubIndicatorsLoader {
    type Value = Vec<HubIndicator>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[HubId]) -> Result<HashMap<HubId, Self::Value>, Self::Error> {
        let rows = maillage_territories::indicators_of_hubs(self.0.pool(), keys)
            .await
            .gql()?;
        let mut out: HashMap<HubId, Self::Value> = HashMap::new();
        for i in rows {
            if let Some(hub) = i.hub {
                out.entry(hub).or_default().push(i);
            }
        }
        Ok(out)
    }
}

impl Loader<HubIndicatorId> for IndicatorRevisionsLoader {
    type Value = Vec<IndicatorRevision>;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[HubIndicatorId],
    ) -> Result<HashMap<HubIndicatorId, Self::Value>, Self::Error> {
        let rows = maillage_territories::indicator_revisions(self.0.pool(), keys)
            .await
            .gql()?;
        let mut out: HashMap<HubIndicatorId, Self::Value> = HashMap::new();
        for r in rows {
            out.entry(r.indicator).or_default().push(r);
        }
        Ok(out)
    }
}

/// The coordinators of a hub (for `Hub.coordinators`), batched across hubs.
pub async fn coordinators_of(
    ctx: &Context<'_>,
    hub: HubId,
) -> async_graphql::Result<Vec<HubCoordinatorNode>> {
    Ok(loader::<HubCoordinatorsLoader>(ctx)?
        .load_one(hub)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(HubCoordinatorNode)
        .collect())
}

/// The indicators a hub reports (for `Hub.reportedIndicators`), batched across hubs.
pub async fn indicators_of(
    ctx: &Context<'_>,
    hub: HubId,
) -> async_graphql::Result<Vec<HubIndicatorNode>> {
    Ok(loader::<HubIndicatorsLoader>(ctx)?
        .load_one(hub)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(HubIndicatorNode)
        .collect())
}

/// A person coordinating a hub. Name, e-mail, phone and token are personal data: null unless the caller is one
/// of the hub's coordinators, a BdT reviewer or an admin.
pub struct HubCoordinatorNode(pub HubCoordinator);

/// A person coordinating a hub. Name, e-mail, phone and token are personal data: null unless the caller is one
/// of the hub's coordinators, a BdT reviewer or an admin.
#[Object(name = "HubCoordinator")]
impl HubCoordinatorNode {
    /// Global ID (opaque).
    pub async fn id(&self) -> ID {
        encode(NodeKind::HubCoordinator, self.0.id.0)
    }
    /// Job title (public), e.g. "coordinatrice".
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    /// Full name (personal data: null unless the caller may read the hub's people).
    async fn name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        Ok(self.0.name_for(&state(ctx)?.actor))
    }
    /// Professional e-mail (personal data: null unless the caller may read the hub's people).
    async fn email(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        Ok(self.0.email_for(&state(ctx)?.actor))
    }
    /// Professional phone (personal data: null unless the caller may read the hub's people).
    async fn phone(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<&str>> {
        Ok(self.0.phone_for(&state(ctx)?.actor))
    }
    /// Global ID of the hub-coordinator API token this person uses (null unless the caller may read the hub's
    /// people, or when none is linked).
    async fn api_token_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ID>> {
        Ok(self
            .0
            .api_token_for(&state(ctx)?.actor)
            .map(|id| encode(NodeKind::ApiToken, id)))
    }
}

/// A figure a hub (or the network of all hubs) reports, e.g. "Lieux recensés: 6 200 lieux, 17 Nov 2020, Banque des
/// Territoires", shown beside what Maillage measures. Public; edited by the hub's coordinators and admins, every
/// version kept in `history`.
pub struct HubIndicatorNode(pub HubIndicator);

/// A figure a hub (or the network of all hubs) reports, e.g. "Lieux recensés: 6 200 lieux, 17 Nov 2020, Banque des
/// Territoires", shown beside what Maillage measures. Public; edited by the hub's coordinators and admins, every
/// version kept in `history`.
#[Object(name = "HubIndicator")]
impl HubIndicatorNode {
    /// Global ID (opaque), stable across versions.
    pub async fn id(&self) -> ID {
        encode(NodeKind::HubIndicator, self.0.id.0)
    }
    /// Global ID of the reporting hub; null for the network of all hubs.
    async fn hub_id(&self) -> Option<ID> {
        self.0.hub.map(|h| encode(NodeKind::Hub, h.0))
    }
    /// Stable key, e.g. `sites_mapped`, `aidants_trained`: what a dashboard matches with a measure.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Label, e.g. "Lieux de médiation numérique recensés et accompagnés".
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The figure.
    async fn value(&self) -> f64 {
        self.0.value
    }
    /// Its unit, e.g. `lieux`, `aidants`.
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    /// The date the figure describes.
    async fn observed_on(&self) -> Date {
        Date(self.0.observed_on)
    }
    /// Who published it, and where.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// Version for optimistic concurrency (send it back with an update); also the number of the latest revision.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Every version reported, newest first (the current one included); batched across indicators.
    async fn history(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<HubIndicatorRevisionObject>> {
        Ok(loader::<IndicatorRevisionsLoader>(ctx)?
            .load_one(self.0.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(HubIndicatorRevisionObject)
            .collect())
    }
}

/// One version of a reported indicator.
pub struct HubIndicatorRevisionObject(IndicatorRevision);

/// One version of a reported indicator.
#[Object(name = "HubIndicatorRevision")]
impl HubIndicatorRevisionObject {
    /// Version number, 1 for the first value reported.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Label at that version.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The figure at that version.
    async fn value(&self) -> f64 {
        self.0.value
    }
    /// Its unit.
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    /// The date the figure described.
    async fn observed_on(&self) -> Date {
        Date(self.0.observed_on)
    }
    /// Its source.
    async fn source(&self) -> &str {
        &self.0.source
    }
    /// When this version was recorded.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
}

/// The indicators of the network of all hubs.
#[derive(Default)]
pub struct HubProfileQuery;

/// The indicators of the network of all hubs.
#[Object]
impl HubProfileQuery {
    /// Figures reported for the network of all hubs together (the national figures of the Banque des Territoires,
    /// e.g. 6 200 lieux recensés in Nov 2020), by code. A hub's own figures are `Hub.reportedIndicators`.
    async fn hub_network_indicators(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<HubIndicatorNode>> {
        let s = state(ctx)?;
        Ok(maillage_territories::network_indicators(&s.db)
            .await
            .gql()?
            .into_iter()
            .map(HubIndicatorNode)
            .collect())
    }
}
