//! Reading multipart forms with image uploads (logos, favicons).

use axum::extract::Multipart;
use std::collections::HashMap;

use super::error::HttpError;
use crate::blobs::ImageKind;

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
