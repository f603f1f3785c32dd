#![doc = include_str!("../README.md")]

pub mod draft;
mod entity;
mod error;
pub mod export;
pub mod history;
pub mod import;
pub mod model;
pub mod query;
pub mod statistics;
mod write;

pub use draft::{
    CounsellorDraft, PersonalDraft, PersonalPatch, PersonalPatchDraft, PostDraft, StructureDraft,
    StructurePatchDraft,
};
pub use error::CounsellorsError;
pub use model::{
    Assignment, CommitteeDecision, ContractType, Counsellor, CounsellorId, CounsellorParts,
    CounsellorStatus, DepartmentCounts, FundingKind, NewCounsellor, NewPost, NewStructure,
    PersonalData, Post, PostId, Structure, StructureId, StructureKind,
};
pub use query::{
    CounsellorFilter, StructureFilter, assignments_of_counsellors, coordinated_by,
    counsellors_by_ids, counsellors_of_sites, counsellors_of_structures, get_counsellor,
    get_structure, list_counsellors, list_counsellors_synced, list_structures,
    list_structures_synced, posts_by_ids, posts_of_structures, statistics_by_department,
    structures_by_ids,
};
pub use write::{
    PostPatch, StoreOutcome, StructurePatch, can_write, create_counsellor, create_post,
    create_structure, set_assignments, update_counsellor, update_post, update_structure,
};
