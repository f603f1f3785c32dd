use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "site_import_stage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i32,
    pub payload: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
