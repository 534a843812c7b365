//! `/api/v1/events`: the audit trail, filtered, newest first, page by page,
//! and exported whole as CSV or JSON.

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use muster_domain::Event;
use muster_store::{EventQuery, MAX_PAGE, Page};
use serde::Serialize;
use utoipa::ToSchema;

use super::extract::QueryParams;
use crate::api::AppError;
use crate::server::AppState;
use crate::server::auth::caller::Caller;

#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/events", tag = "events",
    params(
        ("cluster_id" = Option<String>, Query), ("node_id" = Option<String>, Query),
        ("severity" = Option<String>, Query, description = "debug, info, warning, error or critical"),
        ("category" = Option<String>, Query, description = "system, health, coordination, security, lifecycle or configuration"),
        ("type" = Option<String>, Query, description = "event type, e.g. node_promotion"),
        ("q" = Option<String>, Query, description = "part of the message, any case"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
        ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 50"),
    ),
    responses((status = 200, body = EventPage), (status = 400, body = AppError)))]
pub async fn get_cluster_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Page<Event>>, AppError> {
    let q = QueryParams::parse(query.as_deref(), &with(&["cursor", "limit"]))?;
    let mut query = event_filters(&q)?;
    query.cursor = q.text("cursor").map(str::to_owned);
    query.limit = muster_store::page_size(q.get("limit")?);
    Ok(Json(
        state.store.list_events_in(&query, caller.scope()).await?,
    ))
}

/// The filters both the listing and the export take.
const FILTERS: [&str; 8] = [
    "cluster_id",
    "node_id",
    "severity",
    "category",
    "type",
    "q",
    "since",
    "until",
];

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    FILTERS.iter().chain(extra).copied().collect()
}

fn event_filters(q: &QueryParams) -> Result<EventQuery, AppError> {
    Ok(EventQuery {
        cluster_id: q.get("cluster_id")?,
        node_id: q.get("node_id")?,
        severity: q.get("severity")?,
        category: q.get("category")?,
        event_type: q.text("type").map(|t| t.chars().take(100).collect()),
        text: q.text("q").map(|t| t.chars().take(100).collect()),
        since: q.get("since")?,
        until: q.get("until")?,
        cursor: None,
        limit: MAX_PAGE,
    })
}

muster_domain::text_enum!(
    /// The shape of an export.
    ExportFormat, "format" {
        Csv => "csv",
        Json => "json",
    }
);

#[utoipa::path(get, path = "/events/export", tag = "events",
    params(
        ("format" = Option<String>, Query, description = "csv (default) or json"),
        ("cluster_id" = Option<String>, Query), ("node_id" = Option<String>, Query),
        ("severity" = Option<String>, Query, description = "debug, info, warning, error or critical"),
        ("category" = Option<String>, Query, description = "system, health, coordination, security, lifecycle or configuration"),
        ("type" = Option<String>, Query, description = "event type, e.g. node_promotion"),
        ("q" = Option<String>, Query, description = "part of the message, any case"),
        ("since" = Option<String>, Query, description = "RFC 3339, inclusive"),
        ("until" = Option<String>, Query, description = "RFC 3339, exclusive"),
    ),
    responses(
        (status = 200, description = "every matching event the caller may see, newest first, as CSV (id, created_at, cluster_id, node_id, severity, category, type, actor, message, details) or a JSON array", content_type = "text/csv"),
        (status = 400, body = AppError)))]
/// Streams every matching event the caller may see, page by page from the
/// database, so an export of any size holds one page in memory.
pub async fn export_events(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, AppError> {
    let q = QueryParams::parse(query.as_deref(), &with(&["format"]))?;
    let format: ExportFormat = q.get("format")?.unwrap_or(ExportFormat::Csv);
    let query = event_filters(&q)?;
    let user = caller.user;
    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Json => ("application/json", "json"),
    };
    let filename = format!(
        "muster-events-{}.{extension}",
        muster_store::now().format("%Y%m%dT%H%M%SZ")
    );
    let pages = futures::stream::unfold(
        ExportCursor {
            query: Some(query),
            first: true,
        },
        move |mut at| {
            let state = state.clone();
            let user = user.clone();
            async move {
                let query = at.query.take()?;
                let caller = Caller { user };
                let page = match state.store.list_events_in(&query, caller.scope()).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "event export stopped");
                        return Some((Err(std::io::Error::other(e.to_string())), at));
                    }
                };
                let mut chunk = String::new();
                if at.first {
                    chunk.push_str(match format {
                        ExportFormat::Csv => CSV_HEADER,
                        ExportFormat::Json => "[",
                    });
                }
                for (i, event) in page.items.iter().enumerate() {
                    match format {
                        ExportFormat::Csv => csv_row(&mut chunk, event),
                        ExportFormat::Json => {
                            if !(at.first && i == 0) {
                                chunk.push(',');
                            }
                            chunk.push_str(
                                &serde_json::to_string(event).unwrap_or_else(|_| "null".into()),
                            );
                        }
                    }
                }
                at.first = false;
                match page.next_cursor {
                    Some(cursor) => {
                        at.query = Some(EventQuery {
                            cursor: Some(cursor),
                            ..query
                        });
                    }
                    None if format == ExportFormat::Json => chunk.push(']'),
                    None => {}
                }
                Some((Ok::<_, std::io::Error>(chunk), at))
            }
        },
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        // Fused: the response compressor may poll once more after the end.
        Body::from_stream(pages.fuse()),
    )
        .into_response())
}

/// Where an export stands: the next page's query (none when done), and
/// whether nothing has been sent yet.
struct ExportCursor {
    query: Option<EventQuery>,
    first: bool,
}

const CSV_HEADER: &str =
    "id,created_at,cluster_id,node_id,severity,category,type,actor,message,details\r\n";

/// One event as an RFC 4180 line.
fn csv_row(out: &mut String, e: &Event) {
    let fields = [
        e.id.to_string(),
        e.created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        e.cluster_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        e.node_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        e.severity.to_string(),
        e.category.to_string(),
        e.event_type.clone(),
        e.actor.clone(),
        e.message.clone(),
        e.details.to_string(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// A field, quoted when it needs to be. Text a spreadsheet would run as a
/// formula (starting with =, +, -, @, tab or carriage return) is prefixed with
/// an apostrophe: a cluster named "=HYPERLINK(…)" stays text.
fn csv_field(out: &mut String, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || field.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    fn field(s: &str) -> String {
        let mut out = String::new();
        csv_field(&mut out, s);
        out
    }

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=1+1"), "\"'=1+1\"");
        assert_eq!(field("-3"), "\"'-3\"");
        assert_eq!(field(""), "");
    }
}
