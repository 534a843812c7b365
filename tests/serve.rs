//! The `muster` binary as a user starts it: no configuration (SQLite in ./data),
//! `DATABASE_URL` pointing at PostgreSQL, and database URLs that cannot work.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use muster_store::testing::{PgDb, SqliteDb};

const BIN: &str = env!("CARGO_BIN_EXE_muster");
const ADMIN_PASSWORD: &str = "serve test admin password";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running `muster serve`, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .env_remove("DATABASE_URL")
            .env_remove("LEPTOS_SITE_ADDR")
            .env("MUSTER_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start muster");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn ready(&mut self, client: &reqwest::Client) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("muster exited during start-up with {status}");
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return r.json().await.expect("readyz JSON");
            }
            assert!(Instant::now() < deadline, "muster never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn check_serves_the_app(base: &str, client: &reqwest::Client, backend: &str) {
    let health: serde_json::Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("healthz JSON");
    assert_eq!(health["status"], "ok");

    // Signed out, a page sends the visitor to the sign-in page, keeping where
    // they were going.
    let page = client.get(format!("{base}/")).send().await.expect("GET /");
    assert_eq!(page.url().path(), "/login");
    assert_eq!(page.url().query(), Some("next=%2F"));
    let html = page.text().await.expect("html");
    assert!(html.contains("Sign in to Muster"), "{html}");
    assert!(
        html.contains("/pkg/muster.wasm"),
        "hydration scripts missing"
    );

    // Signed in as the first admin, the overview is rendered from this database.
    let login = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("session cookie")
        .to_owned();
    let page = client
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET /");
    assert_eq!((page.status().as_u16(), page.url().path()), (200, "/"));
    let html = page.text().await.expect("html");
    assert!(html.contains("Fleet overview"), "{html}");
    for template in ["development", "staging", "production"] {
        assert!(html.contains(template), "{template} missing on {backend}");
    }
    let missing = client
        .get(format!("{base}/nowhere"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("404");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn serves_on_sqlite_with_no_configuration() {
    let dir = SqliteDb::new();
    let workdir = dir.url().to_string();
    let workdir = Path::new(workdir.trim_start_matches("sqlite:"))
        .parent()
        .expect("test dir")
        .to_path_buf();
    let client = reqwest::Client::new();
    let mut server = Server::start(&workdir, &[]);
    let ready = server.ready(&client).await;
    assert_eq!(ready["database"], "sqlite");
    check_serves_the_app(&server.base, &client, "sqlite").await;

    let db = workdir.join("data/muster.db");
    assert!(db.is_file(), "the default database is ./data/muster.db");
    assert!(
        workdir.join("data/muster.db-wal").is_file(),
        "SQLite runs in WAL mode"
    );
}

#[tokio::test]
async fn serves_on_postgres_from_database_url() {
    let Some(pg) = PgDb::create().await else {
        eprintln!("MUSTER_TEST_POSTGRES_URL is not set: skipping");
        return;
    };
    let dir = std::env::temp_dir();
    let client = reqwest::Client::new();
    let url = match pg.url() {
        muster_store::DatabaseUrl::Postgres { url, .. } => url.clone(),
        other @ muster_store::DatabaseUrl::Sqlite { .. } => panic!("not PostgreSQL: {other}"),
    };
    {
        let mut server = Server::start(&dir, &[("DATABASE_URL", &url)]);
        let ready = server.ready(&client).await;
        assert_eq!(ready["database"], "postgres");
        check_serves_the_app(&server.base, &client, "postgres").await;
    }
    // A request role that row-level security would not hold back (here the
    // superuser the tests connect as) is refused at start, in one line.
    let out = run_serve(&[
        ("DATABASE_URL", &url),
        ("MUSTER_DB_REQUEST_ROLE", "postgres"),
    ]);
    assert_one_line_failure(
        &out,
        "is a superuser, so row-level security would not apply",
        None,
    );
    pg.drop().await;
}

fn run_with_database_url(url: &str) -> Output {
    run_serve(&[("DATABASE_URL", url)])
}

/// Runs `muster serve` with `env` in a scratch directory, to its exit.
fn run_serve(env: &[(&str, &str)]) -> Output {
    let dir = SqliteDb::new();
    let cwd = dir.url().to_string();
    let cwd = Path::new(cwd.trim_start_matches("sqlite:"))
        .parent()
        .expect("dir")
        .to_path_buf();
    Command::new(BIN)
        .current_dir(cwd)
        .args(["serve", "--addr", &format!("127.0.0.1:{}", free_port())])
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run muster")
}

/// The process fails with exactly one line on stderr, naming the problem.
fn assert_one_line_failure(out: &Output, expected: &str, secret: Option<&str>) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line expected, got: {stderr}"
    );
    assert!(stderr.starts_with("muster: "), "{stderr}");
    assert!(
        stderr.contains(expected),
        "{stderr:?} should mention {expected:?}"
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    if let Some(secret) = secret {
        assert!(!stderr.contains(secret), "the password leaked: {stderr}");
    }
}

#[test]
fn a_malformed_database_url_is_a_one_line_error() {
    let out = run_with_database_url("mysql://root:hunter2@localhost/muster");
    assert_one_line_failure(
        &out,
        "database URL must start with sqlite: or postgres://",
        Some("hunter2"),
    );
    let out = run_with_database_url("postgres://app:hunter2@db.internal:notaport/muster");
    assert_one_line_failure(&out, "is malformed", Some("hunter2"));
}

#[test]
fn an_unreachable_database_is_a_one_line_error() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let out = run_with_database_url("postgres://app:hunter2@127.0.0.1:1/muster");
    assert_one_line_failure(
        &out,
        "cannot connect to postgres://app:***@127.0.0.1:1/muster",
        Some("hunter2"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "the cause is named: {stderr}");
}

#[test]
fn an_unusable_sqlite_path_is_a_one_line_error() {
    let out = run_with_database_url("sqlite:/proc/muster-cannot-be-here/muster.db");
    assert_one_line_failure(&out, "cannot create the database directory", None);
}

/// Runs `muster` with `args`, feeding `stdin`, against the SQLite file `db`.
fn muster_with_stdin(db: &SqliteDb, args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db.url().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run muster");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("muster output")
}

#[tokio::test]
async fn the_first_start_creates_admin_once() {
    use muster::server::auth::{ensure_first_admin, passwords::PasswordHasher};
    let db = SqliteDb::new();
    let store = db.connect().await;
    let hasher = PasswordHasher::new();
    let e = ensure_first_admin(store.as_ref(), &hasher, Some("short"))
        .await
        .expect_err("too short");
    assert!(
        e.starts_with("MUSTER_ADMIN_PASSWORD: password must be at least 12"),
        "{e}"
    );
    ensure_first_admin(store.as_ref(), &hasher, Some("a long admin password"))
        .await
        .expect("admin");
    let (admin, hash) = store
        .user_credentials("admin")
        .await
        .expect("lookup")
        .expect("admin exists");
    assert_eq!(admin.role, muster_domain::users::Role::Admin);
    assert!(admin.is_unscoped());
    assert!(
        hasher
            .verify("a long admin password", &hash)
            .await
            .expect("verify")
    );
    // A second start changes nothing, whatever the variable now says.
    ensure_first_admin(store.as_ref(), &hasher, Some("another password!"))
        .await
        .expect("no-op");
    assert_eq!(store.count_users().await.expect("count"), 1);
    assert!(
        hasher
            .verify(
                "a long admin password",
                &store
                    .user_credentials("admin")
                    .await
                    .expect("l")
                    .expect("a")
                    .1
            )
            .await
            .expect("v")
    );
    store.close().await;

    let fresh = SqliteDb::new();
    let store = fresh.connect().await;
    ensure_first_admin(store.as_ref(), &hasher, None)
        .await
        .expect("generated");
    assert!(
        store
            .user_credentials("admin")
            .await
            .expect("lookup")
            .is_some()
    );
    store.close().await;
}

#[tokio::test]
async fn users_are_managed_from_the_command_line() {
    let db = SqliteDb::new();
    let store = db.connect().await;
    store.create_tenant("Acme", "test").await.expect("tenant");
    store.close().await;

    let out = muster_with_stdin(
        &db,
        &[
            "user",
            "add",
            "--username",
            "Olga",
            "--role",
            "viewer",
            "--tenant",
            "acme",
        ],
        "viewer password 1\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().last(),
        Some("created olga (viewer, 1 tenant(s))")
    );

    let again = muster_with_stdin(
        &db,
        &["user", "add", "--username", "olga", "--role", "admin"],
        "another password 1\n",
    );
    assert_one_line_failure(&again, "user \"olga\" already exists", None);
    let short = muster_with_stdin(
        &db,
        &["user", "add", "--username", "pat", "--role", "admin"],
        "short\n",
    );
    assert_one_line_failure(
        &short,
        "password must be at least 12 characters",
        Some("short\n"),
    );
    let tenant = muster_with_stdin(
        &db,
        &[
            "user",
            "add",
            "--username",
            "pat",
            "--role",
            "admin",
            "--tenant",
            "Nope",
        ],
        "a good password\n",
    );
    assert_one_line_failure(&tenant, "no tenant is named or numbered \"Nope\"", None);
    let role = muster_with_stdin(
        &db,
        &["user", "add", "--username", "pat", "--role", "god"],
        "a good password\n",
    );
    assert_eq!(role.status.code(), Some(2), "clap refuses the role");
    assert!(
        String::from_utf8_lossy(&role.stderr)
            .contains("role must be one of viewer, operator, admin")
    );

    let reset = muster_with_stdin(
        &db,
        &["user", "reset-password", "OLGA"],
        "a brand new password\n",
    );
    assert_eq!(
        reset.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let nobody = muster_with_stdin(
        &db,
        &["user", "reset-password", "nobody"],
        "a brand new password\n",
    );
    assert_one_line_failure(&nobody, "no user is named \"nobody\"", None);

    assert_password(&db, "olga", "a brand new password", 1).await;
}

/// `user` signs in with `password` and is scoped to `tenants` tenant(s).
async fn assert_password(db: &SqliteDb, user: &str, password: &str, tenants: usize) {
    let store = db.connect().await;
    let (found, hash) = store
        .user_credentials(user)
        .await
        .expect("lookup")
        .expect("user exists");
    assert_eq!(found.tenants.len(), tenants);
    let hasher = muster::server::auth::passwords::PasswordHasher::new();
    assert!(hasher.verify(password, &hash).await.expect("verify"));
    store.close().await;
}

/// The site's files are compressed once at start, then answered in the best
/// encoding the client accepts, with an `ETag`.
#[tokio::test]
async fn site_files_are_served_compressed_once() {
    let db = SqliteDb::new();
    let workdir = db.url().to_string();
    let workdir = Path::new(workdir.trim_start_matches("sqlite:"))
        .parent()
        .expect("test dir")
        .to_path_buf();
    let pkg = workdir.join("site/pkg");
    std::fs::create_dir_all(&pkg).expect("pkg dir");
    let wasm: Vec<u8> = (0..200_000u32)
        .map(|i| u8::try_from((i * 7 + i / 13) % 97).expect("byte"))
        .collect();
    std::fs::write(pkg.join("muster.wasm"), &wasm).expect("wasm");
    std::fs::write(pkg.join("notes.txt"), "not served").expect("txt");
    let client = reqwest::Client::new();
    let mut server = Server::start(&workdir, &[("LEPTOS_SITE_ROOT", "site")]);
    server.ready(&client).await;
    let url = format!("{}/pkg/muster.wasm", server.base);
    let get = async |accept: Option<&str>| {
        let mut request = client.get(&url);
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        let r = request.send().await.expect("GET wasm");
        let encoding = r
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let etag = r
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let kind = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = r.bytes().await.expect("body").to_vec();
        (encoding, etag, kind, body)
    };
    // Compressing takes a moment after start; until then the file comes from disk.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (encoding, etag, kind, body) = loop {
        let answer = get(Some("gzip, deflate, br, zstd")).await;
        if answer.1.is_some() {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "never served from the compressed copies"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (encoding.as_deref(), kind.as_deref()),
        (Some("br"), Some("application/wasm"))
    );
    let mut decoded = Vec::new();
    brotli::BrotliDecompress(&mut std::io::Cursor::new(&body), &mut decoded).expect("brotli");
    assert_eq!(decoded, wasm);
    assert!(
        body.len() < wasm.len() / 4,
        "{} bytes of brotli",
        body.len()
    );

    let (encoding, _, _, body) = get(Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut decoded)
        .expect("gunzip");
    assert_eq!(decoded, wasm);
    let (encoding, _, _, body) = get(None).await;
    assert_eq!((encoding, body.len()), (None, wasm.len()));

    let etag = etag.expect("etag");
    let again = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(again.status(), 304);
    for missing in ["notes.txt", "..%2fsite%2fpkg%2fmuster.wasm", "nothing.js"] {
        let r = client
            .get(format!("{}/pkg/{missing}", server.base))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 404, "{missing}");
    }
}
