//! Native host extensions: trusted shared libraries an operator configures (`extensions = ["/path/lib.so"]`) to
//! add a capability — a document renderer, say — that granted plugins call through the `extensions` WIT
//! interface. Off unless configured. Each library's ABI version is checked with semver on load.
//!
//! The C ABI an extension exports:
//! - `portico_extension_abi() -> *const c_char`: its ABI version, e.g. `"1.0.0"` (NUL-terminated, static);
//! - `portico_extension_name() -> *const c_char`: its name, as plugins' manifests grant it (static);
//! - `portico_extension_call(op: *const u8, op_len: usize, input: *const u8, input_len: usize,
//!   out: *mut PorticoBuffer) -> i32`: 0 with the result in `out`, non-zero with an error message in `out`;
//! - `portico_extension_free(buf: PorticoBuffer)`: frees a buffer the extension returned.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ffi::{CStr, c_char};
use std::path::{Path, PathBuf};

use libloading::{Library, Symbol};

/// The extension ABI this host speaks; extensions must match `^1`.
pub const EXTENSION_ABI: &str = "1.0.0";

/// A buffer passed from an extension to the host.
#[repr(C)]
#[derive(Debug)]
pub struct PorticoBuffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub cap: usize,
}

type AbiFn = unsafe extern "C" fn() -> *const c_char;
type CallFn = unsafe extern "C" fn(*const u8, usize, *const u8, usize, *mut PorticoBuffer) -> i32;
type FreeFn = unsafe extern "C" fn(PorticoBuffer);

/// Why an extension did not load or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtensionError {
    #[error("{path}: {reason}")]
    Load { path: PathBuf, reason: String },
    #[error("{path}: extension ABI {found} is not compatible with the host's {EXTENSION_ABI}")]
    Abi { path: PathBuf, found: String },
    #[error("extension {0} is loaded twice")]
    Duplicate(String),
    #[error("{0}")]
    Call(String),
}

struct Extension {
    call: CallFn,
    free: FreeFn,
    // Keeps the library mapped while the function pointers above are in use.
    _library: Library,
}

/// The loaded extensions, by name.
#[derive(Default)]
pub struct Extensions {
    loaded: HashMap<String, Extension>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extensions").field("loaded", &self.loaded.keys().collect::<Vec<_>>()).finish()
    }
}

impl Extensions {
    /// Loads every configured library; none when the list is empty.
    pub fn load(paths: &[PathBuf]) -> Result<Self, ExtensionError> {
        let mut loaded = HashMap::new();
        for path in paths {
            let (name, ext) = load_one(path)?;
            if loaded.insert(name.clone(), ext).is_some() {
                return Err(ExtensionError::Duplicate(name));
            }
            tracing::info!(extension = %name, path = %path.display(), "loaded host extension");
        }
        Ok(Extensions { loaded })
    }

    pub fn names(&self) -> Vec<String> {
        self.loaded.keys().cloned().collect()
    }

    /// Calls an operation of a loaded extension; `None` when no such extension is loaded.
    pub fn call(&self, name: &str, operation: &str, input: &[u8]) -> Option<Result<Vec<u8>, ExtensionError>> {
        let ext = self.loaded.get(name)?;
        let mut out = PorticoBuffer { ptr: std::ptr::null_mut(), len: 0, cap: 0 };
        // SAFETY: the extension was checked for the ABI this signature describes; the pointers and lengths
        // describe live slices for the duration of the call, and `out` is a valid place to write.
        let status = unsafe { (ext.call)(operation.as_ptr(), operation.len(), input.as_ptr(), input.len(), &mut out) };
        let bytes = if out.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: the extension returned `len` initialised bytes at `ptr`, owned by it until freed below.
            unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec()
        };
        if !out.ptr.is_null() {
            // SAFETY: the buffer came from this extension and is freed exactly once, by it.
            unsafe { (ext.free)(out) };
        }
        Some(if status == 0 {
            Ok(bytes)
        } else {
            Err(ExtensionError::Call(String::from_utf8_lossy(&bytes).into_owned()))
        })
    }
}

fn load_one(path: &Path) -> Result<(String, Extension), ExtensionError> {
    let err = |reason: String| ExtensionError::Load { path: path.to_path_buf(), reason };
    // SAFETY: loading a library runs its initialisers; extensions are trusted code the operator configured.
    let library = unsafe { Library::new(path) }.map_err(|e| err(e.to_string()))?;
    // SAFETY (all symbol look-ups and calls below): the symbols are declared by the extension ABI documented
    // above; the returned strings are static and NUL-terminated.
    let (abi, name, call, free) = unsafe {
        let abi: Symbol<AbiFn> = library.get(b"portico_extension_abi\0").map_err(|e| err(e.to_string()))?;
        let abi = CStr::from_ptr(abi()).to_string_lossy().into_owned();
        let found = semver::Version::parse(&abi).map_err(|e| err(format!("ABI version {abi:?}: {e}")))?;
        let wanted = semver::VersionReq::parse(&format!("^{EXTENSION_ABI}")).expect("valid requirement");
        if !wanted.matches(&found) {
            return Err(ExtensionError::Abi { path: path.to_path_buf(), found: abi });
        }
        let name: Symbol<AbiFn> = library.get(b"portico_extension_name\0").map_err(|e| err(e.to_string()))?;
        let name = CStr::from_ptr(name()).to_string_lossy().into_owned();
        let call: Symbol<CallFn> = library.get(b"portico_extension_call\0").map_err(|e| err(e.to_string()))?;
        let free: Symbol<FreeFn> = library.get(b"portico_extension_free\0").map_err(|e| err(e.to_string()))?;
        (abi, name, *call, *free)
    };
    let _ = abi;
    Ok((name, Extension { call, free, _library: library }))
}
