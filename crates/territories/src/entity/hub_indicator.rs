//! `hub_indicator`: a figure a hub (or, with no hub, the whole network of hubs) reports, as it stands now.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "hub_indicator")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub hub_id: Option<i32>,
    pub hub_key: i32,
    pub code: String,
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub observed_on: Date,
    pub source: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
