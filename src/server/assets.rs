//! The site's WASM, JavaScript and CSS under `/pkg/`. When the server starts
//! it compresses each once, in the background, with brotli and gzip at their
//! best (brotli lighter in a debug build), and then answers every request
//! with the smallest encoding the browser accepts, an `ETag` and `304 Not
//! Modified` for a copy it still has. Until that is done (a few seconds), files are read from disk and the
//! response compression layer gzips them on the way out.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// One file in every encoding.
#[derive(Debug)]
struct Asset {
    content_type: &'static str,
    etag: HeaderValue,
    identity: axum::body::Bytes,
    gzip: axum::body::Bytes,
    br: axum::body::Bytes,
}

/// The compressed files of the site's `pkg` directory, once ready.
#[derive(Clone, Debug, Default)]
pub struct Assets {
    dir: PathBuf,
    ready: Arc<OnceLock<HashMap<String, Asset>>>,
}

/// An encoding a response can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

impl Encoding {
    /// The best encoding an `Accept-Encoding` header allows: brotli, then
    /// gzip (each unless refused with `q=0`), else none.
    #[must_use]
    pub fn choose(accept: Option<&str>) -> Self {
        let accepted = |name: &str| {
            accept.is_some_and(|list| {
                list.split(',').any(|item| {
                    let mut parts = item.split(';').map(str::trim);
                    let coding = parts.next().unwrap_or_default();
                    let refused = parts.any(|p| {
                        p.strip_prefix("q=")
                            .and_then(|q| q.parse::<f32>().ok())
                            .is_some_and(|q| q <= 0.0)
                    });
                    (coding.eq_ignore_ascii_case(name) || coding == "*") && !refused
                })
            })
        };
        if accepted("br") {
            Self::Brotli
        } else if accepted("gzip") {
            Self::Gzip
        } else {
            Self::Identity
        }
    }
}

/// The media type of `name` when it is served from `pkg`: a plain file name
/// (no directories, nothing hidden) of a WASM, JavaScript or CSS file.
fn served_type(name: &str) -> Option<&'static str> {
    let plain = !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !plain {
        return None;
    }
    match Path::new(name).extension()?.to_str()? {
        "wasm" => Some("application/wasm"),
        "js" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        _ => None,
    }
}

fn compress(data: &[u8]) -> std::io::Result<(Vec<u8>, Vec<u8>)> {
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(data)?;
    let gzip = gzip.finish()?;
    let mut br = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        // The server and its WASM come from one build. A debug build's WASM
        // is ten times a release one's (22 MB), and brotli's best took two
        // minutes of a core on it at every start: a lighter quality there.
        quality: if cfg!(debug_assertions) { 5 } else { 11 },
        lgwin: 24,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut std::io::Cursor::new(data), &mut br, &params)?;
    Ok((gzip, br))
}

impl Assets {
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            ready: Arc::default(),
        }
    }

    /// Reads and compresses every file of the directory, then serves them
    /// from memory. Runs on a blocking thread; a file it cannot read stays
    /// served from disk.
    pub fn prepare(&self) {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut files = HashMap::new();
            let entries = match std::fs::read_dir(&this.dir) {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!("site assets in {} not compressed: {e}", this.dir.display());
                    return;
                }
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(content_type) = served_type(&name) else {
                    continue;
                };
                let prepared = std::fs::read(entry.path()).and_then(|data| {
                    let (gzip, br) = compress(&data)?;
                    Ok((data, gzip, br))
                });
                match prepared {
                    Ok((data, gzip, br)) => {
                        let mut hasher = std::collections::hash_map::DefaultHasher::new();
                        data.hash(&mut hasher);
                        let etag = format!("\"{:016x}-{}\"", hasher.finish(), data.len());
                        let Ok(etag) = HeaderValue::from_str(&etag) else {
                            continue;
                        };
                        files.insert(
                            name,
                            Asset {
                                content_type,
                                etag,
                                identity: data.into(),
                                gzip: gzip.into(),
                                br: br.into(),
                            },
                        );
                    }
                    Err(e) => tracing::warn!("site asset {name} not compressed: {e}"),
                }
            }
            tracing::info!(
                "{} site assets compressed in {:.1} s",
                files.len(),
                started.elapsed().as_secs_f64()
            );
            let _ = this.ready.set(files);
        });
    }
}

/// `GET /pkg/{file}`.
pub async fn serve(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(content_type) = served_type(&name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let assets = &state.assets;
    let Some(asset) = assets.ready.get().and_then(|files| files.get(&name)) else {
        return from_disk(&assets.dir, &name, content_type).await;
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || t.trim().as_bytes() == asset.etag.as_bytes())
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let accept = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok());
        let (body, coding) = match Encoding::choose(accept) {
            Encoding::Brotli => (asset.br.clone(), Some("br")),
            Encoding::Gzip => (asset.gzip.clone(), Some("gzip")),
            Encoding::Identity => (asset.identity.clone(), None),
        };
        let mut r = Body::from(body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if let Some(coding) = coding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, asset.etag.clone());
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Names stay the same from build to build: check back each time (a 304
    // when nothing changed).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

async fn from_disk(dir: &Path, name: &str, content_type: &'static str) -> Response {
    match tokio::fs::read(dir.join(name)).await {
        Ok(data) => {
            let mut r = Body::from(data).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_accepted_encoding_is_chosen() {
        for (accept, expected) in [
            (Some("gzip, deflate, br, zstd"), Encoding::Brotli),
            (Some("gzip"), Encoding::Gzip),
            (Some("br;q=0, gzip;q=0.5"), Encoding::Gzip),
            (Some("BR"), Encoding::Brotli),
            (Some("*"), Encoding::Brotli),
            (Some("identity"), Encoding::Identity),
            (Some("gzip;q=0"), Encoding::Identity),
            (None, Encoding::Identity),
        ] {
            assert_eq!(Encoding::choose(accept), expected, "{accept:?}");
        }
    }

    #[test]
    fn only_plain_names_of_site_files_are_served() {
        for ok in ["muster.wasm", "muster.js", "muster.css", "muster_bg-1.wasm"] {
            assert!(served_type(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "../Cargo.toml",
            "..",
            ".hidden.js",
            "a/b.js",
            "a%2fb.js",
            "muster.wasm.map",
            "readme.txt",
        ] {
            assert!(served_type(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn compressed_copies_decode_to_the_file() {
        let data: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let (gzip, br) = compress(&data).expect("compress");
        assert!(gzip.len() < data.len() && br.len() < data.len());
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzip[..]), &mut unzipped)
            .expect("gunzip");
        assert_eq!(unzipped, data);
        let mut unbrotli = Vec::new();
        brotli::BrotliDecompress(&mut std::io::Cursor::new(&br), &mut unbrotli).expect("unbrotli");
        assert_eq!(unbrotli, data);
    }
}
