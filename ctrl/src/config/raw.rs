//! The config file as written: serde structs mirroring the TOML one to one.
//!
//! Every value is `Spanned` so that validation can name its line, every integer is read
//! as `i128` so that range errors are ours ("expected 256..=4294967295, got 0") rather
//! than serde's, addresses and keys stay strings until `validate` parses them with
//! messages of its own, and `deny_unknown_fields` everywhere turns a misspelt key into an
//! error instead of a silently ignored line. Key strings are held in `Zeroizing` so they
//! are wiped when this intermediate form is dropped.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;
use zeroize::Zeroizing;

use super::model::Aead;

pub(crate) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub gateway: S<RawGateway>,
    #[serde(default)]
    pub tunnel: Vec<S<RawTunnel>>,
    #[serde(default)]
    pub route: Vec<S<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    pub protected_port: S<i128>,
    pub unprotected_port: S<i128>,
    pub local: S<OneOrMany>,
    pub replay_window: Option<S<i128>>,
    pub peer_port: Option<S<i128>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTunnel {
    pub name: S<String>,
    pub peer: S<String>,
    pub local: Option<S<String>>,
    pub next_hop_mac: S<String>,
    pub selectors: S<Vec<S<String>>>,
    pub esn: Option<S<bool>>,
    pub natt: Option<S<bool>>,
    pub natt_local_port: Option<S<i128>>,
    pub natt_peer_port: Option<S<i128>>,
    pub psk: Option<S<Zeroizing<String>>>,
    pub psk_file: Option<S<String>>,
    pub mtu: Option<S<i128>>,
    pub lifetime: Option<S<RawLifetime>>,
    #[serde(default)]
    pub sa: Vec<S<RawSa>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLifetime {
    pub soft_seconds: Option<S<i128>>,
    pub hard_seconds: Option<S<i128>>,
    pub soft_bytes: Option<S<i128>>,
    pub hard_bytes: Option<S<i128>>,
    pub soft_packets: Option<S<i128>>,
    pub hard_packets: Option<S<i128>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Dir {
    In,
    Out,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSa {
    pub dir: S<Dir>,
    pub spi: S<i128>,
    pub aead: S<Aead>,
    pub key: S<Zeroizing<String>>,
    pub salt: S<Zeroizing<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub dst: S<String>,
    pub port: Option<S<i128>>,
    pub next_hop_mac: S<String>,
}

/// `local = "addr"` or `local = ["addr", "addr"]`. A hand-written visitor rather than an
/// untagged enum: untagged buffers the value, which loses the element spans, and its
/// error ("did not match any variant") says nothing useful.
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<S<String>>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address or an array of addresses")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut all = Vec::new();
                while let Some(a) = seq.next_element::<S<String>>()? {
                    all.push(a);
                }
                Ok(OneOrMany::Many(all))
            }
        }
        d.deserialize_any(V)
    }
}
