//! The contract between the Portico host and its plugins: the WIT package `portico:plugin` (in `wit/`, the
//! only interface between them), the plugin manifest (`plugin.toml`), parsed and validated here with precise
//! errors, and the package format (`.tar.gz`), unpacked here with its safety checks. Neither wasmtime nor sqlx is
//! a dependency: plugin tooling (and the fuzz targets) can use this crate alone.

mod manifest;
pub mod package;
mod settings;

pub use manifest::{
    Card, Collection, Grants, Index, Limits, Manifest, ManifestError, ManifestErrors, Method, Metric, MetricUnit,
    NavEntry, Role, Route, Schedule, Upload, Widget, route_matches,
};
pub use settings::{SettingField, SettingType, validate_settings};

/// The version of the WIT package `portico:plugin` this crate describes.
pub const API_VERSION: &str = "0.1.4";

/// The WIT source, for tools that embed it.
pub const WIT: &str = include_str!("../wit/portico.wit");

/// [`API_VERSION`] parsed.
pub fn api_version() -> semver::Version {
    semver::Version::parse(API_VERSION).expect("API_VERSION is valid semver")
}

/// The WIT package declares the version this crate says it does.
#[cfg(test)]
mod tests {
    #[test]
    fn the_wit_package_version_matches_api_version() {
        assert!(super::WIT.contains(&format!("package portico:plugin@{};", super::API_VERSION)));
    }
}
