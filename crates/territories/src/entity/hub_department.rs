//! `hub_department`: which departments each hub covers (many-to-many; deleting a hub deletes its rows).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hub_department")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hub_id: i32,
    #[sea_orm(
        primary_key,
        auto_increment = false,
        column_type = "String(StringLen::N(3))"
    )]
    pub department_code: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::hub::Entity",
        from = "Column::HubId",
        to = "super::hub::Column::Id",
        on_delete = "Cascade"
    )]
    Hub,
    #[sea_orm(
        belongs_to = "super::department::Entity",
        from = "Column::DepartmentCode",
        to = "super::department::Column::Code"
    )]
    Department,
}

impl Related<super::hub::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Hub.def()
    }
}

impl Related<super::department::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Department.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
