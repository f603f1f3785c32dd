#![doc = include_str!("../README.md")]

pub mod access;
pub mod beneficiary;
mod entity;
pub mod envelopes;
mod error;
pub mod grants;
pub mod import;
pub mod model;
pub mod money;
pub mod pass;
pub mod rules;
pub mod seed;
pub mod statistics;

pub use access::{can_edit_reference_data, can_manage_funding};
pub use beneficiary::{BeneficiaryClaim, BeneficiaryDirectory, FundedPosts, VerifiedBeneficiary};
pub use envelopes::{
    EnvelopePatch, NewEnvelope, consumption, consumption_by_month, consumption_of_all,
    create_envelope, drill_down, envelope_by_code, get_envelope, list_envelopes,
    list_envelopes_synced, update_envelope,
};
pub use error::FundingError;
pub use grants::{
    CheckedGrant, GrantDates, GrantFilter, NewDisbursement, NewGrant, SelectionGrant, cancel_grant,
    check_grant_against, close_grant, create_grant, create_signed_grant_in, disbursed_by_grant,
    get_grant, list_disbursements, list_grants, list_grants_synced, record_disbursement,
    record_grant, sign_grant,
};
pub use model::{
    BeneficiaryKind, Consumption, ConsumptionPart, Disbursement, DrillDown, Envelope, FundingRule,
    Grant, GrantQuote, GrantStatus, HostKind, MonthConsumption, PassProgramme, QuoteLine,
    ReferenceSalary, RuleScheme, SalaryShare, Target, TargetKind, VoucherMovement,
};
pub use money::Money;
pub use pass::{
    PASS_ENVELOPE, PassProgrammeData, create_pass_programme, get_pass_programme,
    list_pass_programmes, update_pass_programme, voucher_movements,
};
pub use rules::{
    NewRule, applicable_rule, create_rule, grant_quote, list_reference_salaries, list_rules,
    quote_from, quote_with, salary_on, salary_per_post, update_rule,
};
pub use seed::{FundingSeedReport, seed_reference_data};
