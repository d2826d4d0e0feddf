//! A native host extension for the tests: `uppercase` returns its UTF-8 input upper-cased; anything else fails.
// The extension ABI is C: exporting unmangled functions and handing out raw buffers needs unsafe.
#![allow(unsafe_code)]

use std::ffi::c_char;

#[repr(C)]
pub struct PorticoBuffer {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

fn give(mut v: Vec<u8>, out: *mut PorticoBuffer) {
    let buf = PorticoBuffer { ptr: v.as_mut_ptr(), len: v.len(), cap: v.capacity() };
    std::mem::forget(v);
    // SAFETY: the host passes a valid, writable buffer slot.
    unsafe { out.write(buf) };
}

#[unsafe(no_mangle)]
pub extern "C" fn portico_extension_abi() -> *const c_char {
    c"1.2.0".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn portico_extension_name() -> *const c_char {
    c"upper".as_ptr()
}

/// # Safety
/// `op` and `input` point to `op_len` and `input_len` readable bytes; `out` is writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_extension_call(
    op: *const u8,
    op_len: usize,
    input: *const u8,
    input_len: usize,
    out: *mut PorticoBuffer,
) -> i32 {
    // SAFETY: the caller guarantees the lengths describe live slices.
    let (op, input) = unsafe { (std::slice::from_raw_parts(op, op_len), std::slice::from_raw_parts(input, input_len)) };
    match op {
        b"uppercase" => {
            give(String::from_utf8_lossy(input).to_uppercase().into_bytes(), out);
            0
        }
        _ => {
            give(format!("unknown operation {}", String::from_utf8_lossy(op)).into_bytes(), out);
            1
        }
    }
}

/// # Safety
/// `buf` is a buffer this extension returned and has not been freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn portico_extension_free(buf: PorticoBuffer) {
    // SAFETY: rebuilt from the parts `give` forgot.
    drop(unsafe { Vec::from_raw_parts(buf.ptr, buf.len, buf.cap) });
}
