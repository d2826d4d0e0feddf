//! The contract between the Portico host and its plugins.
