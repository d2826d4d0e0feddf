//! A native host extension with an ABI from the future, which the host must refuse to load.
// The extension ABI is C: exporting unmangled functions needs unsafe.
#![allow(unsafe_code)]

use std::ffi::c_char;

#[unsafe(no_mangle)]
pub extern "C" fn portico_extension_abi() -> *const c_char {
    c"2.0.0".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn portico_extension_name() -> *const c_char {
    c"future".as_ptr()
}
