//! Conseillers numériques: host structures, funded posts (conventionnements), counsellors and their site
//! assignments.
//!
//! `counsellor_assignment.site_id` names a site of the sites domain without a foreign key: domains own their tables
//! and link through typed ids, so either side can evolve (or archive a site) without the other's migrations.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Department {
    Table,
    Code,
}

#[derive(DeriveIden)]
enum HostStructure {
    Table,
    Id,
    Siret,
    Name,
    Kind,
    Address,
    PostalCode,
    Commune,
    DepartmentCode,
    FranceServices,
    Zrr,
    Qpv,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FundedPost {
    Table,
    Id,
    StructureId,
    Renewal,
    Requested,
    Granted,
    CommitteeDecision,
    CommitteeDate,
    AgreementStart,
    AgreementEnd,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Counsellor {
    Table,
    Id,
    ExternalId,
    StructureId,
    PostId,
    DepartmentCode,
    FirstName,
    LastName,
    Email,
    PersonalEmail,
    Phone,
    Status,
    RecruitedOn,
    TrainingStartedOn,
    ActiveSince,
    EndedOn,
    ContractType,
    ContractStart,
    ContractEnd,
    TrainingCompletedOn,
    PixCertified,
    HostShare,
    IsCoordinator,
    CoordinatorId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CounsellorAssignment {
    Table,
    CounsellorId,
    SiteId,
    Share,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HostStructure::Table)
                    .col(pk_auto(HostStructure::Id))
                    .col(string_len(HostStructure::Siret, 14))
                    .col(string(HostStructure::Name))
                    .col(string_len(HostStructure::Kind, 32))
                    .col(string_null(HostStructure::Address))
                    .col(string_len_null(HostStructure::PostalCode, 5))
                    .col(string_null(HostStructure::Commune))
                    .col(string_len(HostStructure::DepartmentCode, 3))
                    .col(boolean(HostStructure::FranceServices).default(false))
                    .col(boolean(HostStructure::Zrr).default(false))
                    .col(boolean(HostStructure::Qpv).default(false))
                    .col(integer(HostStructure::Version).default(1))
                    .col(timestamp_with_time_zone(HostStructure::CreatedAt))
                    .col(timestamp_with_time_zone(HostStructure::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_host_structure_department")
                            .from(HostStructure::Table, HostStructure::DepartmentCode)
                            .to(Department::Table, Department::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_host_structure_siret")
                    .table(HostStructure::Table)
                    .col(HostStructure::Siret)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_host_structure_department")
                    .table(HostStructure::Table)
                    .col(HostStructure::DepartmentCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FundedPost::Table)
                    .col(pk_auto(FundedPost::Id))
                    .col(integer(FundedPost::StructureId))
                    .col(boolean(FundedPost::Renewal).default(false))
                    .col(integer(FundedPost::Requested))
                    .col(integer(FundedPost::Granted).default(0))
                    .col(string_len(FundedPost::CommitteeDecision, 16))
                    .col(date_null(FundedPost::CommitteeDate))
                    .col(date_null(FundedPost::AgreementStart))
                    .col(date_null(FundedPost::AgreementEnd))
                    .col(integer(FundedPost::Version).default(1))
                    .col(timestamp_with_time_zone(FundedPost::CreatedAt))
                    .col(timestamp_with_time_zone(FundedPost::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_funded_post_structure")
                            .from(FundedPost::Table, FundedPost::StructureId)
                            .to(HostStructure::Table, HostStructure::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_funded_post_structure_renewal")
                    .table(FundedPost::Table)
                    .col(FundedPost::StructureId)
                    .col(FundedPost::Renewal)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Counsellor::Table)
                    .col(pk_auto(Counsellor::Id))
                    .col(string_len(Counsellor::ExternalId, 64))
                    .col(integer(Counsellor::StructureId))
                    .col(integer_null(Counsellor::PostId))
                    .col(string_len(Counsellor::DepartmentCode, 3))
                    .col(string(Counsellor::FirstName))
                    .col(string(Counsellor::LastName))
                    .col(string_null(Counsellor::Email))
                    .col(string_null(Counsellor::PersonalEmail))
                    .col(string_null(Counsellor::Phone))
                    .col(string_len(Counsellor::Status, 16))
                    .col(date_null(Counsellor::RecruitedOn))
                    .col(date_null(Counsellor::TrainingStartedOn))
                    .col(date_null(Counsellor::ActiveSince))
                    .col(date_null(Counsellor::EndedOn))
                    .col(string_len_null(Counsellor::ContractType, 24))
                    .col(date_null(Counsellor::ContractStart))
                    .col(date_null(Counsellor::ContractEnd))
                    .col(date_null(Counsellor::TrainingCompletedOn))
                    .col(boolean(Counsellor::PixCertified).default(false))
                    .col(integer(Counsellor::HostShare).default(0))
                    .col(boolean(Counsellor::IsCoordinator).default(false))
                    .col(integer_null(Counsellor::CoordinatorId))
                    .col(integer(Counsellor::Version).default(1))
                    .col(timestamp_with_time_zone(Counsellor::CreatedAt))
                    .col(timestamp_with_time_zone(Counsellor::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_counsellor_structure")
                            .from(Counsellor::Table, Counsellor::StructureId)
                            .to(HostStructure::Table, HostStructure::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_counsellor_post")
                            .from(Counsellor::Table, Counsellor::PostId)
                            .to(FundedPost::Table, FundedPost::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_counsellor_coordinator")
                            .from(Counsellor::Table, Counsellor::CoordinatorId)
                            .to(Counsellor::Table, Counsellor::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("uq_counsellor_external_id", Counsellor::ExternalId),
            ("idx_counsellor_department", Counsellor::DepartmentCode),
            ("idx_counsellor_structure", Counsellor::StructureId),
        ] {
            let mut index = Index::create();
            index.name(name).table(Counsellor::Table).col(col);
            if name.starts_with("uq_") {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(CounsellorAssignment::Table)
                    .col(integer(CounsellorAssignment::CounsellorId))
                    .col(integer(CounsellorAssignment::SiteId))
                    .col(integer(CounsellorAssignment::Share))
                    .primary_key(
                        Index::create()
                            .col(CounsellorAssignment::CounsellorId)
                            .col(CounsellorAssignment::SiteId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_counsellor_assignment_counsellor")
                            .from(
                                CounsellorAssignment::Table,
                                CounsellorAssignment::CounsellorId,
                            )
                            .to(Counsellor::Table, Counsellor::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_counsellor_assignment_site")
                    .table(CounsellorAssignment::Table)
                    .col(CounsellorAssignment::SiteId)
                    .col(CounsellorAssignment::CounsellorId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CounsellorAssignment::Table.into_iden(),
            Counsellor::Table.into_iden(),
            FundedPost::Table.into_iden(),
            HostStructure::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
