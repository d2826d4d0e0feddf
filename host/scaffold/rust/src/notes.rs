//! The rules a note must follow: plain Rust, so `cargo test` checks them natively, without a portal.

/// A note's text, trimmed, or what is wrong with it.
pub fn check_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 200 {
        return Err("write 1 to 200 characters".into());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::check_text;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(check_text("  hi "), Ok("hi".to_string()));
        assert!(check_text("   ").is_err());
        assert!(check_text(&"x".repeat(201)).is_err());
        assert!(check_text(&"é".repeat(200)).is_ok());
    }
}
