//! Plugins' files served by the host (`/files/{ticket}/{name}`), streamed from the blob store: a signed ticket
//! (`crate::file_links`) says which file, how and for whom; the answer supports `Range` (video seeking, resumed
//! downloads), carries the file's SHA-256 as its ETag (`If-None-Match`, `If-Range`), is never run as a page of the
//! portal (passive types inline, everything else a download, always sandboxed and `nosniff`), and holds at most a
//! chunk of the file in memory at a time. An unpacked tree (`files.unpack`) is served by relative path under one
//! public ticket (`/files/tree/{ticket}/{path}`), typed by extension and under the plugin frame's sandboxing policy,
//! so a package's pages, scripts and images load into the sandboxed frame that shows it, and nowhere run as the
//! portal.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ctx::Ctx;
use super::error::{HttpError, HttpResult};
use super::plugin_routes::{content_disposition, passive};
use super::security::{FILE_POLICY, FRAME_POLICY};
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/files/{ticket}/{name}", get(serve)).route("/files/tree/{ticket}/{*path}", get(serve_tree))
}

async fn serve_tree(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((ticket, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    let t = state.file_links.verify(&ticket, state.clock.now_ms()).ok_or(HttpError::NotFound)?;
    let path = crate::archive::clean_path(&path).ok_or(HttpError::NotFound)?;
    if t.tenant != ctx.tenant.id || t.user.is_some() {
        return Err(HttpError::NotFound);
    }
    let (_, row) = state.db.plugin_blob(&ctx.tenant.id, &t.key).await?.ok_or(HttpError::NotFound)?;
    if row.content_type != crate::archive::TREE_TYPE {
        return Err(HttpError::NotFound);
    }
    let key = format!("{}/{path}", row.key);
    let (size, _) = state.blobs.head(&key).await?.ok_or(HttpError::NotFound)?;
    // A tree's files never change (a new package is a new tree): its key names the version.
    let etag = format!("\"{}\"", &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()))[..32]);
    let mut res_headers = HeaderMap::new();
    let ct = crate::archive::content_type_by_name(&path);
    res_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    res_headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FRAME_POLICY));
    res_headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    // Fonts and module scripts a sandboxed (opaque-origin) frame asks for are CORS requests; the ticket is the
    // access control, and what is served is public to its holder anyway.
    res_headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    stream(&state, &headers, &key, size, etag, res_headers).await
}

async fn serve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((ticket, _name)): Path<(String, String)>,
    headers: HeaderMap,
) -> HttpResult<Response> {
    // A ticket that is forged, expired, for another tenant or another user's session is simply not found.
    let t = state.file_links.verify(&ticket, state.clock.now_ms()).ok_or(HttpError::NotFound)?;
    if t.tenant != ctx.tenant.id {
        return Err(HttpError::NotFound);
    }
    if let Some(user) = &t.user
        && ctx.principal.as_ref().map(|p| &p.user.id) != Some(user)
    {
        return Err(if ctx.principal.is_none() { HttpError::Unauthorized } else { HttpError::NotFound });
    }
    let (_, row) = state.db.plugin_blob(&ctx.tenant.id, &t.key).await?.ok_or(HttpError::NotFound)?;
    if row.content_type == crate::archive::TREE_TYPE {
        return Err(HttpError::NotFound);
    }
    let etag = format!("\"{}\"", if row.sha256.is_empty() { &row.key } else { &row.sha256 });
    let mut res_headers = HeaderMap::new();
    let inline = t.inline && passive(&row.content_type);
    res_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&row.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let disposition = content_disposition(if inline { "inline" } else { "attachment" }, &t.filename);
    res_headers
        .insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ASCII by construction"));
    res_headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(FILE_POLICY));
    stream(&state, &headers, &row.key, row.size, etag, res_headers).await
}

/// The file `key` of `size` bytes as asked (`If-None-Match`, `Range`, `If-Range`), streamed, with `res_headers`.
async fn stream(
    state: &AppState,
    headers: &HeaderMap,
    key: &str,
    size: u64,
    etag: String,
    mut res_headers: HeaderMap,
) -> HttpResult<Response> {
    res_headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
    res_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    res_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    res_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == etag))
    {
        return Ok((StatusCode::NOT_MODIFIED, res_headers).into_response());
    }
    // A range applies when there is no If-Range, or it names this version of the file.
    let if_range_ok = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v == etag);
    let range =
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| if_range_ok).map(|v| parse_range(v, size));
    let (status, start, end) = match range {
        None | Some(Range::Whole) => (StatusCode::OK, 0, size),
        Some(Range::Part(a, b)) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Range::Unsatisfiable) => {
            res_headers
                .insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII"));
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, res_headers).into_response());
        }
    };
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{size}", end - 1);
        res_headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&range).expect("ASCII"));
    }
    res_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    let stream = state.blobs.read_range(key, start..end).await?.ok_or(HttpError::NotFound)?;
    Ok((status, res_headers, Body::from_stream(stream)).into_response())
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// All of it (no usable range, or several ranges, which are answered whole).
    Whole,
    /// Bytes `start..end`.
    Part(u64, u64),
    /// Nothing it asks for exists.
    Unsatisfiable,
}

fn parse_range(header: &str, size: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Range::Whole };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Range::Whole };
    let (a, b) = (a.trim(), b.trim());
    let part = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(last)) if start <= last => Some((start, last.saturating_add(1).min(size))),
        (Ok(start), Err(_)) if b.is_empty() => Some((start, size)),
        (Err(_), Ok(suffix)) if a.is_empty() => Some((size.saturating_sub(suffix), size)),
        _ => return Range::Whole,
    };
    match part {
        Some((start, end)) if start < size && start < end => Range::Part(start, end),
        _ => Range::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-99", 1000), Range::Part(0, 100));
        assert_eq!(parse_range("bytes=900-", 1000), Range::Part(900, 1000));
        assert_eq!(parse_range("bytes=-100", 1000), Range::Part(900, 1000));
        assert_eq!(parse_range("bytes=990-2000", 1000), Range::Part(990, 1000));
        assert_eq!(parse_range("bytes=1000-", 1000), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-9", 1000), Range::Whole);
        assert_eq!(parse_range("items=0-1", 1000), Range::Whole);
        assert_eq!(parse_range("bytes=9-1", 1000), Range::Whole);
    }
}
