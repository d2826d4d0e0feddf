//! Reading multipart forms: small image uploads (logos, favicons) into memory, and plugins' file uploads streamed
//! into the blob store as they arrive (never whole in memory), each judged by its content (not its name or the
//! browser's claim) against the route's limits, hashed on the way.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::Multipart;
use sha2::{Digest, Sha256};

use super::error::HttpError;
use crate::app::AppState;
use crate::blobs::ImageKind;
use crate::runtime::UploadedFile;
use crate::storage::plugin_usage::BlobRow;

/// Bytes read before a file's type is judged.
const SNIFF_BYTES: usize = 8192;
/// Largest text field of an upload form.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Largest logo or favicon accepted.
pub const MAX_IMAGE_BYTES: usize = 1024 * 1024;

/// A multipart form: text fields, and image files by field name.
#[derive(Debug, Default)]
pub struct UploadForm {
    pub fields: HashMap<String, String>,
    pub images: HashMap<String, (ImageKind, Vec<u8>)>,
    /// Field name → what is wrong with its file.
    pub file_errors: HashMap<String, String>,
}

impl UploadForm {
    pub async fn read(mut mp: Multipart, image_fields: &[&str]) -> Result<Self, HttpError> {
        let mut form = UploadForm::default();
        while let Some(field) =
            mp.next_field().await.map_err(|e| HttpError::invalid("form", format!("the upload was cut short: {e}")))?
        {
            let name = field.name().unwrap_or("").to_string();
            if image_fields.contains(&name.as_str()) {
                let has_file = field.file_name().is_some_and(|n| !n.is_empty());
                let bytes =
                    field.bytes().await.map_err(|e| HttpError::invalid(&name, format!("the upload failed: {e}")))?;
                if !has_file || bytes.is_empty() {
                    continue;
                }
                if bytes.len() > MAX_IMAGE_BYTES {
                    form.file_errors.insert(name, "use an image of at most 1 MiB".into());
                } else if let Some(kind) = ImageKind::sniff(&bytes) {
                    form.images.insert(name, (kind, bytes.to_vec()));
                } else {
                    form.file_errors.insert(name, "use a PNG, JPEG, GIF, WebP or ICO image".into());
                }
            } else {
                let text =
                    field.text().await.map_err(|e| HttpError::invalid(&name, format!("the upload failed: {e}")))?;
                form.fields.insert(name, text);
            }
        }
        Ok(form)
    }

    pub fn text(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

/// Streams the files of a plugin's upload form into the blob store under `tenants/{tenant}/plugins/{plugin}/uploads/`
/// and returns the other fields and the files' handles. A file over the route's size, of a type it does not accept
/// (as its content says), or one too many refuses the whole form, and every file stored for it so far is removed.
pub async fn receive_files(
    state: &AppState,
    tenant: &str,
    plugin: &str,
    limits: &portico_plugin_api::Upload,
    body: Body,
    boundary: String,
) -> Result<(Vec<(String, String)>, Vec<UploadedFile>), HttpError> {
    let mut stored: Vec<UploadedFile> = Vec::new();
    let result = receive(state, tenant, plugin, limits, body, boundary, &mut stored).await;
    if result.is_err() {
        discard(state, stored.iter().map(|f| f.row.key.as_str())).await;
    }
    result.map(|form| (form, stored))
}

async fn receive(
    state: &AppState,
    tenant: &str,
    plugin: &str,
    limits: &portico_plugin_api::Upload,
    body: Body,
    boundary: String,
    stored: &mut Vec<UploadedFile>,
) -> Result<Vec<(String, String)>, HttpError> {
    let cut = |e: multer::Error| HttpError::invalid("form", format!("the upload was cut short: {e}"));
    let mut mp = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut form = Vec::new();
    let max = limits.max_mib << 20;
    while let Some(mut field) = mp.next_field().await.map_err(cut)? {
        let name = field.name().unwrap_or("").to_string();
        let Some(filename) = field.file_name().map(clean_filename) else {
            let mut text = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(cut)? {
                text.extend_from_slice(&chunk);
                if text.len() > MAX_FIELD_BYTES {
                    return Err(HttpError::invalid(&name, "this field holds more than 64 KiB"));
                }
            }
            if name != super::csrf::FIELD {
                form.push((name, String::from_utf8_lossy(&text).into_owned()));
            }
            continue;
        };
        if filename.is_empty() {
            // A file input left empty.
            while field.chunk().await.map_err(cut)?.is_some() {}
            continue;
        }
        if stored.len() >= limits.max_files as usize {
            return Err(HttpError::invalid(&name, format!("send at most {} files at once", limits.max_files)));
        }
        let key = format!("tenants/{tenant}/plugins/{plugin}/uploads/{}", crate::domain::new_id());
        let mut writer = state.blobs.writer(&key).await?;
        let mut hasher = Sha256::new();
        let (mut size, mut head, mut content_type) = (0u64, Vec::new(), None::<String>);
        let outcome: Result<(), HttpError> = async {
            loop {
                let chunk = field.chunk().await.map_err(cut)?;
                let done = chunk.is_none();
                if let Some(c) = &chunk {
                    size += c.len() as u64;
                    if size > max {
                        return Err(HttpError::invalid(
                            &name,
                            format!("{filename} is larger than {} MiB, the most this form takes", limits.max_mib),
                        ));
                    }
                    hasher.update(c);
                }
                if content_type.is_none() {
                    if let Some(c) = &chunk {
                        head.extend_from_slice(c);
                    }
                    if head.len() < SNIFF_BYTES && !done {
                        continue;
                    }
                    let judged = sniff(&head);
                    if !limits.accepts(&judged) {
                        return Err(HttpError::invalid(
                            &name,
                            format!("{filename} is {}, which this form does not take", describe(&judged)),
                        ));
                    }
                    content_type = Some(judged);
                    writer.write(bytes::Bytes::from(std::mem::take(&mut head))).await?;
                } else if let Some(c) = chunk {
                    writer.write(c).await?;
                }
                if done {
                    return Ok(());
                }
            }
        }
        .await;
        if let Err(e) = outcome {
            writer.abort().await;
            return Err(e);
        }
        writer.finish().await?;
        let row = BlobRow {
            key,
            size,
            sha256: hex::encode(hasher.finalize()),
            content_type: content_type.unwrap_or_else(|| "application/octet-stream".into()),
            filename,
        };
        stored.push(UploadedFile { field: name, row });
    }
    Ok(form)
}

/// Removes the uploads of a request that no committed call kept.
pub async fn discard_unkept(state: &AppState, keys: &[String]) {
    if keys.is_empty() {
        return;
    }
    match state.db.known_blobs(keys).await {
        Ok(kept) => discard(state, keys.iter().map(String::as_str).filter(|k| !kept.contains(*k))).await,
        // Left to the orphan sweeper, which removes unrecorded files after its grace period.
        Err(e) => tracing::warn!(error = %e, "could not tell which uploads were kept"),
    }
}

async fn discard<'a>(state: &AppState, keys: impl Iterator<Item = &'a str>) {
    for key in keys {
        if let Err(e) = state.blobs.delete(key).await {
            tracing::warn!(key, error = %e, "an upload could not be removed; the sweeper will");
        }
    }
}

/// The type of a file judged from its first bytes: a known signature (PDF, images, video, office documents,
/// archives, HTML, executables…), or plain text when they are UTF-8, or `application/octet-stream`.
pub fn sniff(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_string();
    }
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut by the sniffing window still makes text.
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > head.len(),
    };
    if head.is_empty() || !text {
        return "application/octet-stream".into();
    }
    let start = String::from_utf8_lossy(&head[..head.len().min(512)]).trim_start().to_ascii_lowercase();
    if start.starts_with("<!doctype html") || start.starts_with("<html") || start.contains("<script") {
        "text/html".into()
    } else if start.starts_with("<?xml") || start.starts_with("<svg") {
        "application/xml".into()
    } else {
        "text/plain".into()
    }
}

/// A type in words, for a refusal.
fn describe(content_type: &str) -> String {
    match content_type {
        "text/html" => "an HTML page".into(),
        "application/octet-stream" => "of a kind that cannot be recognised".into(),
        "application/vnd.microsoft.portable-executable"
        | "application/x-msdownload"
        | "application/x-executable"
        | "application/x-elf"
        | "application/x-mach-binary" => "a program".into(),
        other => format!("of type {other}"),
    }
}

/// A file name as the user's browser sent it, without paths, control characters or leading dots, at most 200
/// characters.
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_judged_by_content_not_by_name() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xe2\xe3"), "application/pdf");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"<!DOCTYPE html><script>alert(1)</script>"), "text/html");
        assert_eq!(describe(&sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0")), "a program");
        assert_eq!(sniff("Plain words, café".as_bytes()), "text/plain");
        assert_eq!(sniff(&[0, 159, 146, 150, 1, 2]), "application/octet-stream");
        assert_eq!(clean_filename("C:\\Users\\me\\..\\report\n.pdf"), "report.pdf");
    }
}
