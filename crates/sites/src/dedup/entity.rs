//! The dedup tables (private to the crate, like every entity).

pub(crate) mod site_match {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "site_match")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub site_a: i32,
        pub site_b: i32,
        pub score: f64,
        pub reasons: String,
        pub status: String,
        pub department_a: Option<String>,
        pub department_b: Option<String>,
        pub decided_by: Option<String>,
        pub decided_at: Option<DateTimeUtc>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod site_override {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "site_override")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub site_id: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub field: String,
        pub value: Option<String>,
        pub actor: String,
        pub at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
