//! Mutations on funding.

use super::beneficiaries::Directory;
use super::inputs::{
    CreateEnvelopeInput, CreateGrantInput, FundingRuleInput, GrantVersionInput, PassProgrammeInput,
    RecordDisbursementInput, RecordGrantInput, UpdateEnvelopeInput, UpdateFundingRuleInput,
    UpdatePassProgrammeInput, grant_input, id_error, programme_input, rule_input,
};
use super::{
    DisbursementNode, EnvelopeNode, FundingRuleNode, GrantNode, PassProgrammeNode, envelope_node,
    grant_node,
};
use crate::kit::id::NodeKind;
use crate::kit::id::parse_int;
use crate::kit::payload::{UserError, writer};
use crate::kit::state;
use async_graphql::{Context, MaybeUndefined, Object, SimpleObject};
use maillage_core::error::FieldPath;
use maillage_funding as funding;
use maillage_funding::{FundingError, Grant, Money};

/// Result of `createEnvelope` and `updateEnvelope`.
#[derive(SimpleObject)]
pub struct EnvelopePayload {
    /// The envelope, unless there were user errors.
    pub envelope: Option<EnvelopeNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    EnvelopePayload {
        /// The envelope, unless there were user errors.
        envelope: Option<EnvelopeNode>,
    }
    /// Result of `createEnvelope`.
    CreateEnvelopePayload,
    /// Result of `updateEnvelope`.
    UpdateEnvelopePayload,
}

/// Result of `createFundingRule` and `updateFundingRule`.
#[derive(SimpleObject)]
pub struct FundingRulePayload {
    /// The rule, unless there were user errors.
    pub rule: Option<FundingRuleNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    FundingRulePayload {
        /// The rule, unless there were user errors.
        rule: Option<FundingRuleNode>,
    }
    /// Result of `createFundingRule`.
    CreateFundingRulePayload,
    /// Result of `updateFundingRule`.
    UpdateFundingRulePayload,
}

/// Result of the grant mutations.
#[derive(SimpleObject)]
pub struct GrantPayload {
    /// The grant, unless there were user errors.
    pub grant: Option<GrantNode>,
    /// Business errors; empty on success (`envelope_exceeded` when signing would over-commit).
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    GrantPayload {
        /// The grant, unless there were user errors.
        grant: Option<GrantNode>,
    }
    /// Result of `createGrant`.
    CreateGrantPayload,
    /// Result of `signGrant`.
    SignGrantPayload,
    /// Result of `closeGrant`.
    CloseGrantPayload,
    /// Result of `cancelGrant`.
    CancelGrantPayload,
    /// Result of `recordGrant`.
    RecordGrantPayload,
}

/// Result of `recordDisbursement`.
#[derive(SimpleObject)]
pub struct DisbursementPayload {
    /// The payment, unless there were user errors.
    pub disbursement: Option<DisbursementNode>,
    /// Business errors; empty on success (`grant_exceeded` when it would pay more than granted).
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    DisbursementPayload {
        /// The payment, unless there were user errors.
        disbursement: Option<DisbursementNode>,
    }
    /// Result of `recordDisbursement`.
    RecordDisbursementPayload,
}

/// Result of the Pass numérique mutations.
#[derive(SimpleObject)]
pub struct PassProgrammePayload {
    /// The programme, unless there were user errors.
    pub programme: Option<PassProgrammeNode>,
    /// Business errors; empty on success.
    pub user_errors: Vec<UserError>,
}

crate::payloads! {
    PassProgrammePayload {
        /// The programme, unless there were user errors.
        programme: Option<PassProgrammeNode>,
    }
    /// Result of `createPassProgramme`.
    CreatePassProgrammePayload,
    /// Result of `updatePassProgramme`.
    UpdatePassProgrammePayload,
}

/// Funding mutations: grants, payments and Pass numérique for BdT reviewers and admins; envelopes and rules for
/// admins. Every one checks a version where it changes a record, and answers business refusals as `userErrors`.
#[derive(Default)]
pub struct FundingMutation;

/// Funding mutations: grants, payments and Pass numérique for BdT reviewers and admins; envelopes and rules for
/// admins. Every one checks a version where it changes a record, and answers business refusals as `userErrors`.
#[Object]
impl FundingMutation {
    /// Creates an envelope (admins).
    async fn create_envelope(
        &self,
        ctx: &Context<'_>,
        input: CreateEnvelopeInput,
    ) -> async_graphql::Result<CreateEnvelopePayload> {
        let actor = writer(ctx)?;
        let parent_id = match input
            .parent_id
            .as_ref()
            .map(|p| parse_int(p, NodeKind::Envelope).map_err(|e| e.to_string()))
        {
            Some(Err(m)) => {
                return Ok(CreateEnvelopePayload {
                    envelope: None,
                    user_errors: vec![id_error(FieldPath::new("input").push("parentId"), m)],
                });
            }
            Some(Ok(p)) => Some(p),
            None => None,
        };
        let s = state(ctx)?;
        let new = funding::NewEnvelope {
            parent_id,
            code: input.code,
            name: input.name,
            amount: Money(input.amount.0),
            source: input.source,
            target: input.target.map(Into::into),
        };
        match funding::create_envelope(&s.db, &actor, new).await {
            Ok(e) => Ok(CreateEnvelopePayload {
                envelope: envelope_node(ctx, e.id).await?,
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(CreateEnvelopePayload {
                envelope: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Changes an envelope at the given version (admins); its amount cannot go below what is committed.
    async fn update_envelope(
        &self,
        ctx: &Context<'_>,
        input: UpdateEnvelopeInput,
    ) -> async_graphql::Result<UpdateEnvelopePayload> {
        let actor = writer(ctx)?;
        let id = match parse_int(&input.id, NodeKind::Envelope).map_err(|e| e.to_string()) {
            Ok(id) => id,
            Err(m) => {
                return Ok(UpdateEnvelopePayload {
                    envelope: None,
                    user_errors: vec![id_error(FieldPath::new("input").push("id"), m)],
                });
            }
        };
        let patch = funding::EnvelopePatch {
            name: input.name,
            amount: input.amount.map(|c| Money(c.0)),
            source: match input.source {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v)),
            },
            target: match input.target {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v.into())),
            },
        };
        let s = state(ctx)?;
        match funding::update_envelope(&s.db, &actor, id, input.version, patch).await {
            Ok(e) => Ok(UpdateEnvelopePayload {
                envelope: envelope_node(ctx, e.id).await?,
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(UpdateEnvelopePayload {
                envelope: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Adds a funding rule (admins).
    async fn create_funding_rule(
        &self,
        ctx: &Context<'_>,
        input: FundingRuleInput,
    ) -> async_graphql::Result<CreateFundingRulePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let new = rule_input(input, "department", &mut errors);
        if !errors.is_empty() {
            return Ok(CreateFundingRulePayload {
                rule: None,
                user_errors: errors,
            });
        }
        let s = state(ctx)?;
        match funding::create_rule(&s.db, &actor, new).await {
            Ok(r) => Ok(CreateFundingRulePayload {
                rule: Some(FundingRuleNode(r)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(CreateFundingRulePayload {
                rule: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Replaces a funding rule's content at the given version (admins), e.g. to end it with `validTo`.
    async fn update_funding_rule(
        &self,
        ctx: &Context<'_>,
        input: UpdateFundingRuleInput,
    ) -> async_graphql::Result<UpdateFundingRulePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = parse_int(&input.id, NodeKind::FundingRule)
            .map_err(|e| e.to_string())
            .map_err(|m| errors.push(id_error(FieldPath::new("input").push("id"), m)))
            .ok();
        let new = rule_input(input.rule, "rule", &mut errors);
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(UpdateFundingRulePayload {
                rule: None,
                user_errors: errors,
            });
        };
        let s = state(ctx)?;
        match funding::update_rule(&s.db, &actor, id, input.version, new).await {
            Ok(r) => Ok(UpdateFundingRulePayload {
                rule: Some(FundingRuleNode(r)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(UpdateFundingRulePayload {
                rule: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Records a draft grant (BdT reviewers, admins): it commits nothing until signed. Refused with userErrors
    /// when the beneficiary does not exist (`not_found`), when a host structure's amount differs from the rule's
    /// computation without `overrideReason` (`amount_mismatch`, naming the rule and the expected amount), or when it
    /// pays more posts than were granted (`exceeds_funded_posts`); all of them at once.
    async fn create_grant(
        &self,
        ctx: &Context<'_>,
        input: CreateGrantInput,
    ) -> async_graphql::Result<CreateGrantPayload> {
        let actor = writer(ctx)?;
        let new = match grant_input(input) {
            Ok(new) => new,
            Err(errors) => {
                return Ok(CreateGrantPayload {
                    grant: None,
                    user_errors: errors,
                });
            }
        };
        let s = state(ctx)?;
        let directory = Directory {
            db: &s.db,
            actor: &actor,
        };
        let result = funding::create_grant(&s.db, &actor, &directory, new).await;
        grant_payload(ctx, result).await.map(Into::into)
    }

    /// Records a grant with its real decision, signature and closing dates (admins; audited): a historical
    /// convention. Checked like `createGrant`; when signed it commits its amount in its envelope from the month of
    /// `signedOn`, refused with `envelope_exceeded` beyond the room left.
    async fn record_grant(
        &self,
        ctx: &Context<'_>,
        input: RecordGrantInput,
    ) -> async_graphql::Result<RecordGrantPayload> {
        let actor = writer(ctx)?;
        let dates = funding::GrantDates {
            signed_on: input.signed_on.map(|d| d.0),
            closed_on: input.closed_on.map(|d| d.0),
        };
        let new = match grant_input(input.grant) {
            Ok(new) => new,
            Err(errors) => {
                return Ok(RecordGrantPayload {
                    grant: None,
                    user_errors: errors,
                });
            }
        };
        let s = state(ctx)?;
        let directory = Directory {
            db: &s.db,
            actor: &actor,
        };
        let result = funding::record_grant(&s.db, &actor, &directory, new, dates).await;
        grant_payload(ctx, result).await.map(Into::into)
    }

    /// Signs a draft grant: refused with `envelope_exceeded` if its envelope, or any envelope above it, would be
    /// over-committed — decided inside the database transaction, so concurrent signatures cannot both pass.
    async fn sign_grant(
        &self,
        ctx: &Context<'_>,
        input: GrantVersionInput,
    ) -> async_graphql::Result<SignGrantPayload> {
        grant_transition(ctx, input, Transition::Sign)
            .await
            .map(Into::into)
    }

    /// Closes a signed grant: no more payments; its amount stays committed.
    async fn close_grant(
        &self,
        ctx: &Context<'_>,
        input: GrantVersionInput,
    ) -> async_graphql::Result<CloseGrantPayload> {
        grant_transition(ctx, input, Transition::Close)
            .await
            .map(Into::into)
    }

    /// Cancels a draft, or a signed grant nothing was paid under (its amount is released).
    async fn cancel_grant(
        &self,
        ctx: &Context<'_>,
        input: GrantVersionInput,
    ) -> async_graphql::Result<CancelGrantPayload> {
        grant_transition(ctx, input, Transition::Cancel)
            .await
            .map(Into::into)
    }

    /// Records a payment under a signed grant: refused with `grant_exceeded` if payments would exceed the grant.
    async fn record_disbursement(
        &self,
        ctx: &Context<'_>,
        input: RecordDisbursementInput,
    ) -> async_graphql::Result<RecordDisbursementPayload> {
        let actor = writer(ctx)?;
        let grant_id = match parse_int(&input.grant_id, NodeKind::Grant).map_err(|e| e.to_string())
        {
            Ok(id) => id,
            Err(m) => {
                return Ok(RecordDisbursementPayload {
                    disbursement: None,
                    user_errors: vec![id_error(FieldPath::new("input").push("grantId"), m)],
                });
            }
        };
        let s = state(ctx)?;
        let new = funding::NewDisbursement {
            grant_id,
            amount: Money(input.amount.0),
            paid_on: input.paid_on.0,
            reference: input.reference,
        };
        match funding::record_disbursement(&s.db, &actor, new).await {
            Ok(d) => Ok(RecordDisbursementPayload {
                disbursement: Some(DisbursementNode(d)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(RecordDisbursementPayload {
                disbursement: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Records a collectivité's Pass numérique programme (BdT reviewers, admins).
    async fn create_pass_programme(
        &self,
        ctx: &Context<'_>,
        input: PassProgrammeInput,
    ) -> async_graphql::Result<CreatePassProgrammePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let data = programme_input(input, &mut errors);
        if !errors.is_empty() {
            return Ok(CreatePassProgrammePayload {
                programme: None,
                user_errors: errors,
            });
        }
        let s = state(ctx)?;
        match funding::create_pass_programme(&s.db, &actor, data).await {
            Ok(p) => Ok(CreatePassProgrammePayload {
                programme: Some(PassProgrammeNode(p)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(CreatePassProgrammePayload {
                programme: None,
                user_errors: classify(&e)?,
            }),
        }
    }

    /// Replaces a Pass numérique programme's content at the given version (BdT reviewers, admins).
    async fn update_pass_programme(
        &self,
        ctx: &Context<'_>,
        input: UpdatePassProgrammeInput,
    ) -> async_graphql::Result<UpdatePassProgrammePayload> {
        let actor = writer(ctx)?;
        let mut errors = Vec::new();
        let id = parse_int(&input.id, NodeKind::PassProgramme)
            .map_err(|e| e.to_string())
            .map_err(|m| errors.push(id_error(FieldPath::new("input").push("id"), m)))
            .ok();
        let data = programme_input(input.programme, &mut errors);
        let Some(id) = id.filter(|_| errors.is_empty()) else {
            return Ok(UpdatePassProgrammePayload {
                programme: None,
                user_errors: errors,
            });
        };
        let s = state(ctx)?;
        match funding::update_pass_programme(&s.db, &actor, id, input.version, data).await {
            Ok(p) => Ok(UpdatePassProgrammePayload {
                programme: Some(PassProgrammeNode(p)),
                user_errors: Vec::new(),
            }),
            Err(e) => Ok(UpdatePassProgrammePayload {
                programme: None,
                user_errors: classify(&e)?,
            }),
        }
    }
}

/// A user error per problem (an unknown beneficiary and a wrong amount are two), or a GraphQL error (permission,
/// internal).
fn classify(e: &FundingError) -> async_graphql::Result<Vec<UserError>> {
    let mut out = Vec::new();
    for one in e.each() {
        out.extend(crate::kit::payload::classify(one)?);
    }
    Ok(out)
}

pub(crate) async fn grant_payload(
    ctx: &Context<'_>,
    result: Result<Grant, FundingError>,
) -> async_graphql::Result<GrantPayload> {
    match result {
        Ok(g) => Ok(GrantPayload {
            grant: Some(grant_node(ctx, g).await?),
            user_errors: Vec::new(),
        }),
        Err(e) => Ok(GrantPayload {
            grant: None,
            user_errors: classify(&e)?,
        }),
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Transition {
    Sign,
    Close,
    Cancel,
}

pub(crate) async fn grant_transition(
    ctx: &Context<'_>,
    input: GrantVersionInput,
    transition: Transition,
) -> async_graphql::Result<GrantPayload> {
    let actor = writer(ctx)?;
    let id = match parse_int(&input.id, NodeKind::Grant).map_err(|e| e.to_string()) {
        Ok(id) => id,
        Err(m) => {
            return Ok(GrantPayload {
                grant: None,
                user_errors: vec![id_error(FieldPath::new("input").push("id"), m)],
            });
        }
    };
    let s = state(ctx)?;
    let result = match transition {
        Transition::Sign => funding::sign_grant(&s.db, &actor, id, input.version).await,
        Transition::Close => funding::close_grant(&s.db, &actor, id, input.version).await,
        Transition::Cancel => funding::cancel_grant(&s.db, &actor, id, input.version).await,
    };
    grant_payload(ctx, result).await
}
