//! Opening the database ready for use: connected, migrated, reference data seeded.

use maillage_migrations::{Migrator, MigratorTrait};
use sea_orm::{DatabaseConnection, DbErr};

/// Connects, applies pending migrations and seeds the reference data (idempotent).
///
/// Every entry point calls it, so a fresh machine needs no setup step: the first `maillage` command creates the
/// SQLite file, its tables and the regions, departments and hubs.
pub async fn open_ready(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let db = maillage_core::db::connect(url, max_connections, None).await?;
    make_ready(&db).await?;
    Ok(db)
}

/// Migrates and seeds an open connection.
pub async fn make_ready(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    maillage_territories::seed_reference_data(db)
        .await
        .map_err(|e| DbErr::Custom(format!("seeding reference data failed: {e}")))?;
    maillage_funding::seed_reference_data(db)
        .await
        .map_err(|e| DbErr::Custom(format!("seeding funding reference data failed: {e}")))?;
    maillage_ami::seed_reference_data(db)
        .await
        .map_err(|e| DbErr::Custom(format!("seeding AMI reference data failed: {e}")))?;
    Ok(())
}

/// A URL safe to log: the password, if any, is hidden.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            super::redact("sqlite://maillage.db?mode=rwc"),
            "sqlite://maillage.db?mode=rwc"
        );
    }
}
