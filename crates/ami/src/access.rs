//! Who may do what with AMI dossiers, decided here so that GraphQL, the upload route and tests obey the same rules.
//!
//! | role | reads | writes |
//! |---|---|---|
//! | `ami_applicant` | its own dossiers (never another's: `not_found`), their attachments; scores only as a summary once decided | creates dossiers, edits them while `draft` / `changes_requested`, submits, resubmits, withdraws |
//! | `bdt_reviewer` | every dossier once submitted, attachments, all score sheets and summaries | start review, request changes, score (one sheet each, not with a declared conflict), select, reject |
//! | `admin` | everything, drafts included | what reviewers do, and campaigns; never edits a dossier |
//! | others | campaigns only | nothing |

use crate::AmiError;
use crate::state::Party;
use maillage_core::{Actor, Role};

/// The stable account an actor acts for: its subject (an API token's name, so a rotated token keeps its
/// dossiers) or, without one, its label (`cli`, or a test's actor).
///
/// Dossiers are owned by this identity and score sheets are signed with it.
pub fn identity(actor: &Actor) -> &str {
    actor.subject().unwrap_or_else(|| actor.label())
}

/// Whether `actor` may open dossiers (applicants only: an admin never writes a dossier on someone's behalf).
pub fn can_apply(actor: &Actor) -> bool {
    actor.role() == Role::AmiApplicant
}

/// Whether `actor` reviews: BdT reviewers and admins.
pub fn can_review(actor: &Actor) -> bool {
    matches!(actor.role(), Role::BdtReviewer | Role::Admin)
}

/// Whether `actor` may change campaigns (admins).
pub fn can_manage_campaigns(actor: &Actor) -> bool {
    actor.is_admin()
}

/// The part `actor` plays for a dossier owned by `owner`, if any: the owner is the `Applicant`, reviewers and
/// admins are themselves; anyone else plays no part (and sees nothing).
pub fn party(actor: &Actor, owner: &str) -> Option<Party> {
    match actor.role() {
        Role::AmiApplicant if identity(actor) == owner => Some(Party::Applicant),
        Role::BdtReviewer => Some(Party::Reviewer),
        Role::Admin => Some(Party::Admin),
        _ => None,
    }
}

/// Whether `actor` may see a dossier owned by `owner`, submitted at least once or not.
///
/// Reviewers see only what was submitted: a draft (even withdrawn before submission) is its applicant's business.
pub fn can_see(actor: &Actor, owner: &str, ever_submitted: bool) -> bool {
    match party(actor, owner) {
        Some(Party::Applicant | Party::Admin) => true,
        Some(Party::Reviewer) => ever_submitted,
        None => false,
    }
}

pub(crate) fn require_applicant(actor: &Actor) -> Result<(), AmiError> {
    if can_apply(actor) {
        Ok(())
    } else {
        Err(AmiError::Forbidden(format!(
            "the role {} may not open AMI dossiers; applicants (ami_applicant) may",
            actor.role()
        )))
    }
}

pub(crate) fn require_reviewer(actor: &Actor) -> Result<(), AmiError> {
    if can_review(actor) {
        Ok(())
    } else {
        Err(AmiError::Forbidden(format!(
            "the role {} may not review AMI dossiers; BdT reviewers and admins may",
            actor.role()
        )))
    }
}

pub(crate) fn require_admin(actor: &Actor) -> Result<(), AmiError> {
    if can_manage_campaigns(actor) {
        Ok(())
    } else {
        Err(AmiError::Forbidden(format!(
            "the role {} may not change AMI campaigns; admins may",
            actor.role()
        )))
    }
}

/// Anyone reading dossiers must be an applicant, a reviewer or an admin.
pub(crate) fn require_participant(actor: &Actor) -> Result<(), AmiError> {
    if can_apply(actor) || can_review(actor) {
        Ok(())
    } else {
        Err(AmiError::Forbidden(format!(
            "the role {} may not read AMI dossiers",
            actor.role()
        )))
    }
}
