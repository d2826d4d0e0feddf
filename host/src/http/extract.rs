//! `Query` and `Form` whose rejections are [`HttpError`]s, so a malformed query string or form body gets the
//! same themed page or `{"error":{…}}` body as every other failure, not axum's plain-text 400 or 422.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use super::error::HttpError;

/// `axum::extract::Query`, rejected as an [`HttpError::Invalid`].
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(HttpError))]
pub struct Query<T>(pub T);

/// `axum::extract::Form`, rejected as an [`HttpError::Invalid`].
#[derive(FromRequest)]
#[from_request(via(axum::extract::Form), rejection(HttpError))]
pub struct Form<T>(pub T);

impl From<QueryRejection> for HttpError {
    fn from(r: QueryRejection) -> Self {
        HttpError::Invalid { field: None, message: format!("the address is not valid: {}", tail(&r.body_text())) }
    }
}

impl From<FormRejection> for HttpError {
    fn from(r: FormRejection) -> Self {
        HttpError::Invalid { field: None, message: format!("the form is not valid: {}", tail(&r.body_text())) }
    }
}

/// serde's part of axum's message ("Failed to deserialize query string: page: invalid digit…" → "page: invalid
/// digit…"), which names the field and the problem and nothing of the server.
fn tail(text: &str) -> &str {
    text.split_once(": ").map_or(text, |(_, rest)| rest)
}
