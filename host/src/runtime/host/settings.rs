//! `portico:plugin/settings`: the plugin's validated settings for the call's program.

use super::super::bindings::PluginError;
use super::super::bindings::portico::plugin::settings::Host;
use super::super::state::HostState;

impl Host for HostState {
    fn get(&mut self) -> Result<String, PluginError> {
        Ok(self.inv.settings.clone())
    }
}
