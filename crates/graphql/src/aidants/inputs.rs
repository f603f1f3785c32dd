//! Enums, filters and mutation inputs of Aidants Connect.

use crate::kit::date::Date;
use crate::kit::error::coded;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::Checks;
use crate::kit::territory::{hub_id, opt_hub_slug};
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined};
use maillage_aidants::{AidantFilter, OrganisationFilter, OrganisationId};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{DepartmentCode, RegionCode, SiteId};

// Enums and filters
// ---------------------------------------------------------------------------------------------------------------

/// The kind of structure an organisation is.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::OrganisationKind")]
pub enum AidantsOrganisationKind {
    /// A commune (mairie).
    Commune,
    /// An inter-municipal body.
    Epci,
    /// A département.
    Departement,
    /// A région.
    Region,
    /// Another public operator (CCAS, CAF…).
    ServicePublic,
    /// An association or another ESS structure.
    Association,
    /// A company.
    Entreprise,
    /// Anything else.
    Autre,
}

/// Where an aidant stands in the habilitation process.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::AidantStatus")]
pub enum AidantStatus {
    /// Habilitation requested.
    Requested,
    /// Trained, not yet authorised.
    Trained,
    /// Authorised (habilité): may create mandates.
    Authorised,
    /// Authorisation withdrawn.
    Revoked,
}

/// The démarches a mandate may cover.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::Demarche")]
pub enum Demarche {
    /// Identity papers, civil status.
    Papiers,
    /// Family.
    Famille,
    /// Social benefits and health.
    Social,
    /// Work.
    Travail,
    /// Housing.
    Logement,
    /// Transport.
    Transports,
    /// Money: taxes, banking.
    Argent,
    /// Justice.
    Justice,
    /// Foreigners in France.
    Etranger,
    /// Leisure.
    Loisirs,
}

/// How long a mandate lasts.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_aidants::MandateDuration")]
pub enum MandateDuration {
    /// One day.
    OneDay,
    /// One month.
    OneMonth,
    /// Six months.
    SixMonths,
    /// One year.
    OneYear,
}

pub(crate) fn invalid(field: &str, e: &impl std::fmt::Display) -> async_graphql::Error {
    coded(&e.to_string(), Code::InvalidValue, Some(field.to_owned()))
}

pub(crate) fn departments(
    field: &str,
    list: Option<Vec<String>>,
) -> async_graphql::Result<Vec<DepartmentCode>> {
    list.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, d)| DepartmentCode::parse(d).map_err(|e| invalid(&format!("{field}[{i}]"), &e)))
        .collect()
}

pub(crate) fn region(
    field: &str,
    raw: Option<String>,
) -> async_graphql::Result<Option<RegionCode>> {
    raw.map(|r| RegionCode::parse(&r).map_err(|e| invalid(field, &e)))
        .transpose()
}

/// Criteria on organisations (all given must hold).
#[derive(InputObject, Default)]
pub struct AidantsOrganisationFilter {
    /// Located in one of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Located in the departments of this hub: its global ID, or its slug (e.g. `hinaura`).
    pub hub: Option<ID>,
    /// Located in this region (INSEE code).
    pub region: Option<String>,
    /// Active or not.
    pub active: Option<bool>,
    /// With or without the France Services label.
    pub france_services: Option<bool>,
    /// Of this type.
    pub kind: Option<AidantsOrganisationKind>,
    /// Running this site (its global ID).
    pub site: Option<ID>,
    /// Only those Maillage wrote at or after this instant (server clock): with `orderBy: {field: UPDATED_AT}`,
    /// the incremental pull of a mirror (docs/SYNC.md).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl AidantsOrganisationFilter {
    pub(crate) async fn into_domain(
        self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<OrganisationFilter> {
        Ok(OrganisationFilter {
            departments: departments("filter.departments", self.departments)?,
            hub: opt_hub_slug(ctx, self.hub.as_ref(), "filter.hub").await?,
            region: region("filter.region", self.region)?,
            active: self.active,
            france_services: self.france_services,
            kind: self.kind.map(Into::into),
            site: self
                .site
                .map(|id| decode_int(&id, NodeKind::Site).map(SiteId))
                .transpose()?,
        })
    }
}

/// Criteria on aidants (all given must hold).
#[derive(InputObject, Default)]
#[graphql(name = "AidantFilter")]
pub struct AidantFilterInput {
    /// Working for an organisation in one of these departments.
    pub departments: Option<Vec<String>>,
    /// Working for an organisation in the departments of this hub: its global ID, or its slug (e.g. `hinaura`).
    pub hub: Option<ID>,
    /// Working for an organisation in this region.
    pub region: Option<String>,
    /// With one of these statuses.
    pub statuses: Option<Vec<AidantStatus>>,
    /// Working for this organisation.
    pub organisation: Option<ID>,
    /// Trained by this hub: its global ID, or its slug (e.g. `hinaura`).
    pub training_hub: Option<ID>,
    /// Only those Maillage wrote at or after this instant (server clock): with `orderBy: {field: UPDATED_AT}`,
    /// the incremental pull of a mirror (docs/SYNC.md).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

impl AidantFilterInput {
    pub(crate) async fn into_domain(
        self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<AidantFilter> {
        let training_hub = match &self.training_hub {
            Some(raw) => Some(hub_id(ctx, raw, "filter.trainingHub").await?),
            None => None,
        };
        Ok(AidantFilter {
            departments: departments("filter.departments", self.departments)?,
            hub: opt_hub_slug(ctx, self.hub.as_ref(), "filter.hub").await?,
            region: region("filter.region", self.region)?,
            statuses: self
                .statuses
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            organisation: self
                .organisation
                .map(|id| decode_int(&id, NodeKind::AidantsOrganisation).map(OrganisationId))
                .transpose()?,
            training_hub,
        })
    }
}

/// The Aidants Connect rules of mutation inputs, on top of the kit's [`Checks`].
pub(crate) trait AidantChecks {
    /// Decodes organisation IDs, recording each bad one at its index.
    fn organisations(&mut self, ids: &[ID]) -> Vec<OrganisationId>;
}

impl AidantChecks for Checks {
    fn organisations(&mut self, ids: &[ID]) -> Vec<OrganisationId> {
        ids.iter()
            .enumerate()
            .filter_map(|(i, id)| {
                self.id_at(
                    FieldPath::new("input").push("organisations").index(i),
                    decode_int(id, NodeKind::AidantsOrganisation),
                )
                .map(OrganisationId)
            })
            .collect()
    }
}

/// A new Aidants Connect organisation.
#[derive(InputObject)]
pub struct CreateAidantsOrganisationInput {
    /// Name.
    pub name: String,
    /// SIRET (14 digits): must be unique.
    pub siret: String,
    /// Type of structure.
    pub kind: AidantsOrganisationKind,
    /// Street address.
    pub address: String,
    /// Postal code (5 digits).
    pub postal_code: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// INSEE department code: hub coordinators may only use theirs.
    pub department: String,
    /// France Services label.
    #[graphql(default)]
    pub france_services: bool,
    /// The site it runs (global ID).
    pub site: Option<ID>,
}

/// Changes to an organisation; omitted fields stay as they are, `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateAidantsOrganisationInput {
    /// The organisation.
    pub id: ID,
    /// The version read; refused with `stale_version` if it changed since.
    pub version: i32,
    /// Name.
    pub name: Option<String>,
    /// Type of structure.
    pub kind: Option<AidantsOrganisationKind>,
    /// Street address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: MaybeUndefined<String>,
    /// Commune.
    pub commune: MaybeUndefined<String>,
    /// Department; moving outside your departments is refused.
    pub department: Option<String>,
    /// France Services label.
    pub france_services: Option<bool>,
    /// Active or not.
    pub active: Option<bool>,
    /// The site it runs (global ID).
    pub site: MaybeUndefined<ID>,
}

/// A new aidant.
#[derive(InputObject)]
pub struct CreateAidantInput {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail: must be unique.
    pub email: String,
    /// Profession.
    pub profession: Option<String>,
    /// The organisations it works for (at least one; hub coordinators: all in their departments).
    pub organisations: Vec<ID>,
    /// Status.
    pub status: AidantStatus,
    /// When the habilitation was requested.
    pub requested_on: Option<Date>,
    /// When the aidant was trained.
    pub trained_on: Option<Date>,
    /// The hub that trained the aidant (global ID).
    pub training_hub: Option<ID>,
    /// When the aidant was authorised.
    pub authorised_on: Option<Date>,
    /// When the authorisation was revoked.
    pub revoked_on: Option<Date>,
    /// The conseiller numérique this aidant also is (counsellors domain id).
    pub counsellor_id: Option<i32>,
}

/// Changes to an aidant; omitted fields stay as they are, `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateAidantInput {
    /// The aidant.
    pub id: ID,
    /// The version read; refused with `stale_version` if it changed since.
    pub version: i32,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Professional e-mail.
    pub email: Option<String>,
    /// Profession.
    pub profession: MaybeUndefined<String>,
    /// The whole list of organisations.
    pub organisations: Option<Vec<ID>>,
    /// Status.
    pub status: Option<AidantStatus>,
    /// Request date.
    pub requested_on: MaybeUndefined<Date>,
    /// Training date.
    pub trained_on: MaybeUndefined<Date>,
    /// Training hub (global ID).
    pub training_hub: MaybeUndefined<ID>,
    /// Authorisation date.
    pub authorised_on: MaybeUndefined<Date>,
    /// Revocation date.
    pub revoked_on: MaybeUndefined<Date>,
    /// Counsellor link.
    pub counsellor_id: MaybeUndefined<i32>,
}
