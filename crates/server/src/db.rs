//! Opening the database ready for use: connected, migrated, reference data seeded.

use maillage_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
use std::str::FromStr;
use std::time::Duration;

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
    open_ready_with(
        url,
        max_connections,
        maillage_core::db::DEFAULT_ACQUIRE_TIMEOUT,
    )
    .await
}

/// [`open_ready`] with the pool's acquire timeout: the server's requests wait at most that long for a connection.
pub async fn open_ready_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let db = maillage_core::db::connect_with(url, max_connections, None, acquire_timeout).await?;
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
        .map_err(|e| failed("seeding reference data", &e))?;
    maillage_funding::seed_reference_data(db)
        .await
        .map_err(|e| failed("seeding funding reference data", &e))?;
    maillage_ami::seed_reference_data(db)
        .await
        .map_err(|e| failed("seeding AMI reference data", &e))?;
    maillage_sites::search::ensure_current(db)
        .await
        .map_err(|e| failed("rebuilding the search index", &e))?;
    Ok(())
}

/// A start-up step's failure with its whole chain of causes. Why: the domains' errors display generically ("database
/// error", so that nothing about the database reaches an API client), but this message goes to the operator starting
/// the server or a command, who needs the database's own words to act.
fn failed(step: &str, error: &dyn std::error::Error) -> DbErr {
    let mut message = format!("{step} failed: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        message.push_str(": ");
        message.push_str(&e.to_string());
        cause = e.source();
    }
    DbErr::Custom(message)
}

/// How long a command waits for the database to answer before saying so: a person at a terminal should not wait
/// for the pool's 30 s acquire timeout to learn that nothing listens on the port.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens the database for a command or the server, with an error a person can act on.
///
/// One plain connection is tried first, within [`PROBE_TIMEOUT`], so that the driver's own error (connection
/// refused, unknown database, authentication failed, unopenable file) is reported with what to do about it,
/// instead of the pool's "pool timed out" after 30 seconds. Then the pool is opened, migrated and seeded.
pub async fn open_for_command(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, String> {
    open_for_serving(
        url,
        max_connections,
        maillage_core::db::DEFAULT_ACQUIRE_TIMEOUT,
    )
    .await
}

/// [`open_for_command`] for the server: its pool waits at most `acquire_timeout` for a connection, so that a
/// request answers `unavailable` within seconds when the database is down, instead of hanging.
pub async fn open_for_serving(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, String> {
    let url = maillage_core::db::normalize_url(url);
    probe(&url).await?;
    open_ready_with(&url, max_connections, acquire_timeout)
        .await
        .map_err(|e| format!("cannot open the database {}: {e}", redact(&url)))
}

/// Tries one connection to a normalised URL, and explains its failure.
pub(crate) async fn probe(url: &str) -> Result<(), String> {
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let shown = redact(url);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(|e| unparsable(&shown, &e))?;
        let at = format!("{}:{}", options.get_host(), options.get_port());
        let user = options.get_username().to_owned();
        let database = options.get_database().unwrap_or(user.as_str()).to_owned();
        match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
            Err(_) => Err(format!(
                "no answer from PostgreSQL at {at} within {} s: is the host reachable, and the port right? ({shown})",
                PROBE_TIMEOUT.as_secs()
            )),
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(explain_postgres(&e, &at, &user, &database, &shown)),
        }
    } else if url.starts_with("sqlite:") {
        if url.contains(":memory:") {
            return Ok(());
        }
        let options = SqliteConnectOptions::from_str(url).map_err(|e| unparsable(&shown, &e))?;
        let file = options.get_filename().display().to_string();
        match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
            Err(_) => Err(format!(
                "the SQLite file {file} did not open within {} s (a network file system, or a lock held by \
                 another program?)",
                PROBE_TIMEOUT.as_secs()
            )),
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                Ok(())
            }
            Ok(Err(e)) => {
                let parent = std::path::Path::new(&file)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty());
                let hint = match parent {
                    Some(dir) if !dir.exists() => {
                        format!(
                            "the directory {} does not exist: create it first",
                            dir.display()
                        )
                    }
                    _ if url.contains("mode=ro")
                        || url.contains("mode=rw&")
                        || url.ends_with("mode=rw") =>
                    {
                        "the file must already exist with this mode: use mode=rwc to create it"
                            .to_owned()
                    }
                    _ => {
                        "check that the file and its directory are readable and writable".to_owned()
                    }
                };
                Err(format!("cannot open the SQLite file {file}: {e}; {hint}"))
            }
        }
    } else {
        Err(format!(
            "DATABASE_URL {shown} is neither a PostgreSQL nor a SQLite URL: use \
             postgres://USER[:PASSWORD]@HOST:PORT/DATABASE, sqlite://FILE or a bare file path such as maillage.db"
        ))
    }
}

fn unparsable(shown: &str, e: &dyn std::fmt::Display) -> String {
    format!(
        "DATABASE_URL {shown} cannot be read ({e}): use postgres://USER[:PASSWORD]@HOST:PORT/DATABASE, \
         sqlite://FILE or a bare file path such as maillage.db"
    )
}

/// What a PostgreSQL connection failure means for the person who typed the URL.
fn explain_postgres(
    e: &sea_orm::sqlx::Error,
    at: &str,
    user: &str,
    database: &str,
    shown: &str,
) -> String {
    use sea_orm::sqlx::Error;
    match e {
        Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "connection refused by {at}: no PostgreSQL listens there. Start it, or fix the host and port in \
             DATABASE_URL ({shown})"
        ),
        Error::Io(io) => format!("cannot reach PostgreSQL at {at}: {io} ({shown})"),
        Error::Database(db) => match db.code().as_deref() {
            Some("3D000") => {
                let (host, port) = at.rsplit_once(':').unwrap_or((at, "5432"));
                format!(
                    "database \"{database}\" does not exist on {at}: create it with \
                     `createdb -h {host} -p {port} -U {user} {database}`, or name an existing one in DATABASE_URL"
                )
            }
            Some("28P01") | Some("28000") => format!(
                "PostgreSQL at {at} refused user \"{user}\": {}. Check the user and password in DATABASE_URL",
                db.message()
            ),
            _ => format!(
                "PostgreSQL at {at} refused the connection: {} ({shown})",
                db.message()
            ),
        },
        Error::Tls(tls) => format!("TLS with PostgreSQL at {at} failed: {tls} ({shown})"),
        other => format!("cannot connect to PostgreSQL at {at}: {other} ({shown})"),
    }
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
    fn a_start_up_failure_says_what_the_database_said() {
        let error = maillage_territories::TerritoriesError::Database(sea_orm::DbErr::Custom(
            "database is locked".to_owned(),
        ));
        assert_eq!(
            super::failed("seeding reference data", &error).to_string(),
            "Custom Error: seeding reference data failed: database error: Custom Error: database is locked"
        );
    }

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
