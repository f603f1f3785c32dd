//! Mutations on counsellors, structures and posts.

use super::inputs::{
    CreateCounsellorInput, CreateFundedPostInput, CreateHostStructureInput,
    SetCounsellorAssignmentsInput, UpdateCounsellorInput, UpdateFundedPostInput,
    UpdateHostStructureInput,
};
use super::objects::{CounsellorNode, PostNode, StructureNode};
use crate::kit::error::IntoGql;
use crate::kit::id::{NodeKind, decode_int};
use crate::kit::payload::{Checks, UserError, classify, draft_errors, maybe, user_error, writer};
use crate::kit::state;
use async_graphql::{Context, MaybeUndefined, Object, SimpleObject};
use maillage_core::Code;
use maillage_core::SiteId;
use maillage_core::error::FieldPath;
use maillage_counsellors::{
    CounsellorDraft, CounsellorId, CounsellorsError, NewCounsellor, NewPost, NewStructure,
    PersonalDraft, PersonalPatch, PersonalPatchDraft, PostDraft, PostId, PostPatch, StructureDraft,
    StructureId, StructurePatch, StructurePatchDraft,
};

macro_rules! payload {
    ($name:ident, $field:ident, $node:ty, $what:literal) => {
        #[doc = concat!("The result of a mutation on ", $what, ": the object, or `userErrors` (nothing written).")]
        #[derive(SimpleObject)]
        pub struct $name {
            #[doc = concat!("The ", $what, " as stored, or null when refused.")]
            pub $field: Option<$node>,
            /// Business errors; empty on success.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            fn refused(user_errors: Vec<UserError>) -> Self {
                Self {
                    $field: None,
                    user_errors,
                }
            }

            fn from<T>(
                r: Result<T, CounsellorsError>,
                wrap: impl FnOnce(T) -> $node,
            ) -> async_graphql::Result<Self> {
                match r {
                    Ok(v) => Ok(Self {
                        $field: Some(wrap(v)),
                        user_errors: Vec::new(),
                    }),
                    Err(e) => Ok(Self::refused(classify(&e)?)),
                }
            }
        }
    };
}

payload!(
    CreateHostStructurePayload,
    host_structure,
    StructureNode,
    "a host structure"
);
payload!(
    UpdateHostStructurePayload,
    host_structure,
    StructureNode,
    "a host structure"
);
payload!(
    CreateFundedPostPayload,
    funded_post,
    PostNode,
    "a funded post"
);
payload!(
    UpdateFundedPostPayload,
    funded_post,
    PostNode,
    "a funded post"
);
payload!(
    CreateCounsellorPayload,
    counsellor,
    CounsellorNode,
    "a counsellor"
);
payload!(
    UpdateCounsellorPayload,
    counsellor,
    CounsellorNode,
    "a counsellor"
);
payload!(
    SetCounsellorAssignmentsPayload,
    counsellor,
    CounsellorNode,
    "a counsellor"
);
/// Mutations on counsellors, structures and posts: hub coordinators within their departments, and admins.
#[derive(Default)]
pub struct CounsellorsMutation;

/// Mutations on counsellors, structures and posts: hub coordinators within their departments, and admins.
#[Object]
impl CounsellorsMutation {
    /// Creates a host structure.
    async fn create_host_structure(
        &self,
        ctx: &Context<'_>,
        input: CreateHostStructureInput,
    ) -> async_graphql::Result<CreateHostStructurePayload> {
        let actor = writer(ctx)?;
        let draft = StructureDraft {
            siret: input.siret,
            name: input.name,
            kind: input.kind.into(),
            department: input.department,
            address: input.address,
            postal_code: input.postal_code,
            commune: input.commune,
            france_services: input.france_services,
            zrr: input.zrr,
            qpv: input.qpv,
        };
        let new = match NewStructure::try_from(draft) {
            Ok(new) => new,
            Err(problems) => {
                return Ok(CreateHostStructurePayload::refused(draft_errors(problems)));
            }
        };
        let s = state(ctx)?;
        CreateHostStructurePayload::from(
            maillage_counsellors::create_structure(&s.db, &actor, new).await,
            StructureNode,
        )
    }

    /// Changes a host structure (a move to another department moves its counsellors).
    async fn update_host_structure(
        &self,
        ctx: &Context<'_>,
        input: UpdateHostStructureInput,
    ) -> async_graphql::Result<UpdateHostStructurePayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id("id", decode_int(&input.id, NodeKind::HostStructure));
        let draft = StructurePatchDraft {
            name: input.name,
            kind: input.kind.map(Into::into),
            department: input.department,
            address: maybe(input.address, Some),
            postal_code: maybe(input.postal_code, Some),
            commune: maybe(input.commune, Some),
            france_services: input.france_services,
            zrr: input.zrr,
            qpv: input.qpv,
        };
        let patch = StructurePatch::try_from(draft).map_err(|p| c.0.extend(draft_errors(p)));
        let (Some(id), Ok(patch)) = (id, patch) else {
            return Ok(UpdateHostStructurePayload::refused(c.0));
        };
        let s = state(ctx)?;
        UpdateHostStructurePayload::from(
            maillage_counsellors::update_structure(
                &s.db,
                &actor,
                StructureId(id),
                input.version,
                patch,
            )
            .await,
            StructureNode,
        )
    }

    /// Records a request for posts (first agreement or renewal) of a structure.
    async fn create_funded_post(
        &self,
        ctx: &Context<'_>,
        input: CreateFundedPostInput,
    ) -> async_graphql::Result<CreateFundedPostPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let Some(structure) = c.id(
            "structureId",
            decode_int(&input.structure_id, NodeKind::HostStructure),
        ) else {
            return Ok(CreateFundedPostPayload::refused(c.0));
        };
        let draft = PostDraft {
            renewal: input.renewal,
            requested: input.requested,
            granted: input.granted,
            decision: input.decision.map(Into::into),
            committee_date: input.committee_date.map(|d| d.0),
            agreement_start: input.agreement_start.map(|d| d.0),
            agreement_end: input.agreement_end.map(|d| d.0),
        };
        let new = match NewPost::try_from(draft) {
            Ok(new) => new,
            Err(problems) => return Ok(CreateFundedPostPayload::refused(draft_errors(problems))),
        };
        let s = state(ctx)?;
        CreateFundedPostPayload::from(
            maillage_counsellors::create_post(&s.db, &actor, StructureId(structure), new).await,
            PostNode,
        )
    }

    /// Changes a post, e.g. to record the committee's decision.
    async fn update_funded_post(
        &self,
        ctx: &Context<'_>,
        input: UpdateFundedPostInput,
    ) -> async_graphql::Result<UpdateFundedPostPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let Some(id) = c.id("id", decode_int(&input.id, NodeKind::FundedPost)) else {
            return Ok(UpdateFundedPostPayload::refused(c.0));
        };
        let patch = PostPatch {
            requested: input.requested,
            granted: input.granted,
            decision: input.decision.map(Into::into),
            committee_date: maybe(input.committee_date, |d| Some(d.0)),
            agreement_start: maybe(input.agreement_start, |d| Some(d.0)),
            agreement_end: maybe(input.agreement_end, |d| Some(d.0)),
        };
        let s = state(ctx)?;
        UpdateFundedPostPayload::from(
            maillage_counsellors::update_post(&s.db, &actor, PostId(id), input.version, patch)
                .await,
            PostNode,
        )
    }

    /// Creates a counsellor in a structure of the caller's departments.
    async fn create_counsellor(
        &self,
        ctx: &Context<'_>,
        input: CreateCounsellorInput,
    ) -> async_graphql::Result<CreateCounsellorPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let structure = c.id(
            "structureId",
            decode_int(&input.structure_id, NodeKind::HostStructure),
        );
        let post = input
            .post_id
            .map(|p| c.id("postId", decode_int(&p, NodeKind::FundedPost)));
        let coordinator = input
            .coordinator_id
            .map(|k| c.id("coordinatorId", decode_int(&k, NodeKind::Counsellor)));
        let draft = CounsellorDraft {
            external_id: input.external_id,
            // A placeholder when the ID is not valid: its user error refuses the input anyway.
            structure_id: StructureId(structure.unwrap_or_default()),
            post_id: post.flatten().map(PostId),
            personal: PersonalDraft {
                first_name: input.first_name,
                last_name: input.last_name,
                email: input.email,
                personal_email: input.personal_email,
                phone: input.phone,
            },
            status: input.status.map_or(
                maillage_counsellors::CounsellorStatus::Recruited,
                Into::into,
            ),
            recruited_on: input.recruited_on.map(|d| d.0),
            training_started_on: None,
            active_since: None,
            ended_on: None,
            contract_type: input.contract_type.map(Into::into),
            contract_start: input.contract_start.map(|d| d.0),
            contract_end: input.contract_end.map(|d| d.0),
            training_completed_on: None,
            pix_certified: false,
            host_share: input.host_share,
            is_coordinator: input.is_coordinator,
            coordinator_id: coordinator.flatten().map(CounsellorId),
        };
        let new = NewCounsellor::try_from(draft).map_err(|p| c.0.extend(draft_errors(p)));
        let (Ok(new), true) = (new, c.0.is_empty()) else {
            return Ok(CreateCounsellorPayload::refused(c.0));
        };
        let s = state(ctx)?;
        CreateCounsellorPayload::from(
            maillage_counsellors::create_counsellor(&s.db, &actor, new).await,
            CounsellorNode,
        )
    }

    /// Changes a counsellor: status and dates, contract, training, post, coordinator, personal data.
    async fn update_counsellor(
        &self,
        ctx: &Context<'_>,
        input: UpdateCounsellorInput,
    ) -> async_graphql::Result<UpdateCounsellorPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id("id", decode_int(&input.id, NodeKind::Counsellor));
        let structure = input
            .structure_id
            .as_ref()
            .and_then(|s| c.id("structureId", decode_int(s, NodeKind::HostStructure)));
        let post = match input.post_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(p) => c
                .id("postId", decode_int(&p, NodeKind::FundedPost))
                .map(Some),
        };
        let coordinator = match input.coordinator_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(k) => c
                .id("coordinatorId", decode_int(&k, NodeKind::Counsellor))
                .map(Some),
        };
        let personal = PersonalPatch::try_from(PersonalPatchDraft {
            first_name: input.first_name,
            last_name: input.last_name,
            email: maybe(input.email, Some),
            personal_email: maybe(input.personal_email, Some),
            phone: maybe(input.phone, Some),
        })
        .map_err(|p| c.0.extend(draft_errors(p)));
        let (Some(id), Ok(personal)) = (id, personal) else {
            return Ok(UpdateCounsellorPayload::refused(c.0));
        };
        if !c.0.is_empty() {
            return Ok(UpdateCounsellorPayload::refused(c.0));
        }
        let change = move |n: &mut NewCounsellor| {
            if let Some(v) = structure {
                n.structure_id = StructureId(v);
            }
            if let Some(v) = post {
                n.post_id = v.map(PostId);
            }
            if let Some(v) = coordinator {
                n.coordinator_id = v.map(CounsellorId);
            }
            personal.apply(&mut n.personal);
            if let Some(v) = input.status {
                n.status = v.into();
            }
            let dates = [
                (input.recruited_on, &mut n.recruited_on),
                (input.training_started_on, &mut n.training_started_on),
                (input.active_since, &mut n.active_since),
                (input.ended_on, &mut n.ended_on),
                (input.contract_start, &mut n.contract_start),
                (input.contract_end, &mut n.contract_end),
                (input.training_completed_on, &mut n.training_completed_on),
            ];
            for (value, slot) in dates {
                if let Some(v) = maybe(value, |d| Some(d.0)) {
                    *slot = v;
                }
            }
            if let Some(v) = maybe(input.contract_type, Some) {
                n.contract_type = v.map(Into::into);
            }
            if let Some(v) = input.pix_certified {
                n.pix_certified = v;
            }
            if let Some(v) = input.host_share {
                n.host_share = v;
            }
            if let Some(v) = input.is_coordinator {
                n.is_coordinator = v;
            }
        };
        let s = state(ctx)?;
        UpdateCounsellorPayload::from(
            maillage_counsellors::update_counsellor(
                &s.db,
                &actor,
                CounsellorId(id),
                input.version,
                change,
            )
            .await,
            CounsellorNode,
        )
    }

    /// Sets a counsellor's host share and sites; refused with `time_share_exceeded` above 100 % in total.
    async fn set_counsellor_assignments(
        &self,
        ctx: &Context<'_>,
        input: SetCounsellorAssignmentsInput,
    ) -> async_graphql::Result<SetCounsellorAssignmentsPayload> {
        let actor = writer(ctx)?;
        let mut c = Checks::default();
        let id = c.id(
            "counsellorId",
            decode_int(&input.counsellor_id, NodeKind::Counsellor),
        );
        let mut sites = Vec::with_capacity(input.assignments.len());
        for (i, a) in input.assignments.iter().enumerate() {
            match decode_int(&a.site_id, NodeKind::Site) {
                Ok(site) => sites.push((SiteId(site), a.share)),
                Err(e) => c.0.push(user_error(
                    FieldPath::new("input")
                        .push("assignments")
                        .index(i)
                        .push("siteId"),
                    Code::InvalidId,
                    e.message,
                )),
            }
        }
        let (Some(id), true) = (id, c.0.is_empty()) else {
            return Ok(SetCounsellorAssignmentsPayload::refused(c.0));
        };
        let s = state(ctx)?;
        // Sites are another domain's: check they exist (and are not archived) before assigning.
        let ids: Vec<SiteId> = sites.iter().map(|(s, _)| *s).collect();
        let found = maillage_sites::sites_by_ids(&s.db, &ids).await.gql()?;
        for (i, (site, _)) in sites.iter().enumerate() {
            if !found.iter().any(|f| f.id == *site) {
                c.0.push(user_error(
                    FieldPath::new("input")
                        .push("assignments")
                        .index(i)
                        .push("siteId"),
                    Code::NotFound,
                    format!("no site with id {site}"),
                ));
            }
        }
        if !c.0.is_empty() {
            return Ok(SetCounsellorAssignmentsPayload::refused(c.0));
        }
        SetCounsellorAssignmentsPayload::from(
            maillage_counsellors::set_assignments(
                &s.db,
                &actor,
                CounsellorId(id),
                input.version,
                input.host_share,
                &sites,
            )
            .await,
            CounsellorNode,
        )
    }
}
