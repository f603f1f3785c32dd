//! `department`: the 101 departments, keyed by INSEE code, each in one region.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "department")]
pub struct Model {
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(3))"
    )]
    pub code: String,
    pub name: String,
    #[sea_orm(column_type = "String(StringLen::N(3))")]
    pub region_code: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::region::Entity",
        from = "Column::RegionCode",
        to = "super::region::Column::Code"
    )]
    Region,
    #[sea_orm(has_many = "super::hub_department::Entity")]
    HubDepartment,
}

impl Related<super::region::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Region.def()
    }
}

impl Related<super::hub_department::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::HubDepartment.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
