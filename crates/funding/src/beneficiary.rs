//! Who a grant pays, as checked in the beneficiary's own domain.
//!
//! Domains never depend on each other, so funding cannot read a host structure (counsellors), a hub (territories)
//! or an AMI dossier (ami). It defines a small port instead: [`BeneficiaryDirectory`] turns a caller's
//! [`BeneficiaryClaim`] into a [`VerifiedBeneficiary`] (host kind, department, posts funded…), and the crate where
//! every domain is reachable (`maillage-graphql`, used by the API and the command line) implements it. The domain
//! tests implement it with fixtures.

use crate::model::{BeneficiaryKind, HostKind};
use maillage_core::{DepartmentCode, HubId};
use std::future::Future;

/// What a caller says a grant pays: a beneficiary of some kind, by its reference in its own domain, with the
/// facts the caller asserts (checked against the verified beneficiary when it is found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeneficiaryClaim {
    /// What kind of beneficiary.
    pub kind: BeneficiaryKind,
    /// Its reference in its domain: a host structure's id or SIRET, a hub's id or slug, a dossier's id, a
    /// collectivité's INSEE code or SIRET.
    pub reference: String,
    /// For a host structure: the post request (conventionnement) the grant pays for.
    pub funded_posts: Option<String>,
    /// The host kind the caller asserts (used to compute the expected amount when the beneficiary is unknown).
    pub host_kind: Option<HostKind>,
    /// The department the caller asserts.
    pub department: Option<DepartmentCode>,
    /// The name the caller gives (a collectivité has no record of its own in Maillage).
    pub name: Option<String>,
}

/// The posts a host-structure grant pays for, as the counsellors domain knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundedPosts {
    /// The post request's reference (its id).
    pub reference: String,
    /// The posts granted by the selection committee: a grant pays for at most these.
    pub granted: i32,
}

/// A beneficiary found in its own domain, with what funding needs to check a grant against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBeneficiary {
    /// What kind of beneficiary.
    pub kind: BeneficiaryKind,
    /// Its canonical reference (`structure:12`, `hub:3`, `dossier:7`, `insee:69123`).
    pub reference: String,
    /// Its public name.
    pub name: String,
    /// Public or private, for a host structure.
    pub host_kind: Option<HostKind>,
    /// Its department (a hub or dossier spanning several has none).
    pub department: Option<DepartmentCode>,
    /// The hub concerned, if any.
    pub hub: Option<HubId>,
    /// For a host structure, the post request named by the claim.
    pub funded_posts: Option<FundedPosts>,
}

/// Resolves claims in the beneficiaries' own domains (the port funding needs; implemented where every domain is
/// reachable). `Ok(None)`: no such beneficiary (or no such post request for it).
pub trait BeneficiaryDirectory: Sync {
    /// Finds the beneficiary a claim names.
    fn resolve(
        &self,
        claim: &BeneficiaryClaim,
    ) -> impl Future<Output = Result<Option<VerifiedBeneficiary>, String>> + Send;
}
