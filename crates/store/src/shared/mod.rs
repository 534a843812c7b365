//! The query code both backends share. SQL is written once with `$N`
//! placeholders (PostgreSQL's, which sqlx also accepts for SQLite); what differs
//! between the backends (time and JSON columns, how a write transaction
//! begins) comes from a `dialect` module that each backend brings into scope as
//! `d` before invoking these macros.

pub(crate) mod batch;
#[macro_use]
mod rows;
#[macro_use]
mod clusters;
#[macro_use]
mod events;
#[macro_use]
mod ingest;
#[macro_use]
mod join;
#[macro_use]
pub(crate) mod metrics;
#[macro_use]
mod nodes;
#[macro_use]
mod operations;
#[macro_use]
mod reconcile;
#[macro_use]
mod sessions;
#[macro_use]
mod templates;
#[macro_use]
mod tenants;
#[macro_use]
mod throttle;
#[macro_use]
mod tokens;
#[macro_use]
mod users;

use std::str::FromStr;

use crate::StoreError;

pub(crate) fn parse<T: FromStr>(column: &'static str, v: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| StoreError::corrupt(column, e))
}

pub(crate) fn int<T: TryFrom<i64>>(column: &'static str, v: i64) -> Result<T, StoreError> {
    T::try_from(v).map_err(|_| StoreError::corrupt(column, v))
}

/// Converts a count or limit for binding; every value Muster stores fits.
pub(crate) fn big(v: impl TryInto<i64>) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// Row counts a generated multi-row statement is built for, so the few
/// statements are prepared once and then reused from the connection's
/// statement cache.
pub(crate) const PIECES: [usize; 4] = [1, 8, 32, 128];

/// Cuts `items` into pieces of at most the largest size in [`PIECES`], each
/// with the size of the statement that takes it: the smallest in [`PIECES`]
/// that holds it. A batch is a statement per 128 rows; the rows a statement
/// has beyond its piece are bound as padding that matches nothing.
pub(crate) fn pieces<T>(items: &[T]) -> impl Iterator<Item = (&[T], usize)> {
    let largest = PIECES[PIECES.len() - 1];
    items.chunks(largest).map(move |piece| {
        let size = PIECES
            .iter()
            .copied()
            .find(|&n| n >= piece.len())
            .unwrap_or(largest);
        (piece, size)
    })
}

/// `count` tuples of `width` placeholders each, e.g. `($1, $2), ($3, $4)`, or
/// with `numbered` false `(?, ?), (?, ?)`; bound in order.
pub(crate) fn value_tuples(numbered: bool, count: usize, width: usize) -> String {
    let mut sql = String::with_capacity(count * width * 6);
    for row in 0..count {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..width {
            if col > 0 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push('$');
                sql.push_str(&(row * width + col + 1).to_string());
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

/// The first line of an error, for one-line messages.
pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}

/// Implements [`crate::Store`] for a backend's store type; `d` must name the
/// backend's dialect module at the call site.
macro_rules! impl_store {
    ($store:ty, $backend:expr) => {
        rows!();
        reconcile_fns!();
        metric_fns!();
        rollup_fns!();
        user_fns!();
        token_fns!();
        join_fns!();
        join_token_fns!();
        ingest_fns!();
        operation_fns!();

        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            fn ping(&self) -> $crate::StoreFuture<'_, ()> {
                Box::pin(async move {
                    sqlx::query("SELECT 1").execute(&self.pool).await?;
                    Ok(())
                })
            }

            fn close(
                &self,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
                Box::pin(async move {
                    self.stop_feed();
                    self.pool.close().await;
                    self.writer.close().await;
                    self.heartbeats.close().await;
                })
            }

            fn changes(&self) -> tokio::sync::broadcast::Receiver<$crate::ChangeSet> {
                self.feed.subscribe()
            }

            fn clusters_hosting<'a>(
                &'a self,
                tenants: &'a [String],
            ) -> $crate::StoreFuture<'a, Vec<muster_domain::ClusterId>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT DISTINCT cluster_id FROM cluster_tenants WHERE {} ORDER BY cluster_id",
                        d::in_json_list("tenant_id", "$1")
                    );
                    let ids: Vec<String> = sqlx::query_scalar(&sql)
                        .bind($crate::shared::batch::json_param(tenants))
                        .fetch_all(&self.pool)
                        .await?;
                    ids.iter().map(|id| parse("cluster_id", id)).collect()
                })
            }

            template_methods!();
            cluster_methods!();
            node_methods!();
            event_methods!();
            metric_methods!();
            tenant_methods!();
            user_methods!();
            session_methods!();
            throttle_methods!();
            token_methods!();
            join_methods!();
            ingest_methods!();
            operation_methods!();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::{pieces, value_tuples};

    #[test]
    fn batches_are_cut_into_pieces_of_the_few_cached_sizes() {
        let items: Vec<u32> = (0..295).collect();
        let sizes: Vec<(usize, usize)> = pieces(&items).map(|(p, size)| (p.len(), size)).collect();
        assert_eq!(sizes, [(128, 128), (128, 128), (39, 128)]);
        let back: Vec<u32> = pieces(&items).flat_map(|(p, _)| p).copied().collect();
        assert_eq!(back, items);
        assert_eq!(pieces::<u32>(&[]).count(), 0);
        let small: Vec<usize> = [1, 2, 8, 9, 33]
            .iter()
            .map(|&n| pieces(&items[..n]).next().map_or(0, |(_, s)| s))
            .collect();
        assert_eq!(small, [1, 8, 8, 32, 128]);
    }

    #[test]
    fn placeholders_are_numbered_or_plain() {
        assert_eq!(value_tuples(true, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(value_tuples(false, 2, 3), "(?, ?, ?), (?, ?, ?)");
    }
}
