//! AES-GCM for IPsec ESP (RFC 4106): in-place seal and open with a 12-byte nonce
//! (salt || IV), any AAD (ESP uses 8 or 12 bytes), a 16-byte tag, AES-128 and AES-256.
//!
//! [`GcmKey`] expands the key and precomputes the GHASH key powers once (once per SA) and
//! picks the fastest backend this CPU runs:
//!
//! | backend | needs | main loop |
//! | --- | --- | --- |
//! | [`Backend::VaesAvx2`] | AES-NI, PCLMULQDQ, AVX2, VAES, VPCLMULQDQ | 16 blocks, 2 per register |
//! | [`Backend::AesniPclmul`] | AES-NI, PCLMULQDQ, SSE4.1 | 8 blocks |
//! | [`Backend::Soft`] | nothing | the `aes` + `ghash` crates |
//!
//! Both SIMD backends hand short texts (at most 112 bytes, AAD at most 16: ESP's 64-byte
//! frames) to one kernel that runs E_K(J0) and every counter block through AES together and
//! hashes AAD, text and lengths with one reduction (`short`): per call, the general kernels'
//! set-up costs more than the work on a few blocks.
//!
//! Opening is one pass (GHASH and decryption interleaved), then a constant-time tag
//! comparison. On a mismatch the keystream is applied again, so the buffer holds exactly
//! the ciphertext it held before the call: no unauthenticated plaintext is ever left behind,
//! and a caller that keeps the packet (to capture or count it) sees what arrived.
//!
//! Seal and open never allocate and take `&self`, so one key serves any number of threads.
//! A SIMD key is about 850 bytes, inline (the portable fallback boxes its state once, when
//! the key is made).

use core::fmt;

use subtle::ConstantTimeEq;

#[cfg(target_arch = "x86_64")]
use crate::cpu::{AesClmul, VaesClmul};

#[cfg(target_arch = "x86_64")]
mod aesni;
#[cfg(target_arch = "x86_64")]
mod field;
#[cfg(target_arch = "x86_64")]
mod ghash;
#[cfg(target_arch = "x86_64")]
mod schedule;
#[cfg(target_arch = "x86_64")]
mod short;
#[cfg(not(target_arch = "x86_64"))]
mod field {
    //! The byte-level helpers of the x86 field module, for the portable backend.
    pub(crate) fn j0(nonce: &[u8; 12]) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..12].copy_from_slice(nonce);
        b[15] = 1;
        b
    }
    pub(crate) fn length_block(aad_len: usize, text_len: usize) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&((aad_len as u64) * 8).to_be_bytes());
        b[8..].copy_from_slice(&((text_len as u64) * 8).to_be_bytes());
        b
    }
}
mod soft;
#[cfg(target_arch = "x86_64")]
mod vaes;

#[cfg(target_arch = "x86_64")]
use schedule::Schedule;

/// The longest plaintext GCM allows with a 96-bit nonce: 2^32 - 2 blocks (SP 800-38D).
pub const MAX_TEXT_LEN: u64 = (1 << 36) - 32;

/// Which implementation a [`GcmKey`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// VAES + VPCLMULQDQ on 256-bit AVX2 registers, two blocks per instruction.
    VaesAvx2,
    /// AES-NI + PCLMULQDQ on 128-bit registers.
    AesniPclmul,
    /// The `aes` + `ghash` crates (portable; their own runtime detection inside).
    Soft,
}

impl Backend {
    /// Every backend, fastest first.
    pub const ALL: [Backend; 3] = [Backend::VaesAvx2, Backend::AesniPclmul, Backend::Soft];

    /// A short stable name: `vaes-avx2`, `aesni-pclmul` or `soft`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::VaesAvx2 => "vaes-avx2",
            Backend::AesniPclmul => "aesni-pclmul",
            Backend::Soft => "soft",
        }
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::VaesAvx2 => VaesClmul::detect().is_some(),
            #[cfg(target_arch = "x86_64")]
            Backend::AesniPclmul => AesClmul::detect().is_some(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::VaesAvx2 | Backend::AesniPclmul => false,
            Backend::Soft => true,
        }
    }

    /// The fastest backend this CPU can run.
    pub fn best() -> Backend {
        Backend::ALL.into_iter().find(|b| b.is_available()).unwrap_or(Backend::Soft)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The key is not 16 (AES-128) or 32 (AES-256) bytes long.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AES-GCM key must be 16 or 32 bytes long, got {0} bytes")]
pub struct BadKeyLen(pub usize);

/// Why [`GcmKey::with_backend`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// See [`BadKeyLen`].
    #[error(transparent)]
    BadKeyLen(#[from] BadKeyLen),
    /// This CPU lacks a feature the backend needs.
    #[error("this CPU cannot run the {0} AES-GCM backend")]
    Unavailable(Backend),
}

/// The tag did not match: the packet is not authentic. The buffer holds the ciphertext it
/// held before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AES-GCM authentication failed (tag mismatch)")]
pub struct TagMismatch;

/// An AES-GCM key, expanded for one backend. Key material is wiped when it is dropped.
#[derive(Clone)]
pub struct GcmKey {
    imp: Imp,
    /// 10 (AES-128) or 14 (AES-256).
    rounds: u8,
}

// The schedule is inline on purpose: the per-packet path reads it with no pointer chase.
#[derive(Clone)]
enum Imp {
    #[cfg(target_arch = "x86_64")]
    Vaes(VaesClmul, Schedule),
    #[cfg(target_arch = "x86_64")]
    Aesni(AesClmul, Schedule),
    /// Boxed: the fallback is large and never on a fast path worth a kilobyte per SA.
    Soft(Box<soft::SoftKey>),
}

impl fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcmKey")
            .field("backend", &self.backend())
            .field("key_bits", &self.key_bits())
            .finish_non_exhaustive()
    }
}

impl GcmKey {
    /// Expands `key` (16 or 32 bytes) for the fastest backend this CPU runs.
    pub fn new(key: &[u8]) -> Result<GcmKey, BadKeyLen> {
        GcmKey::with_backend(key, Backend::best()).map_err(|e| match e {
            KeyError::BadKeyLen(e) => e,
            // `best` only returns available backends.
            KeyError::Unavailable(_) => unreachable!("best backend unavailable"),
        })
    }

    /// Expands `key` for a chosen backend (tests and benchmarks compare them).
    pub fn with_backend(key: &[u8], backend: Backend) -> Result<GcmKey, KeyError> {
        let rounds = match key.len() {
            16 => 10,
            32 => 14,
            n => return Err(BadKeyLen(n).into()),
        };
        let imp = match backend {
            #[cfg(target_arch = "x86_64")]
            Backend::VaesAvx2 => {
                let cpu = VaesClmul::detect().ok_or(KeyError::Unavailable(backend))?;
                #[allow(unsafe_code)]
                // The `VaesClmul` token implies every `AesClmul` feature.
                // SAFETY: `Schedule::new` needs aes, pclmulqdq, sse2: detection found them.
                let s = unsafe { Schedule::new(key) };
                Imp::Vaes(cpu, s)
            }
            #[cfg(target_arch = "x86_64")]
            Backend::AesniPclmul => {
                let cpu = AesClmul::detect().ok_or(KeyError::Unavailable(backend))?;
                #[allow(unsafe_code)]
                // SAFETY: `Schedule::new` is compiled with aes, pclmulqdq and sse2; the
                // `AesClmul` token just obtained proves runtime detection found them.
                let s = unsafe { Schedule::new(key) };
                Imp::Aesni(cpu, s)
            }
            #[cfg(not(target_arch = "x86_64"))]
            Backend::VaesAvx2 | Backend::AesniPclmul => return Err(KeyError::Unavailable(backend)),
            Backend::Soft => Imp::Soft(Box::new(soft::SoftKey::new(key))),
        };
        Ok(GcmKey { imp, rounds })
    }

    /// The backend this key runs on.
    pub fn backend(&self) -> Backend {
        match self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(..) => Backend::VaesAvx2,
            #[cfg(target_arch = "x86_64")]
            Imp::Aesni(..) => Backend::AesniPclmul,
            Imp::Soft(_) => Backend::Soft,
        }
    }

    /// Prefetches what sealing or opening a short text reads: the round keys and the
    /// lowest hash-key powers (a hint; see [`crate::hint`]).
    #[inline]
    pub fn prefetch(&self) {
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(_, s) | Imp::Aesni(_, s) => {
                let rounds = usize::from(self.rounds) + 1;
                crate::hint::prefetch_lines(&s.rk, (rounds * 16).div_ceil(64));
                // The short kernel's group uses the last (lowest) powers and helpers.
                crate::hint::prefetch_lines(&s.hp[schedule::NP - 8..], 2);
                crate::hint::prefetch_lines(&s.hk[schedule::NP - 8..], 2);
            }
            Imp::Soft(_) => {}
        }
    }

    /// 128 or 256.
    pub fn key_bits(&self) -> u32 {
        if self.rounds == 10 { 128 } else { 256 }
    }

    /// Encrypts `buf` in place and returns the 16-byte tag (the ESP ICV).
    ///
    /// # Panics
    /// If `buf` is longer than [`MAX_TEXT_LEN`] (64 GiB), which GCM cannot encrypt.
    pub fn seal_in_place(&self, nonce: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
        check_len(buf);
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(_, s) | Imp::Aesni(_, s) if short::fits(aad, buf) => {
                #[allow(unsafe_code)]
                // SAFETY: `short::seal` needs the `AesClmul` features; both arms bound a
                // token that proves them (a `VaesClmul` token implies every one of them).
                unsafe {
                    if self.rounds == 10 {
                        short::seal::<10>(s, nonce, aad, buf)
                    } else {
                        short::seal::<14>(s, nonce, aad, buf)
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(_cpu, s) => {
                #[allow(unsafe_code)]
                // SAFETY: `vaes::seal` is compiled with the features a `VaesClmul` token
                // proves present; `_cpu` is such a token (see `crate::cpu`).
                unsafe {
                    if self.rounds == 10 {
                        vaes::seal::<10>(s, nonce, aad, buf)
                    } else {
                        vaes::seal::<14>(s, nonce, aad, buf)
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::Aesni(_cpu, s) => {
                #[allow(unsafe_code)]
                // SAFETY: `aesni::seal` is compiled with the features an `AesClmul` token
                // proves present; `_cpu` is such a token.
                unsafe {
                    if self.rounds == 10 {
                        aesni::seal::<10>(s, nonce, aad, buf)
                    } else {
                        aesni::seal::<14>(s, nonce, aad, buf)
                    }
                }
            }
            Imp::Soft(k) => k.seal(nonce, aad, buf),
        }
    }

    /// Checks `tag` and decrypts `buf` in place. On [`TagMismatch`] `buf` is left holding
    /// the ciphertext it held on entry (no plaintext is released).
    ///
    /// # Panics
    /// If `buf` is longer than [`MAX_TEXT_LEN`].
    pub fn open_in_place(
        &self,
        nonce: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), TagMismatch> {
        check_len(buf);
        let computed = match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(_, s) | Imp::Aesni(_, s) if short::fits(aad, buf) => {
                #[allow(unsafe_code)]
                // SAFETY: as in `seal_in_place`: both tokens prove `short::open`'s features.
                unsafe {
                    if self.rounds == 10 {
                        short::open::<10>(s, nonce, aad, buf)
                    } else {
                        short::open::<14>(s, nonce, aad, buf)
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(_cpu, s) => {
                #[allow(unsafe_code)]
                // SAFETY: as in `seal_in_place`: `_cpu` proves the features of `vaes::open`.
                unsafe {
                    if self.rounds == 10 {
                        vaes::open::<10>(s, nonce, aad, buf)
                    } else {
                        vaes::open::<14>(s, nonce, aad, buf)
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::Aesni(_cpu, s) => {
                #[allow(unsafe_code)]
                // SAFETY: as in `seal_in_place`: `_cpu` proves the features of `aesni::open`.
                unsafe {
                    if self.rounds == 10 {
                        aesni::open::<10>(s, nonce, aad, buf)
                    } else {
                        aesni::open::<14>(s, nonce, aad, buf)
                    }
                }
            }
            Imp::Soft(k) => k.open(nonce, aad, buf),
        };
        // One 128-bit constant-time comparison (`subtle`); per byte it costs ~100 instructions.
        if bool::from(u128::from_ne_bytes(computed).ct_eq(&u128::from_ne_bytes(*tag))) {
            return Ok(());
        }
        // Not authentic: XOR the same keystream again to put the ciphertext back.
        match &self.imp {
            #[cfg(target_arch = "x86_64")]
            Imp::Vaes(_cpu, s) => {
                #[allow(unsafe_code)]
                // SAFETY: `_cpu` proves the features `vaes::ctr` is compiled with.
                unsafe {
                    if self.rounds == 10 {
                        vaes::ctr::<10>(s, nonce, buf)
                    } else {
                        vaes::ctr::<14>(s, nonce, buf)
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Imp::Aesni(_cpu, s) => {
                #[allow(unsafe_code)]
                // SAFETY: `_cpu` proves the features `aesni::ctr` is compiled with.
                unsafe {
                    if self.rounds == 10 {
                        aesni::ctr::<10>(s, nonce, buf)
                    } else {
                        aesni::ctr::<14>(s, nonce, buf)
                    }
                }
            }
            Imp::Soft(k) => k.ctr_only(nonce, buf),
        }
        Err(TagMismatch)
    }
}

#[inline]
fn check_len(buf: &[u8]) {
    assert!(
        buf.len() as u64 <= MAX_TEXT_LEN,
        "AES-GCM plaintext of {} bytes exceeds the GCM limit",
        buf.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys live in per-SA runtime structs, two per SA, up to 100k SAs: keep them under
    /// 14 cache lines.
    #[test]
    fn key_fits_in_14_cache_lines() {
        let size = core::mem::size_of::<GcmKey>();
        assert!(size <= 14 * 64, "GcmKey is {size} bytes");
    }

    #[test]
    fn bad_key_lengths_are_refused() {
        for len in [0, 15, 17, 24, 31, 33, 64] {
            assert_eq!(GcmKey::new(&vec![0; len]).unwrap_err(), BadKeyLen(len));
            for b in Backend::ALL {
                assert_eq!(
                    GcmKey::with_backend(&vec![0; len], b).unwrap_err(),
                    KeyError::BadKeyLen(BadKeyLen(len))
                );
            }
        }
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let k = GcmKey::with_backend(&[0xab; 16], Backend::Soft).unwrap();
        let s = format!("{k:?}");
        assert_eq!(s, "GcmKey { backend: Soft, key_bits: 128, .. }");
    }
}
