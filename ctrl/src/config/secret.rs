//! Key material from the config file: SA keys, salts and peer-channel PSKs.
//!
//! A `Secret` is zeroized when dropped and its `Debug` says only how long it is, so a
//! `{:?}` of the whole `Config` (in a log line, a panic message, a test failure) never
//! shows a key. It deliberately has no `PartialEq`: comparing secrets is the crypto
//! code's job, in constant time; tests compare `expose()` explicitly.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

/// Secret bytes (a `Vec<u8>` or a fixed array), wiped on drop, never printed.
#[derive(Clone)]
pub struct Secret<T: Zeroize>(Zeroizing<T>);

impl<T: Zeroize> Secret<T> {
    /// Takes ownership of `value`; it is zeroized when the `Secret` is dropped.
    pub fn new(value: T) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret itself, for the code that expands it into a key schedule.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T: Zeroize + AsRef<[u8]>> Secret<T> {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.as_ref().len()
    }

    /// True for zero bytes (never the case for a validated config).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Zeroize + AsRef<[u8]>> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted, {} bytes>", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_length_only() {
        let s = Secret::new(vec![0xab_u8; 16]);
        let shown = format!("{s:?} {s:#?}");
        assert!(shown.contains("16 bytes"), "{shown}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
        assert_eq!(s.expose(), &vec![0xab_u8; 16]);
    }
}
