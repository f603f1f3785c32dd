use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pass_programme_site")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub programme_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub site_id: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
