//! Opening the database ready for use: connected, migrated, reference data seeded.

use maillage_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

/// Connects, applies pending migrations and seeds the reference data (idempotent).
///
/// Every entry point calls it, so a fresh machine needs no setup step: the first `maillage` command creates the
/// SQLite file, its tables and the regions, departments and hubs.
///
/// On PostgreSQL, several instances may start at once against one database (a rolling deploy): the migrations and
/// the seeding run under a session-level advisory lock held on a connection of its own, so one instance migrates
/// while the others wait, then find nothing left to do. The lock dies with its connection, so a crashed instance
/// cannot leave it held.
pub async fn open_ready(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let db = maillage_core::db::connect(url, max_connections, None).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        let lock = maillage_core::db::connect(url, 1, None).await?;
        lock.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .await?;
        let ready = make_ready(&db).await;
        let unlocked = lock
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
            .await;
        // Closing the connection releases the lock anyway; an unlock error only matters if migrating succeeded.
        let _ = lock.close().await;
        ready?;
        unlocked?;
    } else {
        make_ready(&db).await?;
    }
    Ok(db)
}

/// The advisory lock key that serialises migrations between instances (an arbitrary constant, "maillage" in hex
/// digits, so other applications sharing the server are unlikely to pick it).
const MIGRATION_LOCK_KEY: i64 = 0x6d61_696c_6c61_6765;

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
