use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "host_structure")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub siret: String,
    pub name: String,
    pub kind: String,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub commune: Option<String>,
    pub department_code: String,
    pub france_services: bool,
    pub zrr: bool,
    pub qpv: bool,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
