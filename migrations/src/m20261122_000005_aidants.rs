//! Aidants Connect: organisations, aidants, the organisations they work for, and monthly mandate aggregates.
//!
//! No table has a column for the person helped (usager): mandates are stored only as counts per organisation ×
//! démarche × month × duration.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Hub {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AidantsOrganisation {
    Table,
    Id,
    Name,
    Siret,
    Kind,
    Address,
    PostalCode,
    Commune,
    DepartmentCode,
    FranceServices,
    Active,
    SiteId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Aidant {
    Table,
    Id,
    FirstName,
    LastName,
    Email,
    Profession,
    Status,
    RequestedOn,
    TrainedOn,
    TrainingHubId,
    AuthorisedOn,
    RevokedOn,
    CounsellorId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AidantOrganisation {
    Table,
    AidantId,
    OrganisationId,
}

#[derive(DeriveIden)]
enum MandateMonth {
    Table,
    OrganisationId,
    Demarche,
    Month,
    Duration,
    Created,
    Renewed,
    Revoked,
    ActiveAtMonthEnd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AidantsOrganisation::Table)
                    .col(pk_auto(AidantsOrganisation::Id))
                    .col(string(AidantsOrganisation::Name))
                    .col(string_len_uniq(AidantsOrganisation::Siret, 14))
                    .col(string_len(AidantsOrganisation::Kind, 32))
                    .col(string(AidantsOrganisation::Address))
                    .col(string_len_null(AidantsOrganisation::PostalCode, 5))
                    .col(string_null(AidantsOrganisation::Commune))
                    .col(string_len(AidantsOrganisation::DepartmentCode, 3))
                    .col(boolean(AidantsOrganisation::FranceServices))
                    .col(boolean(AidantsOrganisation::Active))
                    .col(integer_null(AidantsOrganisation::SiteId))
                    .col(integer(AidantsOrganisation::Version))
                    .col(timestamp_with_time_zone(AidantsOrganisation::CreatedAt))
                    .col(timestamp_with_time_zone(AidantsOrganisation::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_aidants_organisation_department")
                    .table(AidantsOrganisation::Table)
                    .col(AidantsOrganisation::DepartmentCode)
                    .col(AidantsOrganisation::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Aidant::Table)
                    .col(pk_auto(Aidant::Id))
                    .col(string(Aidant::FirstName))
                    .col(string(Aidant::LastName))
                    .col(string_uniq(Aidant::Email))
                    .col(string_null(Aidant::Profession))
                    .col(string_len(Aidant::Status, 16))
                    .col(date_null(Aidant::RequestedOn))
                    .col(date_null(Aidant::TrainedOn))
                    .col(integer_null(Aidant::TrainingHubId))
                    .col(date_null(Aidant::AuthorisedOn))
                    .col(date_null(Aidant::RevokedOn))
                    .col(integer_null(Aidant::CounsellorId))
                    .col(integer(Aidant::Version))
                    .col(timestamp_with_time_zone(Aidant::CreatedAt))
                    .col(timestamp_with_time_zone(Aidant::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_aidant_training_hub")
                            .from(Aidant::Table, Aidant::TrainingHubId)
                            .to(Hub::Table, Hub::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AidantOrganisation::Table)
                    .col(integer(AidantOrganisation::AidantId))
                    .col(integer(AidantOrganisation::OrganisationId))
                    .primary_key(
                        Index::create()
                            .col(AidantOrganisation::AidantId)
                            .col(AidantOrganisation::OrganisationId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_aidant_organisation_aidant")
                            .from(AidantOrganisation::Table, AidantOrganisation::AidantId)
                            .to(Aidant::Table, Aidant::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_aidant_organisation_organisation")
                            .from(
                                AidantOrganisation::Table,
                                AidantOrganisation::OrganisationId,
                            )
                            .to(AidantsOrganisation::Table, AidantsOrganisation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_aidant_organisation_organisation")
                    .table(AidantOrganisation::Table)
                    .col(AidantOrganisation::OrganisationId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MandateMonth::Table)
                    .col(integer(MandateMonth::OrganisationId))
                    .col(string_len(MandateMonth::Demarche, 16))
                    .col(string_len(MandateMonth::Month, 7))
                    .col(string_len(MandateMonth::Duration, 8))
                    .col(integer(MandateMonth::Created))
                    .col(integer(MandateMonth::Renewed))
                    .col(integer(MandateMonth::Revoked))
                    .col(integer(MandateMonth::ActiveAtMonthEnd))
                    .primary_key(
                        Index::create()
                            .col(MandateMonth::OrganisationId)
                            .col(MandateMonth::Demarche)
                            .col(MandateMonth::Month)
                            .col(MandateMonth::Duration),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mandate_month_organisation")
                            .from(MandateMonth::Table, MandateMonth::OrganisationId)
                            .to(AidantsOrganisation::Table, AidantsOrganisation::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MandateMonth::Table.into_iden(),
            AidantOrganisation::Table.into_iden(),
            Aidant::Table.into_iden(),
            AidantsOrganisation::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
