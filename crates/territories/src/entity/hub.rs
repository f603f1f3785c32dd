//! `hub`: the hubs territoriaux. Seeded once per slug, then owned by admins (see the crate README).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hub")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub website: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::hub_department::Entity")]
    HubDepartment,
}

impl Related<super::hub_department::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HubDepartment.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
