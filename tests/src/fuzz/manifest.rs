//! `plugin.toml` parsing: any text either parses into a manifest that validates, or is refused with errors that
//! each name a field path and a reason. Never a panic.

use portico_plugin_api::Manifest;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Manifest::parse(text) {
        Ok(m) => {
            assert!(m.validate().is_ok(), "a parsed manifest validates");
            let _ = m.check_api(&portico_plugin_api::api_version());
            for c in &m.grants.collections {
                assert!(m.collection(&c.name).is_some());
            }
        }
        Err(errors) => assert!(!errors.to_string().is_empty(), "a refusal says why"),
    }
}
