//! Mutations: one `input` object each, a payload with the object and `userErrors` for business errors.
//!
//! Authentication and permission errors are GraphQL errors (`unauthenticated`, `forbidden`); everything the caller
//! can fix by changing its input (invalid values, unknown ids, stale versions) is a `userError` with the input
//! field's path. Authorization itself is decided by the domain services.

use crate::error::{coded, to_gql};
use crate::id::{NodeKind, decode_int};
use crate::sites::SiteNode;
use crate::state;
use crate::territories::HubNode;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{NaiveDate, Utc};
use maillage_core::error::FieldPath;
use maillage_core::{
    Actor, DepartmentCode, Email, ErrorCode, HubId, InseeCode, Pivot, PostalCode, Role, SiteId,
};
use maillage_sites::standard::parse::is_standard_phone;
use maillage_sites::standard::vocabulary::is_v1_label;
use maillage_sites::{NewSite, SitePatch, StandardVersion, TaggedValue, ValueKind};

/// A business error of a mutation: nothing was written; the caller can fix its input and retry.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// Path to the input field at fault, e.g. `["input", "postalCode"]`; empty when no single field is at fault.
    pub field: Vec<String>,
    /// Stable code: `invalid_value`, `unknown_value`, `not_found`, `stale_version`, `already_exists`, …
    pub code: String,
    /// Explanation for a human.
    pub message: String,
}

pub(crate) fn user_error(field: FieldPath, code: &str, message: impl Into<String>) -> UserError {
    UserError {
        field: field.0,
        code: code.to_owned(),
        message: message.into(),
    }
}

/// Splits a domain error into a user error (payload) or a GraphQL error (permission, internal).
pub(crate) fn classify<E: ErrorCode>(e: &E) -> async_graphql::Result<Vec<UserError>> {
    if e.is_user_error() {
        Ok(vec![UserError {
            field: e.field().map(|f| f.0.clone()).unwrap_or_default(),
            code: e.code().to_owned(),
            message: e.to_string(),
        }])
    } else {
        Err(to_gql(e))
    }
}

/// The caller, refused with `unauthenticated` when anonymous: writes always need a token.
pub(crate) fn writer(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    let s = state(ctx)?;
    if s.actor.role() == Role::Anonymous {
        return Err(coded(
            "this operation needs an API token (Authorization: Bearer …)",
            "unauthenticated",
            None,
        ));
    }
    Ok(s.actor.clone().with_request_id(s.request_id.clone()))
}

/// Collects every input problem at once, so a client fixes them in one round trip.
#[derive(Default)]
struct Checks(Vec<UserError>);

impl Checks {
    fn parse<T, E: std::fmt::Display>(&mut self, field: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(user_error(
                    FieldPath::new("input").push(field),
                    "invalid_value",
                    e.to_string(),
                ));
                None
            }
        }
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let v = value.trim();
        if v.is_empty() || v.chars().count() > max {
            self.0.push(user_error(
                FieldPath::new("input").push(field),
                "invalid_value",
                format!("{field} must have 1 to {max} characters"),
            ));
            return None;
        }
        Some(v.to_owned())
    }

    fn phone(&mut self, value: &str) -> Option<String> {
        let v: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '.')
            .collect();
        if is_standard_phone(&v) {
            Some(v)
        } else {
            self.0.push(user_error(
                FieldPath::new("input").push("phone"),
                "invalid_value",
                "phone must be in international form, e.g. +33478000000",
            ));
            None
        }
    }

    fn emails(&mut self, values: &[String]) -> Vec<Email> {
        values
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match Email::parse(e) {
                Ok(e) => Some(e),
                Err(err) => {
                    self.0.push(user_error(
                        FieldPath::new("input").push("emails").index(i),
                        "invalid_value",
                        err.to_string(),
                    ));
                    None
                }
            })
            .collect()
    }

    fn coordinates(&mut self, latitude: Option<f64>, longitude: Option<f64>) -> Option<(f64, f64)> {
        match (latitude, longitude) {
            (Some(lat), Some(lon))
                if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) =>
            {
                Some((lat, lon))
            }
            (None, None) => None,
            _ => {
                self.0.push(user_error(
                    FieldPath::new("input").push("latitude"),
                    "invalid_value",
                    "latitude (-90..90) and longitude (-180..180) go together",
                ));
                None
            }
        }
    }

    fn labels(&mut self, field: &str, kind: ValueKind, values: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if is_v1_label(kind, v) {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            } else {
                self.0.push(user_error(
                    FieldPath::new("input").push(field).index(i),
                    "unknown_value",
                    format!("{v:?} is not a value of the national standard v1.0.2 for {field}"),
                ));
            }
        }
        out
    }
}

/// Multi-valued fields of the national standard v1.0.2, as inputs (labels exactly as in the standard).
#[derive(InputObject, Default)]
pub struct SiteValuesInput {
    /// `services`.
    pub services: Option<Vec<String>>,
    /// `publics_specifiquement_adresses`.
    pub publics: Option<Vec<String>>,
    /// `prise_en_charge_specifique`.
    pub specific_support: Option<Vec<String>>,
    /// `frais_a_charge`.
    pub fees: Option<Vec<String>>,
    /// `dispositif_programmes_nationaux`.
    pub national_programmes: Option<Vec<String>>,
    /// `formations_labels`.
    pub training_labels: Option<Vec<String>>,
    /// `modalites_acces`.
    pub access_modes: Option<Vec<String>>,
    /// `modalites_accompagnement`.
    pub support_modes: Option<Vec<String>>,
}

impl SiteValuesInput {
    fn check(self, checks: &mut Checks) -> Vec<(ValueKind, Vec<String>)> {
        let fields = [
            ("services", ValueKind::Service, self.services),
            ("publics", ValueKind::Public, self.publics),
            (
                "specificSupport",
                ValueKind::SpecificSupport,
                self.specific_support,
            ),
            ("fees", ValueKind::Fee, self.fees),
            (
                "nationalProgrammes",
                ValueKind::NationalProgramme,
                self.national_programmes,
            ),
            (
                "trainingLabels",
                ValueKind::TrainingLabel,
                self.training_labels,
            ),
            ("accessModes", ValueKind::AccessMode, self.access_modes),
            ("supportModes", ValueKind::SupportMode, self.support_modes),
        ];
        fields
            .into_iter()
            .filter_map(|(name, kind, values)| {
                values.map(|v| (kind, checks.labels(name, kind, &v)))
            })
            .collect()
    }
}

/// A new site.
#[derive(InputObject)]
pub struct CreateSiteInput {
    /// Source name (e.g. the hub's slug); with `sourceId`, the site's identity.
    pub source: String,
    /// Identifier within the source.
    pub source_id: String,
    /// SIRET, RNA or RIDET of the structure (default: the `00000000000000` placeholder).
    pub pivot: Option<String>,
    /// Name.
    pub name: String,
    /// Commune.
    pub commune: String,
    /// Postal code (5 digits): decides the department with `inseeCode`.
    pub postal_code: String,
    /// INSEE commune code.
    pub insee_code: Option<String>,
    /// Street address.
    pub address: String,
    /// Address complement.
    pub address_complement: Option<String>,
    /// Latitude (WGS84), with `longitude`.
    pub latitude: Option<f64>,
    /// Longitude (WGS84), with `latitude`.
    pub longitude: Option<f64>,
    /// Public phone number, international form.
    pub phone: Option<String>,
    /// E-mail addresses (treated as personal data).
    pub emails: Option<Vec<String>>,
    /// Website.
    pub website: Option<String>,
    /// Opening hours, OpenStreetMap opening_hours syntax.
    pub opening_hours: Option<String>,
    /// Short presentation.
    pub summary: Option<String>,
    /// Detailed presentation.
    pub description: Option<String>,
    /// Date of the information (default: today).
    pub updated_on: Option<NaiveDate>,
    /// Multi-valued fields.
    #[graphql(default)]
    pub values: SiteValuesInput,
}

/// Changes to a site; omitted fields stay as they are, `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateSiteInput {
    /// The site.
    pub id: ID,
    /// The version read; refused with `stale_version` if the site changed since.
    pub version: i32,
    /// Name.
    pub name: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// Postal code; moving a site outside your departments is refused.
    pub postal_code: Option<String>,
    /// INSEE commune code.
    pub insee_code: MaybeUndefined<String>,
    /// Street address.
    pub address: Option<String>,
    /// Address complement.
    pub address_complement: MaybeUndefined<String>,
    /// Latitude, with `longitude` (both null to clear).
    pub latitude: MaybeUndefined<f64>,
    /// Longitude, with `latitude`.
    pub longitude: MaybeUndefined<f64>,
    /// Phone.
    pub phone: MaybeUndefined<String>,
    /// E-mail addresses (the whole list).
    pub emails: Option<Vec<String>>,
    /// Website.
    pub website: MaybeUndefined<String>,
    /// Opening hours.
    pub opening_hours: MaybeUndefined<String>,
    /// Short presentation.
    pub summary: MaybeUndefined<String>,
    /// Detailed presentation.
    pub description: MaybeUndefined<String>,
    /// Date of the information (default: today).
    pub updated_on: Option<NaiveDate>,
    /// Multi-valued fields: each given list replaces that field's values.
    #[graphql(default)]
    pub values: SiteValuesInput,
}

/// The site to archive.
#[derive(InputObject)]
pub struct DeleteSiteInput {
    /// The site.
    pub id: ID,
    /// The version read.
    pub version: i32,
}

/// Changes to a hub's presentation (admins).
#[derive(InputObject)]
pub struct UpdateHubInput {
    /// The hub.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Display name.
    pub name: Option<String>,
    /// Website.
    pub website: MaybeUndefined<String>,
    /// Presentation.
    pub description: MaybeUndefined<String>,
}

/// The departments a hub covers (admins).
#[derive(InputObject)]
pub struct SetHubDepartmentsInput {
    /// The hub.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// INSEE codes of every department the hub covers from now on.
    pub departments: Vec<String>,
}

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
#[derive(SimpleObject)]
pub struct UpdateHubPayload {
    /// The hub as updated, unless there were user errors.
    pub hub: Option<HubNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

fn opt_text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn maybe<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(f(v)),
    }
}

fn id_error(field: &str, e: &async_graphql::Error) -> UserError {
    user_error(
        FieldPath::new("input").push(field),
        "invalid_id",
        e.message.clone(),
    )
}

/// Mutations on sites and hubs.
#[derive(Default)]
pub struct SitesMutation;

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
            updated_on: input.updated_on.unwrap_or_else(|| Utc::now().date_naive()),
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
            updated_on: input.updated_on,
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

    /// Updates a hub's presentation (admins).
    async fn update_hub(
        &self,
        ctx: &Context<'_>,
        input: UpdateHubInput,
    ) -> async_graphql::Result<UpdateHubPayload> {
        let actor = writer(ctx)?;
        let id = match decode_int(&input.id, NodeKind::Hub) {
            Ok(id) => HubId(id),
            Err(e) => {
                return Ok(UpdateHubPayload {
                    hub: None,
                    user_errors: vec![id_error("id", &e)],
                });
            }
        };
        let patch = maillage_territories::HubPatch {
            name: input.name,
            website: maybe(input.website, |v| opt_text(Some(v))),
            description: maybe(input.description, |v| opt_text(Some(v))),
        };
        let s = state(ctx)?;
        match maillage_territories::update_hub(&s.db, &actor, id, input.version, patch).await {
            Ok(hub) => Ok(UpdateHubPayload {
                hub: Some(HubNode(hub)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(UpdateHubPayload {
                hub: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Replaces the departments a hub covers (admins).
    async fn set_hub_departments(
        &self,
        ctx: &Context<'_>,
        input: SetHubDepartmentsInput,
    ) -> async_graphql::Result<UpdateHubPayload> {
        let actor = writer(ctx)?;
        let id = match decode_int(&input.id, NodeKind::Hub) {
            Ok(id) => HubId(id),
            Err(e) => {
                return Ok(UpdateHubPayload {
                    hub: None,
                    user_errors: vec![id_error("id", &e)],
                });
            }
        };
        let mut errors = Vec::new();
        let mut codes = Vec::new();
        for (i, code) in input.departments.iter().enumerate() {
            match DepartmentCode::parse(code) {
                Ok(c) => codes.push(c),
                Err(e) => errors.push(user_error(
                    FieldPath::new("input").push("departments").index(i),
                    "invalid_value",
                    e.to_string(),
                )),
            }
        }
        if !errors.is_empty() {
            return Ok(UpdateHubPayload {
                hub: None,
                user_errors: errors,
            });
        }
        let s = state(ctx)?;
        match maillage_territories::set_hub_departments(&s.db, &actor, id, input.version, &codes)
            .await
        {
            Ok(hub) => Ok(UpdateHubPayload {
                hub: Some(HubNode(hub)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(UpdateHubPayload {
                hub: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}
