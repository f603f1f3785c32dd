#![doc = include_str!("../README.md")]

mod aidants;
pub mod draft;
mod entity;
mod error;
pub mod export;
pub mod import;
pub mod model;
mod organisations;
pub mod statistics;
pub mod stats;
pub mod territory;

pub use aidants::{
    AidantFilter, aidants_by_organisations, create_aidant, get_aidant, list_aidants,
    list_aidants_synced, update_aidant,
};
pub use draft::{AidantDraft, AidantPatchDraft, OrganisationDraft, OrganisationPatchDraft};
pub use error::AidantsError;
pub use model::{
    Aidant, AidantId, AidantPatch, AidantPerson, AidantStatus, CounsellorRef, Demarche,
    MandateCounts, MandateDuration, Month, NewAidant, NewOrganisation, Organisation,
    OrganisationId, OrganisationKind, OrganisationPatch,
};
pub use organisations::{
    OrganisationFilter, StoreOutcome, can_write_in, create_organisation, get_organisation,
    list_organisations, list_organisations_synced, organisations_by_departments,
    organisations_by_ids, update_organisation,
};
pub use stats::{AidantsCounts, MandateQuery, MandateTotal, aidants_counts, mandate_totals};
pub use territory::Territory;
