//! Proof tokens for CPU features detected at run time.
//!
//! A token can only be obtained from its `detect` function, which returns it only if the
//! running CPU (and the OS, for the AVX register state) supports every feature the
//! corresponding kernels are compiled with. Holding a token is therefore proof that calling
//! those `#[target_feature]` kernels is sound; the tokens are zero-sized and `Copy`, so the
//! check is paid once (when a key is built), not per packet.

/// AES-NI, PCLMULQDQ, SSSE3 and SSE4.1: the 128-bit kernel.
#[derive(Clone, Copy, Debug)]
pub struct AesClmul {
    _private: (),
}

impl AesClmul {
    /// The token if this CPU has AES-NI, PCLMULQDQ, SSSE3 and SSE4.1.
    pub fn detect() -> Option<AesClmul> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("aes")
                && std::arch::is_x86_feature_detected!("pclmulqdq")
                && std::arch::is_x86_feature_detected!("ssse3")
                && std::arch::is_x86_feature_detected!("sse4.1")
            {
                return Some(AesClmul { _private: () });
            }
        }
        None
    }
}

/// Everything in [`AesClmul`] plus AVX, AVX2, VAES and VPCLMULQDQ: the 256-bit kernel.
#[derive(Clone, Copy, Debug)]
pub struct VaesClmul {
    _private: (),
}

impl VaesClmul {
    /// The token if this CPU has the [`AesClmul`] features and AVX, AVX2, VAES, VPCLMULQDQ.
    pub fn detect() -> Option<VaesClmul> {
        AesClmul::detect()?;
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("vaes")
                && std::arch::is_x86_feature_detected!("vpclmulqdq")
            {
                return Some(VaesClmul { _private: () });
            }
        }
        None
    }
}
