//! Thin typed wrappers over the host imports other than storage.

/// Events.
pub mod events {
    use serde::Serialize;

    use crate::Error;

    /// Emits an event with a JSON payload; it is published only if the invocation succeeds. Returns its id.
    pub fn emit(topic: &str, payload: &impl Serialize) -> Result<String, Error> {
        crate::bindings::portico::plugin::events::emit(topic, &crate::storage::encode(payload)?)
    }

    /// Decodes an event's payload.
    pub fn payload<T: serde::de::DeserializeOwned>(event: &crate::Event) -> Result<T, Error> {
        serde_json::from_str(&event.payload).map_err(|e| Error::invalid("payload", e.to_string()))
    }
}

/// The directory of users, organisations and programs.
pub mod directory {
    pub use crate::bindings::portico::plugin::directory::{
        EnrolmentInfo, OrgInfo, ProgramInfo, TierInfo, UserInfo, get_org, get_program, get_user, list_orgs, list_users,
        set_tier,
    };
}

/// Notifications in the portal and by email.
pub mod notify {
    pub use crate::bindings::portico::plugin::notifications::{Audience, Notification, send};
}

/// Outbound HTTP to the hosts the manifest names.
pub mod http {
    pub use crate::bindings::portico::plugin::outbound_http::{Request, Response, send};
}

/// Secrets the vendor stored for the plugin.
pub mod secrets {
    pub use crate::bindings::portico::plugin::secrets::get;
}

/// The plugin's settings for the call's program.
pub mod settings {
    use crate::Error;

    /// The settings decoded into `T` (defaults filled in by the host).
    pub fn get<T: serde::de::DeserializeOwned>() -> Result<T, Error> {
        let raw = crate::bindings::portico::plugin::settings::get()?;
        serde_json::from_str(&raw).map_err(|e| Error::internal(format!("settings do not decode: {e}")))
    }
}

/// Files in the blob store.
pub mod blobs {
    pub use crate::bindings::portico::plugin::blobs::{delete, get, put};
}

/// The host's structured log.
pub mod log {
    use crate::bindings::portico::plugin::logging::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Native host extensions the operator loaded, for plugins granted them.
pub mod extensions {
    pub use crate::bindings::portico::plugin::extensions::call;
}
