//! The Portico plugin SDK.
