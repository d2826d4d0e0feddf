//! `portico:plugin/extensions`: native host extensions the operator loaded, for plugins granted them.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::extensions::Host;
use super::super::state::HostState;
use super::denied;

impl Host for HostState {
    fn call(&mut self, name: String, operation: String, input: Vec<u8>) -> Result<Vec<u8>, PluginError> {
        if !self.plugin.manifest.grants.extensions.contains(&name) {
            return Err(denied(format!("extension {name} is not declared in plugin.toml")));
        }
        match self.shared.extensions.call(&name, &operation, &input) {
            None => Err(PluginError::NotFound(format!("extension {name} is not loaded on this host"))),
            Some(Ok(out)) => {
                self.charge_output(out.len())?;
                Ok(out)
            }
            Some(Err(e)) => Err(PluginError::Unavailable(format!("extension {name}: {e}"))),
        }
    }
}
