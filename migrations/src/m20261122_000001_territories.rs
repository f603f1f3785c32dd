//! Regions, departments, hubs and the departments each hub covers.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Region {
    Table,
    Code,
    Name,
}

#[derive(DeriveIden)]
enum Department {
    Table,
    Code,
    Name,
    RegionCode,
}

#[derive(DeriveIden)]
enum Hub {
    Table,
    Id,
    Slug,
    Name,
    Website,
    Description,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HubDepartment {
    Table,
    HubId,
    DepartmentCode,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Region::Table)
                    .col(string_len(Region::Code, 3).primary_key())
                    .col(string(Region::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Department::Table)
                    .col(string_len(Department::Code, 3).primary_key())
                    .col(string(Department::Name))
                    .col(string_len(Department::RegionCode, 3))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_department_region")
                            .from(Department::Table, Department::RegionCode)
                            .to(Region::Table, Region::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_department_region")
                    .table(Department::Table)
                    .col(Department::RegionCode)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Hub::Table)
                    .col(pk_auto(Hub::Id))
                    .col(string_uniq(Hub::Slug))
                    .col(string(Hub::Name))
                    .col(string_null(Hub::Website))
                    .col(text_null(Hub::Description))
                    .col(integer(Hub::Version).default(1))
                    .col(timestamp_with_time_zone(Hub::CreatedAt))
                    .col(timestamp_with_time_zone(Hub::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(HubDepartment::Table)
                    .col(integer(HubDepartment::HubId))
                    .col(string_len(HubDepartment::DepartmentCode, 3))
                    .primary_key(
                        Index::create()
                            .col(HubDepartment::HubId)
                            .col(HubDepartment::DepartmentCode),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hub_department_hub")
                            .from(HubDepartment::Table, HubDepartment::HubId)
                            .to(Hub::Table, Hub::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_hub_department_department")
                            .from(HubDepartment::Table, HubDepartment::DepartmentCode)
                            .to(Department::Table, Department::Code),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_hub_department_department")
                    .table(HubDepartment::Table)
                    .col(HubDepartment::DepartmentCode)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            HubDepartment::Table.into_iden(),
            Hub::Table.into_iden(),
            Department::Table.into_iden(),
            Region::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
