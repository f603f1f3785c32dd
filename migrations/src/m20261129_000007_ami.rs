//! AMI: campaigns (with priority regions and a scoring grid), applications (with the departments they cover),
//! attachments' metadata, reviewers' score sheets and scores, declared conflicts of interest. Money is integer cents.
//! Consortium, budget and co-funding lines are JSON text: they are read and written with their dossier, never
//! queried on their own.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum FundingEnvelope {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AmiCampaign {
    Table,
    Id,
    Code,
    Name,
    OpensAt,
    ClosesAt,
    EnvelopeId,
    MaxPerHubCents,
    QpvBonusCents,
    AcvBonusCents,
    MaxAttachmentBytes,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AmiCampaignRegion {
    Table,
    CampaignId,
    RegionCode,
}

#[derive(DeriveIden)]
enum AmiCriterion {
    Table,
    Id,
    CampaignId,
    Code,
    Label,
    Weight,
    MaxScore,
    Position,
}

#[derive(DeriveIden)]
enum AmiApplication {
    Table,
    Id,
    CampaignId,
    Owner,
    Status,
    HubName,
    CarrierName,
    CarrierSiret,
    CarrierLegalForm,
    Consortium,
    Qpv,
    Acv,
    ActionProgramme,
    Budget,
    AmountRequestedCents,
    CoFunding,
    Governance,
    SubmittedAt,
    ChangesRequested,
    DecidedAt,
    DecisionReason,
    AwardedCents,
    HubId,
    GrantId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AmiApplicationDepartment {
    Table,
    ApplicationId,
    DepartmentCode,
}

#[derive(DeriveIden)]
enum AmiAttachment {
    Table,
    Id,
    ApplicationId,
    StorageKey,
    FileName,
    ContentType,
    SizeBytes,
    Sha256,
    UploadedBy,
    UploadedAt,
}

#[derive(DeriveIden)]
enum AmiScoreSheet {
    Table,
    Id,
    ApplicationId,
    Reviewer,
    Comment,
    Weighted,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AmiScore {
    Table,
    SheetId,
    CriterionId,
    Score,
}

#[derive(DeriveIden)]
enum AmiConflict {
    Table,
    ApplicationId,
    Reviewer,
    Reason,
    DeclaredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AmiCampaign::Table)
                    .col(pk_auto(AmiCampaign::Id))
                    .col(string_len_uniq(AmiCampaign::Code, 64))
                    .col(string(AmiCampaign::Name))
                    .col(timestamp_with_time_zone(AmiCampaign::OpensAt))
                    .col(timestamp_with_time_zone(AmiCampaign::ClosesAt))
                    .col(integer(AmiCampaign::EnvelopeId))
                    .col(big_integer(AmiCampaign::MaxPerHubCents))
                    .col(big_integer(AmiCampaign::QpvBonusCents))
                    .col(big_integer(AmiCampaign::AcvBonusCents))
                    .col(big_integer(AmiCampaign::MaxAttachmentBytes))
                    .col(integer(AmiCampaign::Version))
                    .col(timestamp_with_time_zone(AmiCampaign::CreatedAt))
                    .col(timestamp_with_time_zone(AmiCampaign::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_campaign_envelope")
                            .from(AmiCampaign::Table, AmiCampaign::EnvelopeId)
                            .to(FundingEnvelope::Table, FundingEnvelope::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiCampaignRegion::Table)
                    .col(integer(AmiCampaignRegion::CampaignId))
                    .col(string_len(AmiCampaignRegion::RegionCode, 2))
                    .primary_key(
                        Index::create()
                            .col(AmiCampaignRegion::CampaignId)
                            .col(AmiCampaignRegion::RegionCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_campaign_region_campaign")
                            .from(AmiCampaignRegion::Table, AmiCampaignRegion::CampaignId)
                            .to(AmiCampaign::Table, AmiCampaign::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiCriterion::Table)
                    .col(pk_auto(AmiCriterion::Id))
                    .col(integer(AmiCriterion::CampaignId))
                    .col(string_len(AmiCriterion::Code, 64))
                    .col(string(AmiCriterion::Label))
                    .col(integer(AmiCriterion::Weight))
                    .col(integer(AmiCriterion::MaxScore))
                    .col(integer(AmiCriterion::Position))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_criterion_campaign")
                            .from(AmiCriterion::Table, AmiCriterion::CampaignId)
                            .to(AmiCampaign::Table, AmiCampaign::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_ami_criterion_campaign_code")
                    .table(AmiCriterion::Table)
                    .col(AmiCriterion::CampaignId)
                    .col(AmiCriterion::Code)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiApplication::Table)
                    .col(pk_auto(AmiApplication::Id))
                    .col(integer(AmiApplication::CampaignId))
                    .col(string(AmiApplication::Owner))
                    .col(string_len(AmiApplication::Status, 32))
                    .col(string(AmiApplication::HubName))
                    .col(string(AmiApplication::CarrierName))
                    .col(string_len(AmiApplication::CarrierSiret, 14))
                    .col(string(AmiApplication::CarrierLegalForm))
                    .col(text(AmiApplication::Consortium))
                    .col(boolean(AmiApplication::Qpv).default(false))
                    .col(boolean(AmiApplication::Acv).default(false))
                    .col(text(AmiApplication::ActionProgramme))
                    .col(text(AmiApplication::Budget))
                    .col(big_integer(AmiApplication::AmountRequestedCents))
                    .col(text(AmiApplication::CoFunding))
                    .col(text(AmiApplication::Governance))
                    .col(timestamp_with_time_zone_null(AmiApplication::SubmittedAt))
                    .col(text_null(AmiApplication::ChangesRequested))
                    .col(timestamp_with_time_zone_null(AmiApplication::DecidedAt))
                    .col(text_null(AmiApplication::DecisionReason))
                    .col(big_integer_null(AmiApplication::AwardedCents))
                    .col(integer_null(AmiApplication::HubId))
                    .col(integer_null(AmiApplication::GrantId))
                    .col(integer(AmiApplication::Version))
                    .col(timestamp_with_time_zone(AmiApplication::CreatedAt))
                    .col(timestamp_with_time_zone(AmiApplication::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_application_campaign")
                            .from(AmiApplication::Table, AmiApplication::CampaignId)
                            .to(AmiCampaign::Table, AmiCampaign::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ami_application_campaign_status")
                    .table(AmiApplication::Table)
                    .col(AmiApplication::CampaignId)
                    .col(AmiApplication::Status)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ami_application_owner")
                    .table(AmiApplication::Table)
                    .col(AmiApplication::Owner)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiApplicationDepartment::Table)
                    .col(integer(AmiApplicationDepartment::ApplicationId))
                    .col(string_len(AmiApplicationDepartment::DepartmentCode, 3))
                    .primary_key(
                        Index::create()
                            .col(AmiApplicationDepartment::ApplicationId)
                            .col(AmiApplicationDepartment::DepartmentCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_application_department_application")
                            .from(
                                AmiApplicationDepartment::Table,
                                AmiApplicationDepartment::ApplicationId,
                            )
                            .to(AmiApplication::Table, AmiApplication::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ami_application_department_code")
                    .table(AmiApplicationDepartment::Table)
                    .col(AmiApplicationDepartment::DepartmentCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiAttachment::Table)
                    .col(pk_auto(AmiAttachment::Id))
                    .col(integer(AmiAttachment::ApplicationId))
                    .col(string_len_uniq(AmiAttachment::StorageKey, 128))
                    .col(string(AmiAttachment::FileName))
                    .col(string_len(AmiAttachment::ContentType, 64))
                    .col(big_integer(AmiAttachment::SizeBytes))
                    .col(string_len(AmiAttachment::Sha256, 64))
                    .col(string(AmiAttachment::UploadedBy))
                    .col(timestamp_with_time_zone(AmiAttachment::UploadedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_attachment_application")
                            .from(AmiAttachment::Table, AmiAttachment::ApplicationId)
                            .to(AmiApplication::Table, AmiApplication::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ami_attachment_application")
                    .table(AmiAttachment::Table)
                    .col(AmiAttachment::ApplicationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiScoreSheet::Table)
                    .col(pk_auto(AmiScoreSheet::Id))
                    .col(integer(AmiScoreSheet::ApplicationId))
                    .col(string(AmiScoreSheet::Reviewer))
                    .col(text_null(AmiScoreSheet::Comment))
                    .col(double(AmiScoreSheet::Weighted))
                    .col(integer(AmiScoreSheet::Version))
                    .col(timestamp_with_time_zone(AmiScoreSheet::CreatedAt))
                    .col(timestamp_with_time_zone(AmiScoreSheet::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_score_sheet_application")
                            .from(AmiScoreSheet::Table, AmiScoreSheet::ApplicationId)
                            .to(AmiApplication::Table, AmiApplication::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_ami_score_sheet_application_reviewer")
                    .table(AmiScoreSheet::Table)
                    .col(AmiScoreSheet::ApplicationId)
                    .col(AmiScoreSheet::Reviewer)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiScore::Table)
                    .col(integer(AmiScore::SheetId))
                    .col(integer(AmiScore::CriterionId))
                    .col(integer(AmiScore::Score))
                    .primary_key(
                        Index::create()
                            .col(AmiScore::SheetId)
                            .col(AmiScore::CriterionId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_score_sheet")
                            .from(AmiScore::Table, AmiScore::SheetId)
                            .to(AmiScoreSheet::Table, AmiScoreSheet::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_score_criterion")
                            .from(AmiScore::Table, AmiScore::CriterionId)
                            .to(AmiCriterion::Table, AmiCriterion::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AmiConflict::Table)
                    .col(integer(AmiConflict::ApplicationId))
                    .col(string(AmiConflict::Reviewer))
                    .col(text_null(AmiConflict::Reason))
                    .col(timestamp_with_time_zone(AmiConflict::DeclaredAt))
                    .primary_key(
                        Index::create()
                            .col(AmiConflict::ApplicationId)
                            .col(AmiConflict::Reviewer),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ami_conflict_application")
                            .from(AmiConflict::Table, AmiConflict::ApplicationId)
                            .to(AmiApplication::Table, AmiApplication::Id),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AmiConflict::Table.into_iden(),
            AmiScore::Table.into_iden(),
            AmiScoreSheet::Table.into_iden(),
            AmiAttachment::Table.into_iden(),
            AmiApplicationDepartment::Table.into_iden(),
            AmiApplication::Table.into_iden(),
            AmiCriterion::Table.into_iden(),
            AmiCampaignRegion::Table.into_iden(),
            AmiCampaign::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
