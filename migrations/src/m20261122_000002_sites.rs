//! Lieux de médiation numérique in their normalised form, and their multi-valued fields.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Department {
    Table,
    Code,
}

#[derive(DeriveIden)]
enum Site {
    Table,
    Id,
    Source,
    SourceId,
    StandardVersion,
    Pivot,
    Name,
    Commune,
    PostalCode,
    InseeCode,
    DepartmentCode,
    Address,
    AddressComplement,
    Latitude,
    Longitude,
    BanKey,
    Phone,
    Emails,
    Website,
    OpeningHours,
    OpeningHoursValid,
    Summary,
    Description,
    SourceLabel,
    ParentStructure,
    UpdatedOn,
    OtherLabels,
    AccessibilityUrl,
    BookingUrl,
    SearchText,
    SortName,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SiteValue {
    Table,
    SiteId,
    Kind,
    Position,
    Value,
    Raw,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Keyset pagination compares sort keys both in SQL and in Rust: the column must sort by code point, as
        // SQLite's default BINARY collation does. PostgreSQL's default collation follows the server locale, so it
        // is pinned to "C" there.
        let mut sort_name = string(Site::SortName);
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            sort_name.extra("COLLATE \"C\"");
        }
        manager
            .create_table(
                Table::create()
                    .table(Site::Table)
                    .col(pk_auto(Site::Id))
                    .col(string(Site::Source))
                    .col(string(Site::SourceId))
                    .col(string_len(Site::StandardVersion, 8))
                    .col(string(Site::Pivot))
                    .col(string(Site::Name))
                    .col(string(Site::Commune))
                    .col(string_len(Site::PostalCode, 5))
                    .col(string_len_null(Site::InseeCode, 5))
                    .col(string_len_null(Site::DepartmentCode, 3))
                    .col(string(Site::Address))
                    .col(string_null(Site::AddressComplement))
                    .col(double_null(Site::Latitude))
                    .col(double_null(Site::Longitude))
                    .col(string_null(Site::BanKey))
                    .col(string_null(Site::Phone))
                    .col(text_null(Site::Emails))
                    .col(text_null(Site::Website))
                    .col(text_null(Site::OpeningHours))
                    .col(boolean_null(Site::OpeningHoursValid))
                    .col(text_null(Site::Summary))
                    .col(text_null(Site::Description))
                    .col(string_null(Site::SourceLabel))
                    .col(text_null(Site::ParentStructure))
                    .col(date(Site::UpdatedOn))
                    .col(text_null(Site::OtherLabels))
                    .col(text_null(Site::AccessibilityUrl))
                    .col(text_null(Site::BookingUrl))
                    .col(text(Site::SearchText))
                    .col(sort_name)
                    .col(integer(Site::Version).default(1))
                    .col(timestamp_with_time_zone(Site::CreatedAt))
                    .col(timestamp_with_time_zone(Site::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_site_department")
                            .from(Site::Table, Site::DepartmentCode)
                            .to(Department::Table, Department::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_site_source_id")
                    .table(Site::Table)
                    .col(Site::Source)
                    .col(Site::SourceId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_site_department_name")
                    .table(Site::Table)
                    .col(Site::DepartmentCode)
                    .col(Site::SortName)
                    .col(Site::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_site_sort_name")
                    .table(Site::Table)
                    .col(Site::SortName)
                    .col(Site::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SiteValue::Table)
                    .col(integer(SiteValue::SiteId))
                    .col(string_len(SiteValue::Kind, 32))
                    .col(integer(SiteValue::Position))
                    .col(string_null(SiteValue::Value))
                    .col(text(SiteValue::Raw))
                    .primary_key(
                        Index::create()
                            .col(SiteValue::SiteId)
                            .col(SiteValue::Kind)
                            .col(SiteValue::Position),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_site_value_site")
                            .from(SiteValue::Table, SiteValue::SiteId)
                            .to(Site::Table, Site::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_site_value_kind_value")
                    .table(SiteValue::Table)
                    .col(SiteValue::Kind)
                    .col(SiteValue::Value)
                    .col(SiteValue::SiteId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SiteValue::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Site::Table).to_owned())
            .await
    }
}
