//! The HTTP error type. Handlers return [`HttpError`]; the `render_errors` middleware turns it into a themed
//! page or a `{"error":{…}}` body, and logs 500s with the request id and the cause, which is never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::storage::StorageError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not found")]
    NotFound,
    #[error("sign in first")]
    Unauthorized,
    #[error("you do not have permission to do that")]
    Forbidden,
    #[error("this address does not accept that method")]
    MethodNotAllowed,
    #[error("{message}")]
    Invalid { field: Option<String>, message: String },
    #[error("{message}")]
    Conflict { field: Option<String>, message: String },
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: i64 },
    #[error("the form expired or came from another site; reload the page and try again")]
    Csrf,
    #[error("the service is unavailable; try again shortly")]
    Unavailable(String),
    #[error("there is no space left to store files, so nothing was saved; ask the portal's operator to free some")]
    StorageFull(String),
    /// A plugin answered with something the host will not pass on (a status that is not one, a redirect off the
    /// portal): the plugin's fault, logged with the cause, shown as a bad answer from the plugin.
    #[error("the plugin gave an answer the portal cannot pass on")]
    BadGateway(String),
    #[error("internal error")]
    Internal(String),
}

/// What the error middleware needs to format an error response.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorInfo {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The cause of a 500, for the log only.
    #[serde(skip)]
    pub cause: Option<String>,
}

impl HttpError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        HttpError::Invalid { field: Some(field.to_string()), message: message.into() }
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        HttpError::Internal(cause.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::Unauthorized => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden | HttpError::Csrf => StatusCode::FORBIDDEN,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            HttpError::Conflict { .. } => StatusCode::CONFLICT,
            HttpError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            HttpError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            HttpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            HttpError::NotFound => "not_found",
            HttpError::Unauthorized => "unauthorized",
            HttpError::Forbidden => "forbidden",
            HttpError::MethodNotAllowed => "method_not_allowed",
            HttpError::Invalid { .. } => "invalid",
            HttpError::Conflict { .. } => "conflict",
            HttpError::TooManyRequests { .. } => "too_many_requests",
            HttpError::Csrf => "csrf",
            HttpError::Unavailable(_) => "unavailable",
            HttpError::StorageFull(_) => "storage_full",
            HttpError::BadGateway(_) => "bad_gateway",
            HttpError::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (field, cause) = match &self {
            HttpError::Invalid { field, .. } | HttpError::Conflict { field, .. } => (field.clone(), None),
            HttpError::Internal(c)
            | HttpError::Unavailable(c)
            | HttpError::StorageFull(c)
            | HttpError::BadGateway(c) => (None, Some(c.clone())),
            _ => (None, None),
        };
        let info = ErrorInfo { code: self.code(), message: self.to_string(), field, cause };
        let mut res = (status, info.message.clone()).into_response();
        if let HttpError::TooManyRequests { retry_after_secs } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res.extensions_mut().insert(info);
        res
    }
}

impl From<StorageError> for HttpError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => HttpError::NotFound,
            StorageError::Conflict(what) => {
                HttpError::Conflict { field: None, message: format!("that already exists ({what})") }
            }
            StorageError::Unavailable(_) => HttpError::Unavailable(e.to_string()),
            other => HttpError::Internal(other.to_string()),
        }
    }
}

impl From<crate::auth::Denied> for HttpError {
    fn from(_: crate::auth::Denied) -> Self {
        HttpError::Forbidden
    }
}

impl From<crate::render::RenderError> for HttpError {
    fn from(e: crate::render::RenderError) -> Self {
        HttpError::Internal(e.to_string())
    }
}

impl From<crate::mail::MailError> for HttpError {
    fn from(e: crate::mail::MailError) -> Self {
        HttpError::Internal(e.to_string())
    }
}

impl From<crate::blobs::BlobError> for HttpError {
    fn from(e: crate::blobs::BlobError) -> Self {
        match e {
            crate::blobs::BlobError::Full(_) => HttpError::StorageFull(e.to_string()),
            other => HttpError::Unavailable(other.to_string()),
        }
    }
}

pub type HttpResult<T> = Result<T, HttpError>;
