//! Enums, filters and mutation inputs of the counsellors domain.

use crate::kit::date::Date;
use crate::kit::error::to_gql;
use async_graphql::{Enum, ID, InputObject, MaybeUndefined, SimpleObject};
use maillage_core::DepartmentCode;
use maillage_core::error::FieldPath;
use maillage_counsellors::CounsellorsError;

// ------------------------------------------------------------------------------------------------------------

/// The legal kind of a host structure.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::StructureKind")]
pub enum StructureKind {
    /// A commune.
    Commune,
    /// An EPCI (inter-municipal body).
    Epci,
    /// A département.
    Departement,
    /// A région.
    Region,
    /// Another collectivité territoriale.
    OtherCollectivity,
    /// A groupement d'intérêt public.
    Gip,
    /// An association.
    Association,
    /// Another private non-profit or ESS structure.
    OtherPrivate,
}

/// Public or private host, derived from the kind: the funding rules depend on it.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::FundingKind")]
pub enum FundingKind {
    /// Collectivités and public bodies.
    Public,
    /// Associations, other private non-profit or ESS structures.
    Private,
}

/// The selection committee's decision on a request for posts.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::CommitteeDecision")]
pub enum CommitteeDecision {
    /// Not decided yet.
    Pending,
    /// Posts granted.
    Accepted,
    /// Refused.
    Refused,
}

/// Where a counsellor is in the programme.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::CounsellorStatus")]
pub enum CounsellorStatus {
    /// Recruited, not yet in training.
    Recruited,
    /// In the initial training.
    InTraining,
    /// Working with the public.
    Active,
    /// The contract ended.
    ContractEnded,
}

/// A counsellor's employment contract.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "maillage_counsellors::ContractType")]
pub enum ContractType {
    /// Fixed-term contract.
    Cdd,
    /// Permanent contract.
    Cdi,
    /// Contrat de projet.
    ProjectContract,
    /// Seconded civil servant.
    CivilServant,
    /// Anything else.
    Other,
}
pub(crate) fn invalid_input(
    field: FieldPath,
    e: &maillage_core::error::InvalidValue,
) -> async_graphql::Error {
    to_gql(&CounsellorsError::invalid(field, e))
}

pub(crate) fn departments(
    list: Option<Vec<String>>,
) -> async_graphql::Result<Option<Vec<DepartmentCode>>> {
    list.map(|list| {
        list.iter()
            .enumerate()
            .map(|(i, d)| {
                DepartmentCode::parse(d).map_err(|e| {
                    invalid_input(FieldPath::new("filter").push("departments").index(i), &e)
                })
            })
            .collect()
    })
    .transpose()
}

/// Criteria on host structures; all given criteria must hold.
#[derive(InputObject, Default)]
pub struct HostStructureFilter {
    /// Structures in any of these departments (INSEE codes).
    pub departments: Option<Vec<String>>,
    /// Structures in the departments of this hub: its global ID, or its slug (e.g. `hinaura`).
    pub hub: Option<ID>,
    /// Structures of any of these kinds.
    pub kinds: Option<Vec<StructureKind>>,
    /// Only those Maillage wrote at or after this instant (server clock): with `orderBy: {field: UPDATED_AT}`,
    /// the incremental pull of a mirror (docs/SYNC.md).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Criteria on counsellors; all given criteria must hold.
#[derive(InputObject, Default)]
#[graphql(name = "CounsellorFilter")]
pub struct CounsellorFilterInput {
    /// Counsellors in any of these departments (INSEE codes, the host structure's department).
    pub departments: Option<Vec<String>>,
    /// Counsellors in the departments of this hub: its global ID, or its slug (e.g. `hinaura`).
    pub hub: Option<ID>,
    /// Counsellors with any of these statuses.
    pub statuses: Option<Vec<CounsellorStatus>>,
    /// Counsellors whose host structure is of any of these kinds.
    pub structure_kinds: Option<Vec<StructureKind>>,
    /// Only counsellors still under contract whose time is assigned to no site.
    #[graphql(default)]
    pub without_site: bool,
    /// Only those Maillage wrote at or after this instant (server clock): with `orderBy: {field: UPDATED_AT}`,
    /// the incremental pull of a mirror (docs/SYNC.md).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
}

/// The territorial level of statistics.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum StatisticsLevel {
    /// One line per department.
    Department,
    /// One line per hub (a department covered by two hubs counts in both).
    Hub,
    /// One line per region.
    Region,
}

/// Public counts of the programme in one territory (no personal data).
#[derive(SimpleObject)]
pub struct CounsellorStatistics {
    /// Department code, hub global ID or region code (the way each is named in arguments).
    pub key: String,
    /// The territory's name.
    pub name: String,
    /// Posts granted by accepted committee decisions (first agreements and renewals).
    pub posts_granted: i64,
    /// Counsellors active.
    pub counsellors_active: i64,
    /// Counsellors in training.
    pub counsellors_in_training: i64,
    /// Counsellors under contract with no site assignment.
    pub counsellors_without_site: i64,
}

/// The lists a hub exports as CSV.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CounsellorExportList {
    /// Every counsellor of the caller's territory.
    Territory,
    /// Counsellors under contract without any site.
    WithoutSite,
    /// Host structures and their posts (one row per post).
    StructuresAndPosts,
}

/// A new host structure.
#[derive(InputObject)]
pub struct CreateHostStructureInput {
    /// SIRET (14 digits, Luhn key checked): the structure's identity.
    pub siret: String,
    /// Name.
    pub name: String,
    /// Legal kind.
    pub kind: StructureKind,
    /// Department (INSEE code): decides who may edit it.
    pub department: String,
    /// Street address.
    pub address: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Commune.
    pub commune: Option<String>,
    /// Labelled France Services.
    #[graphql(default)]
    pub france_services: bool,
    /// In a ZRR.
    #[graphql(default)]
    pub zrr: bool,
    /// In a QPV.
    #[graphql(default)]
    pub qpv: bool,
}

/// A change to a host structure; absent fields are left as they are, `null` clears an optional one.
#[derive(InputObject)]
pub struct UpdateHostStructureInput {
    /// The structure's global ID.
    pub id: ID,
    /// The version read (refused with `stale_version` if it changed since).
    pub version: i32,
    /// New name.
    pub name: Option<String>,
    /// New kind.
    pub kind: Option<StructureKind>,
    /// New department.
    pub department: Option<String>,
    /// New address, or null.
    pub address: MaybeUndefined<String>,
    /// New postal code, or null.
    pub postal_code: MaybeUndefined<String>,
    /// New commune, or null.
    pub commune: MaybeUndefined<String>,
    /// France Services label.
    pub france_services: Option<bool>,
    /// ZRR flag.
    pub zrr: Option<bool>,
    /// QPV flag.
    pub qpv: Option<bool>,
}

/// A request for posts of a structure.
#[derive(InputObject)]
pub struct CreateFundedPostInput {
    /// The host structure's global ID.
    pub structure_id: ID,
    /// Whether this is the renewal agreement.
    #[graphql(default)]
    pub renewal: bool,
    /// Posts requested.
    pub requested: i32,
    /// Posts granted (only with an accepted decision).
    #[graphql(default)]
    pub granted: i32,
    /// Committee decision (default PENDING).
    pub decision: Option<CommitteeDecision>,
    /// Committee date.
    pub committee_date: Option<Date>,
    /// Agreement start.
    pub agreement_start: Option<Date>,
    /// Agreement end.
    pub agreement_end: Option<Date>,
}

/// A change to a post (typically the committee's decision).
#[derive(InputObject)]
pub struct UpdateFundedPostInput {
    /// The post's global ID.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Posts requested.
    pub requested: Option<i32>,
    /// Posts granted.
    pub granted: Option<i32>,
    /// Committee decision.
    pub decision: Option<CommitteeDecision>,
    /// Committee date, or null.
    pub committee_date: MaybeUndefined<Date>,
    /// Agreement start, or null.
    pub agreement_start: MaybeUndefined<Date>,
    /// Agreement end, or null.
    pub agreement_end: MaybeUndefined<Date>,
}

/// A new counsellor.
#[derive(InputObject)]
pub struct CreateCounsellorInput {
    /// The national platform's id: the identity across imports.
    pub external_id: String,
    /// The host structure's global ID.
    pub structure_id: ID,
    /// The post filled (a post of the same structure).
    pub post_id: Option<ID>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Professional e-mail.
    pub email: Option<String>,
    /// Personal e-mail.
    pub personal_email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Status (default RECRUITED).
    pub status: Option<CounsellorStatus>,
    /// Recruitment date.
    pub recruited_on: Option<Date>,
    /// Contract type.
    pub contract_type: Option<ContractType>,
    /// Contract start.
    pub contract_start: Option<Date>,
    /// Contract end.
    pub contract_end: Option<Date>,
    /// Host share, percent (default 0).
    #[graphql(default)]
    pub host_share: i32,
    /// Whether this counsellor coordinates others.
    #[graphql(default)]
    pub is_coordinator: bool,
    /// The coordinator's global ID.
    pub coordinator_id: Option<ID>,
}

/// A change to a counsellor; absent fields are left as they are, `null` clears an optional one.
#[derive(InputObject)]
pub struct UpdateCounsellorInput {
    /// The counsellor's global ID.
    pub id: ID,
    /// The version read.
    pub version: i32,
    /// Move to another host structure.
    pub structure_id: Option<ID>,
    /// The post filled, or null.
    pub post_id: MaybeUndefined<ID>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Professional e-mail, or null.
    pub email: MaybeUndefined<String>,
    /// Personal e-mail, or null.
    pub personal_email: MaybeUndefined<String>,
    /// Phone, or null.
    pub phone: MaybeUndefined<String>,
    /// Status.
    pub status: Option<CounsellorStatus>,
    /// Recruitment date, or null.
    pub recruited_on: MaybeUndefined<Date>,
    /// Start of training, or null.
    pub training_started_on: MaybeUndefined<Date>,
    /// First day of activity, or null.
    pub active_since: MaybeUndefined<Date>,
    /// End of mission, or null.
    pub ended_on: MaybeUndefined<Date>,
    /// Contract type, or null.
    pub contract_type: MaybeUndefined<ContractType>,
    /// Contract start, or null.
    pub contract_start: MaybeUndefined<Date>,
    /// Contract end, or null.
    pub contract_end: MaybeUndefined<Date>,
    /// Training completion, or null.
    pub training_completed_on: MaybeUndefined<Date>,
    /// PIX certification.
    pub pix_certified: Option<bool>,
    /// Host share, percent (with the site shares, at most 100).
    pub host_share: Option<i32>,
    /// Whether this counsellor coordinates others.
    pub is_coordinator: Option<bool>,
    /// The coordinator's global ID, or null.
    pub coordinator_id: MaybeUndefined<ID>,
}

/// One site and the share of time there.
#[derive(InputObject)]
pub struct AssignmentInput {
    /// The site's global ID.
    pub site_id: ID,
    /// Percent of time, 1 to 100.
    pub share: i32,
}

/// A counsellor's whole time split: the host share and every site (replaces the previous assignments).
#[derive(InputObject)]
pub struct SetCounsellorAssignmentsInput {
    /// The counsellor's global ID.
    pub counsellor_id: ID,
    /// The version read.
    pub version: i32,
    /// Percent of time for the host structure's own public.
    pub host_share: i32,
    /// The sites; with `hostShare`, at most 100 % in total (`time_share_exceeded` otherwise).
    pub assignments: Vec<AssignmentInput>,
}
