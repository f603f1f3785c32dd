//! Funding: envelopes (a tree of programme lines), funding rules, grants, disbursements and Pass numérique
//! programmes. Money is stored as integer cents (`BIGINT`), never as floating point.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Site {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum FundingEnvelope {
    Table,
    Id,
    ParentId,
    Code,
    Name,
    AmountCents,
    Source,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FundingRule {
    Table,
    Id,
    HostKind,
    DepartmentCode,
    AmountPerPostCents,
    TrainingCents,
    KitCents,
    CertificationCents,
    ValidFrom,
    ValidTo,
    Source,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FundingGrant {
    Table,
    Id,
    EnvelopeId,
    BeneficiaryKind,
    BeneficiaryRef,
    BeneficiaryName,
    Contact,
    HubId,
    DepartmentCode,
    RegionCode,
    AmountCents,
    Posts,
    StartsOn,
    EndsOn,
    Status,
    SignedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FundingDisbursement {
    Table,
    Id,
    GrantId,
    AmountCents,
    PaidOn,
    Reference,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PassProgramme {
    Table,
    Id,
    Collectivite,
    DepartmentCode,
    AmountCents,
    VouchersIssued,
    VouchersUsed,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PassProgrammeSite {
    Table,
    ProgrammeId,
    SiteId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FundingEnvelope::Table)
                    .col(pk_auto(FundingEnvelope::Id))
                    .col(integer_null(FundingEnvelope::ParentId))
                    .col(string_len_uniq(FundingEnvelope::Code, 64))
                    .col(string(FundingEnvelope::Name))
                    .col(big_integer(FundingEnvelope::AmountCents))
                    .col(string_null(FundingEnvelope::Source))
                    .col(integer(FundingEnvelope::Version))
                    .col(timestamp_with_time_zone(FundingEnvelope::CreatedAt))
                    .col(timestamp_with_time_zone(FundingEnvelope::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_envelope_parent")
                            .from(FundingEnvelope::Table, FundingEnvelope::ParentId)
                            .to(FundingEnvelope::Table, FundingEnvelope::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FundingRule::Table)
                    .col(pk_auto(FundingRule::Id))
                    .col(string_len(FundingRule::HostKind, 16))
                    .col(string_len_null(FundingRule::DepartmentCode, 3))
                    .col(big_integer(FundingRule::AmountPerPostCents))
                    .col(big_integer(FundingRule::TrainingCents))
                    .col(big_integer(FundingRule::KitCents))
                    .col(big_integer(FundingRule::CertificationCents))
                    .col(date(FundingRule::ValidFrom))
                    .col(date_null(FundingRule::ValidTo))
                    .col(string(FundingRule::Source))
                    .col(integer(FundingRule::Version))
                    .col(timestamp_with_time_zone(FundingRule::CreatedAt))
                    .col(timestamp_with_time_zone(FundingRule::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FundingGrant::Table)
                    .col(pk_auto(FundingGrant::Id))
                    .col(integer(FundingGrant::EnvelopeId))
                    .col(string_len(FundingGrant::BeneficiaryKind, 32))
                    .col(string(FundingGrant::BeneficiaryRef))
                    .col(string(FundingGrant::BeneficiaryName))
                    .col(string_null(FundingGrant::Contact))
                    .col(integer_null(FundingGrant::HubId))
                    .col(string_len_null(FundingGrant::DepartmentCode, 3))
                    .col(string_len_null(FundingGrant::RegionCode, 2))
                    .col(big_integer(FundingGrant::AmountCents))
                    .col(integer(FundingGrant::Posts))
                    .col(date(FundingGrant::StartsOn))
                    .col(date_null(FundingGrant::EndsOn))
                    .col(string_len(FundingGrant::Status, 16))
                    .col(timestamp_with_time_zone_null(FundingGrant::SignedAt))
                    .col(integer(FundingGrant::Version))
                    .col(timestamp_with_time_zone(FundingGrant::CreatedAt))
                    .col(timestamp_with_time_zone(FundingGrant::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_grant_envelope")
                            .from(FundingGrant::Table, FundingGrant::EnvelopeId)
                            .to(FundingEnvelope::Table, FundingEnvelope::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_funding_grant_envelope_status")
                    .table(FundingGrant::Table)
                    .col(FundingGrant::EnvelopeId)
                    .col(FundingGrant::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FundingDisbursement::Table)
                    .col(pk_auto(FundingDisbursement::Id))
                    .col(integer(FundingDisbursement::GrantId))
                    .col(big_integer(FundingDisbursement::AmountCents))
                    .col(date(FundingDisbursement::PaidOn))
                    .col(string_null(FundingDisbursement::Reference))
                    .col(timestamp_with_time_zone(FundingDisbursement::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funding_disbursement_grant")
                            .from(FundingDisbursement::Table, FundingDisbursement::GrantId)
                            .to(FundingGrant::Table, FundingGrant::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_funding_disbursement_grant")
                    .table(FundingDisbursement::Table)
                    .col(FundingDisbursement::GrantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PassProgramme::Table)
                    .col(pk_auto(PassProgramme::Id))
                    .col(string(PassProgramme::Collectivite))
                    .col(string_len_null(PassProgramme::DepartmentCode, 3))
                    .col(big_integer(PassProgramme::AmountCents))
                    .col(big_integer(PassProgramme::VouchersIssued))
                    .col(big_integer(PassProgramme::VouchersUsed))
                    .col(integer(PassProgramme::Version))
                    .col(timestamp_with_time_zone(PassProgramme::CreatedAt))
                    .col(timestamp_with_time_zone(PassProgramme::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PassProgrammeSite::Table)
                    .col(integer(PassProgrammeSite::ProgrammeId))
                    .col(integer(PassProgrammeSite::SiteId))
                    .primary_key(
                        Index::create()
                            .col(PassProgrammeSite::ProgrammeId)
                            .col(PassProgrammeSite::SiteId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pass_programme_site_programme")
                            .from(PassProgrammeSite::Table, PassProgrammeSite::ProgrammeId)
                            .to(PassProgramme::Table, PassProgramme::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_pass_programme_site_site")
                            .from(PassProgrammeSite::Table, PassProgrammeSite::SiteId)
                            .to(Site::Table, Site::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PassProgrammeSite::Table.into_iden(),
            PassProgramme::Table.into_iden(),
            FundingDisbursement::Table.into_iden(),
            FundingGrant::Table.into_iden(),
            FundingRule::Table.into_iden(),
            FundingEnvelope::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
