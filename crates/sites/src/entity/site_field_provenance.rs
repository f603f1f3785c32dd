use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "site_field_provenance")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub site_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub field: String,
    pub origin: String,
    pub feed_id: Option<i32>,
    pub import_job_id: Option<i32>,
    pub file_name: Option<String>,
    pub file_date: Option<Date>,
    pub record_site_id: Option<i32>,
    pub actor: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
