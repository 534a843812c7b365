//! Throw-away databases for tests of this crate and of the server: a SQLite file
//! in a fresh directory, or a fresh database on the PostgreSQL server named by
//! `MUSTER_TEST_POSTGRES_URL`.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rand::Rng;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use crate::{DatabaseUrl, Store};

/// Whether the environment demands PostgreSQL tests (CI sets it), so a missing
/// `MUSTER_TEST_POSTGRES_URL` fails instead of skipping.
#[must_use]
pub fn postgres_required() -> bool {
    std::env::var("MUSTER_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A SQLite database file in its own temporary directory, removed on drop.
pub struct SqliteDb {
    dir: PathBuf,
}

impl SqliteDb {
    /// # Panics
    /// If the temporary directory cannot be created.
    #[must_use]
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "muster-test-{}-{:016x}",
            std::process::id(),
            rand::rng().random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("create test directory");
        Self { dir }
    }

    #[must_use]
    pub fn url(&self) -> DatabaseUrl {
        DatabaseUrl::Sqlite {
            path: Some(self.dir.join("muster.db")),
        }
    }

    /// # Panics
    /// If the store cannot be opened.
    pub async fn connect(&self) -> Arc<dyn Store> {
        crate::connect(&self.url())
            .await
            .expect("open SQLite test store")
    }
}

impl Default for SqliteDb {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database of its own on the test PostgreSQL server. Call [`PgDb::drop`] at
/// the end; databases left by crashed runs are removed by later runs after an hour.
pub struct PgDb {
    admin: PgConnectOptions,
    name: String,
    url: DatabaseUrl,
}

const PREFIX: &str = "muster_test_";

impl PgDb {
    /// `None` when `MUSTER_TEST_POSTGRES_URL` is unset and PostgreSQL is not required.
    ///
    /// # Panics
    /// When PostgreSQL is required but not configured, or the server refuses.
    pub async fn create() -> Option<Self> {
        let Ok(admin_url) = std::env::var("MUSTER_TEST_POSTGRES_URL") else {
            assert!(
                !postgres_required(),
                "MUSTER_REQUIRE_POSTGRES=1 but MUSTER_TEST_POSTGRES_URL is not set"
            );
            return None;
        };
        Some(
            Self::create_at(&admin_url)
                .await
                .expect("create a test database at MUSTER_TEST_POSTGRES_URL"),
        )
    }

    /// Creates a fresh database on the server `admin_url` names (dropping
    /// leftovers of runs more than an hour old).
    ///
    /// # Errors
    /// A one-line reason when the URL is bad or the server refuses.
    pub async fn create_at(admin_url: &str) -> Result<Self, String> {
        let admin = PgConnectOptions::from_str(admin_url)
            .map_err(|e| format!("{admin_url} is not a PostgreSQL URL: {e}"))?;
        let mut conn = admin
            .connect()
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
        let now = chrono::Utc::now().timestamp();
        let stale =
            sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'muster_test_%'")
                .fetch_all(&mut conn)
                .await
                .map_err(|e| format!("cannot list databases: {e}"))?;
        for row in stale {
            let name: String = row.get(0);
            let created = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|secs| secs.parse::<i64>().ok());
            if created.is_some_and(|t| now - t > 3600) {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        }
        let name = format!("{PREFIX}{now}_{:08x}", rand::rng().random::<u32>());
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("cannot create a database: {e}"))?;
        conn.close().await.ok();

        let mut url = ::url::Url::parse(admin_url).map_err(|e| format!("{admin_url}: {e}"))?;
        url.set_path(&format!("/{name}"));
        let url = DatabaseUrl::parse(url.as_str()).map_err(|e| e.to_string())?;
        Ok(Self { admin, name, url })
    }

    #[must_use]
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// # Panics
    /// If the store cannot be opened.
    pub async fn connect(&self) -> Arc<dyn Store> {
        crate::connect(&self.url)
            .await
            .expect("open PostgreSQL test store")
    }

    /// A direct connection as the URL's user (the tables' owner), for tests that
    /// look underneath the store.
    ///
    /// # Panics
    /// If the server refuses.
    pub async fn raw_connection(&self) -> sqlx::PgConnection {
        let DatabaseUrl::Postgres { url, .. } = &self.url else {
            unreachable!("a PostgreSQL test database has a PostgreSQL URL");
        };
        PgConnectOptions::from_str(url)
            .expect("test database URL")
            .connect()
            .await
            .expect("connect to the test database")
    }

    /// Drops the database.
    ///
    /// # Panics
    /// If the server refuses.
    pub async fn drop(self) {
        let mut conn = self.admin.connect().await.expect("connect to drop");
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await
        .expect("drop test database");
        conn.close().await.ok();
    }
}
