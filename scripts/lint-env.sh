# Sourced by the scripts that build the workspace: clippy-driver compiles the workspace's own crates (as `cargo
# clippy` runs it, but emitting code), so every build lints with `-D warnings` and shares its artifacts with the
# tests, the demo binary and the plugin builds; dependencies are compiled by plain rustc either way. Every script
# that builds must source this, or the workspace's crates are rebuilt without the wrapper.
# PORTICO_NO_LINT=1 turns it off (a quicker edit-build loop; CI never sets it).
if [ "${PORTICO_NO_LINT:-0}" != 1 ]; then
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy >/dev/null
  RUSTC_WORKSPACE_WRAPPER=$(rustup which clippy-driver)
  # cargo-clippy's own way of handing lint flags to clippy-driver.
  CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
fi
