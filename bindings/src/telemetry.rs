//! DPDK telemetry commands implemented in Rust: [`register`] makes a command such as
//! `/qfp/drops` answer on the process's telemetry socket (`dpdk-telemetry.py -f PREFIX`).
//!
//! DPDK 22.11's callback (`telemetry_cb`) carries no user data, only the command string,
//! so one C trampoline serves every command and finds the Rust handler by name in a small
//! registry. The callback runs on DPDK's telemetry thread, never on a worker or the
//! control core; the registry's lock is held there only long enough to clone the handler
//! out (an `Arc`), and by [`register`] once per command.
//!
//! Replies are flat dictionaries of unsigned integers, signed integers and strings: DPDK
//! 22.11 nests only arrays inside a dictionary, so structured figures are flattened with
//! `/` in the keys (`branch-1/0x1001/packets`). Keys may hold only ASCII letters, digits,
//! `_` and `/` (DPDK checks): [`sanitize_key`] maps anything else to `_`. A dictionary
//! holds at most [`MAX_ENTRIES`] entries; a longer reply is cut and ends with
//! `truncated: 1`. A handler that panics answers as an error, never unwinds into C.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::ffi;

/// Largest dictionary DPDK's telemetry builds (`RTE_TEL_MAX_DICT_ENTRIES`).
pub const MAX_ENTRIES: usize = ffi::RTE_TEL_MAX_DICT_ENTRIES as usize;
/// Longest key or string value, NUL excluded (`RTE_TEL_MAX_STRING_LEN - 1`).
pub const MAX_STRING: usize = ffi::RTE_TEL_MAX_STRING_LEN as usize - 1;
/// Longest command, NUL excluded: DPDK refuses 56 bytes and more (`MAX_CMD_LEN` of
/// `lib/telemetry/telemetry.c`, not in its headers).
pub const MAX_COMMAND: usize = 55;
/// Longest help text, NUL excluded (`MAX_HELP_LEN` 64, likewise private); a longer one
/// is cut here rather than refused there.
pub const MAX_HELP: usize = 63;

/// One value of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A counter or any non-negative figure.
    U64(u64),
    /// A signed figure (DPDK carries 32 bits).
    Int(i32),
    /// Text (cut at [`MAX_STRING`] bytes).
    Str(String),
}

/// What a handler answers: a flat dictionary, in order.
pub type Reply = Vec<(String, Value)>;

/// A command's handler: gets the parameters after the comma (`/qfp/sa,branch-1`).
type Handler = Arc<dyn Fn(Option<&str>) -> Reply + Send + Sync>;

fn registry() -> &'static Mutex<HashMap<String, Handler>> {
    static R: OnceLock<Mutex<HashMap<String, Handler>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// `key` with every byte DPDK refuses in a dictionary key replaced by `_`, cut to
/// [`MAX_STRING`] bytes.
pub fn sanitize_key(key: &str) -> String {
    key.bytes()
        .take(MAX_STRING)
        .map(|b| if b.is_ascii_alphanumeric() || b == b'_' || b == b'/' { b as char } else { '_' })
        .collect()
}

fn valid_command(cmd: &str) -> bool {
    cmd.starts_with('/')
        && cmd.len() <= MAX_COMMAND
        && cmd.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'/')
}

/// Makes `cmd` (e.g. `/qfp/drops`: `/`, letters, digits, `_`; at most [`MAX_COMMAND`]
/// bytes) answer with `handler`'s dictionary; `help` is cut at [`MAX_HELP`] bytes. Registering the same command again replaces its handler. May be called
/// before or after the EAL starts.
pub fn register(
    cmd: &str,
    help: &str,
    handler: impl Fn(Option<&str>) -> Reply + Send + Sync + 'static,
) -> Result<()> {
    if !valid_command(cmd) {
        return Err(Error::InvalidArgument(format!(
            "telemetry command {cmd:?}: must start with '/', hold only letters, digits, '_' and '/', \
             and be at most {MAX_COMMAND} bytes"
        )));
    }
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    let known = reg.contains_key(cmd);
    reg.insert(cmd.to_owned(), Arc::new(handler));
    if known {
        return Ok(());
    }
    // DPDK keeps the two pointers for the life of the process: leak them, once per command.
    let c_cmd: &'static CStr =
        Box::leak(CString::new(cmd).expect("checked above").into_boxed_c_str());
    let c_help: &'static CStr = Box::leak(c_text(help, MAX_HELP).into_boxed_c_str());
    // SAFETY: both strings are NUL-terminated and live forever (leaked above); the callback
    // is an `extern "C"` function with the signature of `telemetry_cb`.
    let ret = unsafe {
        ffi::rte_telemetry_register_cmd(c_cmd.as_ptr(), Some(trampoline), c_help.as_ptr())
    };
    if ret < 0 {
        reg.remove(cmd);
        return Err(Error::from_errno(format!("rte_telemetry_register_cmd({cmd})"), ret));
    }
    Ok(())
}

/// Runs the handler of `cmd` with `params` and returns its reply (what the socket would
/// carry), without DPDK: for tests and for other front ends.
pub fn call(cmd: &str, params: Option<&str>) -> Option<Reply> {
    let h = registry().lock().unwrap_or_else(|p| p.into_inner()).get(cmd).cloned()?;
    Some(h(params))
}

/// Copies `s` into a C string, without NULs and cut at `max` bytes (on a char boundary).
fn c_text(s: &str, max: usize) -> CString {
    let s = s.replace('\0', "");
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    CString::new(&s[..end]).expect("NULs removed")
}

/// The C callback for every command registered here.
extern "C" fn trampoline(
    cmd: *const c_char,
    params: *const c_char,
    d: *mut ffi::rte_tel_data,
) -> c_int {
    if cmd.is_null() || d.is_null() {
        return -1;
    }
    // SAFETY: DPDK passes the NUL-terminated command it matched (one we registered).
    let cmd = unsafe { CStr::from_ptr(cmd) }.to_string_lossy().into_owned();
    let params = if params.is_null() {
        None
    } else {
        // SAFETY: DPDK passes a NUL-terminated string (possibly empty) or NULL.
        let p = unsafe { CStr::from_ptr(params) }.to_string_lossy().into_owned();
        (!p.is_empty()).then_some(p)
    };
    let Some(reply) = std::panic::catch_unwind(|| call(&cmd, params.as_deref())).ok().flatten()
    else {
        return -1;
    };
    // SAFETY: `d` is the reply object DPDK handed to this callback, valid until we return.
    if unsafe { ffi::rte_tel_data_start_dict(d) } < 0 {
        return -1;
    }
    let total = reply.len();
    for (i, (key, value)) in reply.into_iter().enumerate() {
        if i + 1 == MAX_ENTRIES && total > MAX_ENTRIES {
            let k = c_text("truncated", MAX_STRING);
            // SAFETY: as above; `k` is NUL-terminated and outlives the call (DPDK copies).
            unsafe { ffi::rte_tel_data_add_dict_u64(d, k.as_ptr(), 1) };
            break;
        }
        let k = c_text(&sanitize_key(&key), MAX_STRING);
        // SAFETY: `d` is a started dictionary with room left (at most MAX_ENTRIES entries
        // are added); keys and values are NUL-terminated and copied by DPDK.
        unsafe {
            match value {
                Value::U64(v) => ffi::rte_tel_data_add_dict_u64(d, k.as_ptr(), v),
                Value::Int(v) => ffi::rte_tel_data_add_dict_int(d, k.as_ptr(), v),
                Value::Str(s) => {
                    let v = c_text(&s, MAX_STRING);
                    ffi::rte_tel_data_add_dict_string(d, k.as_ptr(), v.as_ptr())
                }
            }
        };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_commands() {
        assert_eq!(sanitize_key("branch-1/0x1001/packets"), "branch_1/0x1001/packets");
        assert_eq!(sanitize_key("a b.c"), "a_b_c");
        assert_eq!(sanitize_key(&"x".repeat(300)).len(), MAX_STRING);
        assert!(valid_command("/qfp/drops"));
        assert!(!valid_command("qfp/drops"));
        assert!(!valid_command("/qfp/in-valid"));
        assert!(valid_command(&format!("/{}", "x".repeat(54))));
        assert!(!valid_command(&format!("/{}", "x".repeat(55))), "DPDK refuses 56 bytes");
        assert_eq!(c_text(&"é".repeat(100), MAX_STRING).as_bytes().len(), 126);
        assert_eq!(c_text(&"é".repeat(100), MAX_HELP).as_bytes().len(), 62);
        assert_eq!(c_text("a\0b", MAX_HELP).as_bytes(), b"ab");
    }

    #[test]
    fn registered_handlers_answer_without_dpdk() {
        // Before the EAL: DPDK's registration works on its own table.
        register("/qfp_test/echo", "echo", |p| {
            vec![("p".into(), Value::Str(p.unwrap_or("").into()))]
        })
        .unwrap();
        assert_eq!(
            call("/qfp_test/echo", Some("x")),
            Some(vec![("p".into(), Value::Str("x".into()))])
        );
        register("/qfp_test/echo", "again", |_| vec![("n".into(), Value::U64(1))]).unwrap();
        assert_eq!(call("/qfp_test/echo", None), Some(vec![("n".into(), Value::U64(1))]));
        assert!(call("/qfp_test/none", None).is_none());
        assert!(register("bad", "", |_| vec![]).is_err());
        // A help text longer than DPDK takes is cut, not refused.
        register("/qfp_test/long", &"h".repeat(200), |_| vec![]).unwrap();
    }
}
