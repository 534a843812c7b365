//! Server configuration: command-line flags with environment fallbacks, checked
//! once at start.

use std::net::SocketAddr;

use clap::Args;
use leptos::config::LeptosOptions;
use muster_store::DatabaseUrl;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    #[command(flatten)]
    pub db: DatabaseArgs,

    /// Password of the first user, `admin`, created when the database has no
    /// users; without it a random one is generated and logged once.
    #[arg(
        long = "admin-password",
        env = "MUSTER_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,

    /// Mark session cookies `Secure`; set it when Muster is served over HTTPS
    /// (directly or behind a TLS-terminating proxy).
    #[arg(long = "secure-cookies", env = "MUSTER_SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub secure_cookies: bool,

    /// Demo mode: also run a simulated fleet in this process, with three demo
    /// clusters (one per environment template) and the Simulation page where
    /// admins inject faults.
    #[arg(long, env = "MUSTER_DEMO", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false")]
    pub demo: bool,

    /// Where demo mode keeps its simulated nodes' identities.
    #[arg(
        long = "demo-state",
        env = "MUSTER_DEMO_STATE",
        default_value = "data/demo"
    )]
    pub demo_state: std::path::PathBuf,

    /// Directory holding the built site (pkg/ with the WASM, JS and CSS).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,
}

/// Where the database is and how requests reach it.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite:PATH` (default `sqlite:data/muster.db`) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. On PostgreSQL the URL's user
    /// owns the tables and runs the migrations.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// PostgreSQL only: the role requests run as (switched to with SET ROLE),
    /// which row-level security must hold back: not a superuser, no BYPASSRLS,
    /// owning no table. The migrations create `muster_request`; another role
    /// works when it is granted `muster_request`.
    #[arg(
        long = "db-request-role",
        env = "MUSTER_DB_REQUEST_ROLE",
        default_value = muster_store::DEFAULT_REQUEST_ROLE
    )]
    pub request_role: String,
}

impl DatabaseArgs {
    /// The database to use: the configured URL, or the embedded SQLite default.
    ///
    /// # Errors
    /// A one-line message naming what is wrong with the URL.
    pub fn database_url(&self) -> Result<DatabaseUrl, String> {
        match self.database_url.as_deref() {
            None => Ok(DatabaseUrl::default_sqlite()),
            Some(raw) => DatabaseUrl::parse(raw).map_err(|e| e.to_string()),
        }
    }

    /// Opens (and migrates) the database.
    ///
    /// # Errors
    /// A one-line message: a bad URL, an unreachable database, or a request
    /// role that row-level security would not hold back.
    pub async fn connect(&self) -> Result<std::sync::Arc<dyn muster_store::Store>, String> {
        let database = self.database_url()?;
        tracing::info!(database = %database, "opening the database");
        muster_store::connect_as(&database, &self.request_role)
            .await
            .map_err(|e| e.to_string())
    }
}

impl ServeArgs {
    #[must_use]
    pub fn leptos_options(&self) -> LeptosOptions {
        LeptosOptions::builder()
            .output_name("muster")
            .site_root(self.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(self.addr)
            .build()
    }
}
