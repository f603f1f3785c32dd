//! Who may do what with funding, decided here so that GraphQL and tests obey the same rules.

use crate::FundingError;
use maillage_core::{Actor, Role};

/// Whether `actor` may record grants, payments and Pass numérique programmes: BdT reviewers and admins
/// (`DOMAIN.md`'s access table: "funding").
pub fn can_manage_funding(actor: &Actor) -> bool {
    matches!(actor.role(), Role::Admin | Role::BdtReviewer)
}

/// Whether `actor` may change the reference data (envelopes and funding rules): admins only, since a change
/// there moves every figure derived from it.
pub fn can_edit_reference_data(actor: &Actor) -> bool {
    actor.is_admin()
}

pub(crate) fn require_manager(actor: &Actor) -> Result<(), FundingError> {
    if can_manage_funding(actor) {
        Ok(())
    } else {
        Err(FundingError::Forbidden(format!(
            "the role {} may not record funding; BdT reviewers and admins may",
            actor.role()
        )))
    }
}

pub(crate) fn require_admin(actor: &Actor) -> Result<(), FundingError> {
    if can_edit_reference_data(actor) {
        Ok(())
    } else {
        Err(FundingError::Forbidden(format!(
            "the role {} may not edit envelopes or funding rules; admins may",
            actor.role()
        )))
    }
}
