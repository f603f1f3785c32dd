//! Mutations on hubs.

use crate::kit::handles::HubNode;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::{UserError, classify, maybe, opt_text, user_error, writer};
use crate::kit::state;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use maillage_core::Code;
use maillage_core::error::FieldPath;
use maillage_core::{DepartmentCode, HubId};

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
pub struct UpdateHubPayload {
    /// The hub as updated, unless there were user errors.
    pub hub: Option<HubNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    UpdateHubPayload {
        /// The hub as updated, unless there were user errors.
        hub: Option<HubNode>,
    }
    /// Result of `setHubDepartments`.
    SetHubDepartmentsPayload,
}

pub(crate) fn id_error(field: &str, e: &async_graphql::Error) -> UserError {
    user_error(
        FieldPath::new("input").push(field),
        Code::InvalidId,
        e.message.clone(),
    )
}

/// Mutations on hubs (admins).
#[derive(Default)]
pub struct TerritoriesMutation;

/// Mutations on hubs (admins).
#[Object]
impl TerritoriesMutation {
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
            Ok(hub) => {
                // Committed: the departments' kept hubs (their names) are forgotten now, not at the notice.
                s.territories.department_hubs().changed();
                Ok(UpdateHubPayload {
                    hub: Some(HubNode(hub)),
                    user_errors: Vec::new(),
                })
            }
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
    ) -> async_graphql::Result<SetHubDepartmentsPayload> {
        let actor = writer(ctx)?;
        let id = match decode_int(&input.id, NodeKind::Hub) {
            Ok(id) => HubId(id),
            Err(e) => {
                return Ok(SetHubDepartmentsPayload {
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
                    Code::InvalidValue,
                    e.to_string(),
                )),
            }
        }
        if !errors.is_empty() {
            return Ok(SetHubDepartmentsPayload {
                hub: None,
                user_errors: errors,
            });
        }
        let s = state(ctx)?;
        match maillage_territories::set_hub_departments(&s.db, &actor, id, input.version, &codes)
            .await
        {
            Ok(hub) => {
                // Committed: the departments' kept hubs are forgotten now, not at the notice.
                s.territories.department_hubs().changed();
                Ok(SetHubDepartmentsPayload {
                    hub: Some(HubNode(hub)),
                    user_errors: Vec::new(),
                })
            }
            Err(e) => Ok(SetHubDepartmentsPayload {
                hub: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}
