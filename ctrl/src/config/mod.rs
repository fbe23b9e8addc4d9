//! The configuration of `qfp run -c FILE`: read, check and type the TOML file before
//! anything starts.
//!
//! `load` (or `parse`) returns either a `Config` in which every address, port, SPI, key
//! and lifetime has been checked, or one `ConfigError` whose text is a single line naming
//! the file, the line and the field (`qfp.toml:14: tunnel[0].sa[1].key: expected 32 hex
//! digits (16 bytes for aes-128-gcm), got 30`); the binary prints it and exits with
//! status 2. It works in two passes: serde reads the file into `raw` structs (unknown,
//! missing and mistyped fields fail there, with the line from the toml crate's spans),
//! then `validate` checks values and relations and builds the `model` types. The file
//! format and every rule are described in `docs/config.md`.
//!
//! Nothing here knows DPDK or the data plane's SA type: the gateway converts a `Config`
//! into those when it starts.

mod error;
mod model;
mod overlap;
mod prefix;
mod raw;
mod secret;
mod tunnel;
mod validate;
mod values;

use std::path::Path;

use zeroize::Zeroize;

pub use error::{ConfigError, EXIT_STATUS};
pub use model::{
    Aead, Config, DEFAULT_HARD_BYTES, DEFAULT_HARD_SECONDS, DEFAULT_MTU, DEFAULT_NATT_PORT,
    DEFAULT_PEER_PORT, DEFAULT_REPLAY_WINDOW, DEFAULT_SOFT_PERCENT, Gateway, Lifetimes, Limits,
    MAX_MTU, MAX_PSK_LEN, MAX_REPLAY_WINDOW, MIN_MTU, MIN_MTU_IPV6, MIN_PSK_LEN, MIN_REPLAY_WINDOW,
    MIN_SPI, NatT, Route, SaConfig, Tunnel,
};
pub use prefix::{Prefix, PrefixError};
pub use secret::Secret;

/// Reads and validates the config file at `path`. Errors name the file as `path` is
/// written, so `-c qfp.toml` gives `qfp.toml:LINE: ...`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|source| ConfigError::Read { file: file.clone(), source })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => zeroize::Zeroizing::new(t),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            e.into_bytes().zeroize();
            return Err(ConfigError::invalid(&file, line, "", "not UTF-8 text"));
        }
    };
    parse(&text, &file)
}

/// Validates config `text`; `file_name` is used in messages and, through its directory,
/// to find relative `psk_file` paths.
pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfigError> {
    let lines = error::LineIndex::new(text);
    let de = toml::Deserializer::parse(text)
        .map_err(|e| error::from_syntax(file_name, text, &lines, &e))?;
    let raw: raw::RawConfig = serde_path_to_error::deserialize(de)
        .map_err(|e| error::from_serde(file_name, &lines, e))?;
    let base_dir = Path::new(file_name).parent().map(Path::to_path_buf).unwrap_or_default();
    let mut ctx = validate::Ctx::new(file_name, text, &lines, base_dir);
    validate::validate(raw, &mut ctx)
}

/// Command-line values that take precedence over the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--replay-window N` (0 turns anti-replay off).
    pub replay_window: Option<u32>,
}

impl Config {
    /// Applies `--replay-window` and friends, with the same checks as the file.
    pub fn apply_overrides(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        if let Some(w) = o.replay_window {
            self.gateway.replay_window = validate::check_replay_window(i128::from(w))
                .map_err(|message| ConfigError::Flag { flag: "--replay-window".into(), message })?;
        }
        Ok(())
    }
}

/// `--replay-window` as a clap `value_parser`, so a bad value fails with the flags.
pub fn parse_replay_window(s: &str) -> Result<u32, String> {
    let n: i128 = s.trim().parse().map_err(|_| format!("expected a number, got \"{s}\""))?;
    validate::check_replay_window(n)
}
