//! Migrations that move data: rows written by the schema before them come
//! out as the schema after them reads them.

use muster_store::testing;
use std::collections::BTreeMap;

use sqlx::Connection as _;

/// Samples as the schema before one row per sample held them: a row per
/// metric. Node a at 1000 has all seven standard metrics and a name of its
/// own; node a at 2000 only its CPU; node b at 1000 its disk and two names
/// of its own.
const BY_NAME: &str =
    "INSERT INTO cluster_metrics (cluster_id, node_id, name, value, recorded_at) VALUES
    ('c', 'a', 'cpu_usage_percent', 12.5, {t1}), ('c', 'a', 'memory_usage_percent', 40, {t1}),
    ('c', 'a', 'disk_usage_percent', 70, {t1}), ('c', 'a', 'load_average', 0.5, {t1}),
    ('c', 'a', 'network_rx_mbps', 1.25, {t1}), ('c', 'a', 'network_tx_mbps', 2.5, {t1}),
    ('c', 'a', 'process_count', 120, {t1}), ('c', 'a', 'queue_depth', 3, {t1}),
    ('c', 'a', 'cpu_usage_percent', 99, {t2}),
    ('c', 'b', 'disk_usage_percent', 10, {t1}), ('c', 'b', 'queue_depth', 4, {t1}),
    ('c', 'b', 'open_files', 812, {t1})";

/// The samples back, by node and time: the standard metrics, then the names
/// of the node's own as a JSON object.
const ONE_ROW: &str = "SELECT node_id, cpu_usage_percent, memory_usage_percent, disk_usage_percent,
        load_average, network_rx_mbps, network_tx_mbps, process_count, {extra} AS extra
    FROM cluster_metrics ORDER BY node_id, recorded_at";

type Standard = [Option<f64>; 7];
/// A sample as read back: its node, standard metrics and names of its own.
type Sample = (String, Standard, Option<BTreeMap<String, f64>>);

fn expected() -> Vec<Sample> {
    vec![
        (
            "a".into(),
            [
                Some(12.5),
                Some(40.0),
                Some(70.0),
                Some(0.5),
                Some(1.25),
                Some(2.5),
                Some(120.0),
            ],
            Some([("queue_depth".into(), 3.0)].into()),
        ),
        (
            "a".into(),
            [Some(99.0), None, None, None, None, None, None],
            None,
        ),
        (
            "b".into(),
            [None, None, Some(10.0), None, None, None, None],
            Some([("open_files".into(), 812.0), ("queue_depth".into(), 4.0)].into()),
        ),
    ]
}

fn read_back<R: sqlx::Row>(rows: &[R]) -> Vec<Sample>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|row| {
            let standard =
                muster_domain::metrics::STANDARD_METRICS.map(|n| row.get::<Option<f64>, _>(n));
            let extra = row.get::<Option<String>, _>("extra").map(|text| {
                serde_json::from_str(&text).expect("extra is a JSON object of numbers")
            });
            (row.get("node_id"), standard, extra)
        })
        .collect()
}

#[tokio::test]
async fn samples_become_one_row_each_on_sqlite() {
    let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
        .await
        .expect("in-memory database");
    for before in [
        include_str!("../../../migrations/sqlite/0001_init.sql"),
        include_str!("../../../migrations/sqlite/0002_join_tokens.sql"),
        include_str!("../../../migrations/sqlite/0003_processes.sql"),
        include_str!("../../../migrations/sqlite/0004_metrics_by_time.sql"),
        include_str!("../../../migrations/sqlite/0005_operations.sql"),
    ] {
        sqlx::raw_sql(before)
            .execute(&mut conn)
            .await
            .expect("earlier migration");
    }
    let insert = BY_NAME.replace("{t1}", "1000").replace("{t2}", "2000");
    sqlx::raw_sql(&insert)
        .execute(&mut conn)
        .await
        .expect("samples by name");
    sqlx::raw_sql(include_str!(
        "../../../migrations/sqlite/0006_one_row_per_sample.sql"
    ))
    .execute(&mut conn)
    .await
    .expect("one row per sample");
    let rows = sqlx::query(&ONE_ROW.replace("{extra}", "extra"))
        .fetch_all(&mut conn)
        .await
        .expect("read back");
    assert_eq!(read_back(&rows), expected());
    let times: Vec<i64> =
        sqlx::query_scalar("SELECT recorded_at FROM cluster_metrics ORDER BY rowid")
            .fetch_all(&mut conn)
            .await
            .expect("times");
    assert_eq!(times, [1000, 1000, 2000], "rows are written in time order");
}

#[tokio::test]
async fn samples_become_one_row_each_on_postgres() {
    let Some(db) = testing::PgDb::create().await else {
        return;
    };
    let mut conn = db.raw_connection().await;
    for before in [
        include_str!("../../../migrations/postgres/0001_init.sql"),
        include_str!("../../../migrations/postgres/0002_row_security.sql"),
        include_str!("../../../migrations/postgres/0003_join_tokens.sql"),
        include_str!("../../../migrations/postgres/0004_processes.sql"),
        include_str!("../../../migrations/postgres/0005_metrics_by_time.sql"),
        include_str!("../../../migrations/postgres/0006_operations.sql"),
        include_str!("../../../migrations/postgres/0007_compact_processes.sql"),
    ] {
        sqlx::raw_sql(before)
            .execute(&mut conn)
            .await
            .expect("earlier migration");
    }
    let insert = BY_NAME
        .replace("{t1}", "'2026-01-01T00:00:01Z'")
        .replace("{t2}", "'2026-01-01T00:00:02Z'");
    sqlx::raw_sql(&format!("SET muster.scope = '*'; {insert}"))
        .execute(&mut conn)
        .await
        .expect("samples by name");
    // As the migrator runs it: in a transaction, as the tables' owner.
    let mut tx = conn.begin().await.expect("begin");
    sqlx::raw_sql(include_str!(
        "../../../migrations/postgres/0008_one_row_per_sample.sql"
    ))
    .execute(&mut *tx)
    .await
    .expect("one row per sample");
    tx.commit().await.expect("commit");
    let rows = sqlx::query(&ONE_ROW.replace("{extra}", "extra::text"))
        .fetch_all(&mut conn)
        .await
        .expect("read back");
    assert_eq!(read_back(&rows), expected());
    let policies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_policies WHERE tablename = 'cluster_metrics'")
            .fetch_one(&mut conn)
            .await
            .expect("policies");
    assert_eq!(policies, 1, "the new table keeps its row security");
    conn.close().await.ok();
    db.drop().await;
}
