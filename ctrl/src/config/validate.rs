//! From the file as written (`raw`) to the validated `Config`: every check that needs
//! more than a type — ranges, formats, uniqueness, overlaps — with the line of the value
//! at fault. Checks run in file order and stop at the first error, so the message always
//! points at the later of two conflicting lines and names the earlier one.
//!
//! The gateway, the routes and the cross-tunnel bookkeeping are here; one tunnel's own
//! checks (SAs, PSK, lifetimes) are in `tunnel.rs`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::path::PathBuf;

use super::error::{ConfigError, LineIndex};
use super::model::{
    Config, DEFAULT_PEER_PORT, DEFAULT_REPLAY_WINDOW, Gateway, MAX_REPLAY_WINDOW,
    MIN_REPLAY_WINDOW, Route, Source, Tunnel,
};
use super::overlap::PrefixSet;
use super::prefix::Prefix;
use super::raw::{OneOrMany, RawConfig, RawGateway, RawRoute, S};
use super::secret::Secret;
use super::tunnel;
use super::values::{family, in_range, mac, unicast_addr};

/// Validation state: where we are in the file, and what earlier tunnels claimed.
pub(crate) struct Ctx<'a> {
    pub file: &'a str,
    lines: &'a LineIndex,
    /// The line after the last, for "missing" errors that have no value to point at.
    pub eof_line: usize,
    /// Relative `psk_file` paths are taken from here (the config file's directory).
    pub base_dir: PathBuf,
    /// Every field seen, with its line: for cross-reference messages and `Config::error`.
    pub seen: BTreeMap<String, usize>,
    /// Inbound SPIs of the whole gateway: SPI -> (field, line).
    pub inbound_spis: HashMap<u32, (String, usize)>,
    /// Every SA key so far, to refuse a key serving two SAs: key -> (field, line).
    pub keys: HashMap<KeyBytes, (String, usize)>,
    /// Indexes over the tunnels validated so far, so that each new tunnel is checked
    /// against all of them in O(log n) or O(1) rather than by a scan (a scan made
    /// loading 100k tunnels quadratic).
    pub earlier: Earlier,
}

/// Lookups over the earlier tunnels: by name, by peer, their local addresses, and
/// every selector (disjoint, as validated) with its (tunnel, selector) index.
#[derive(Default)]
pub(crate) struct Earlier {
    pub names: HashMap<String, usize>,
    pub peers: HashMap<IpAddr, usize>,
    pub locals: HashSet<IpAddr>,
    pub selectors: Option<PrefixSet<(usize, usize)>>,
}

impl Earlier {
    pub fn selectors(&mut self) -> &mut PrefixSet<(usize, usize)> {
        self.selectors.get_or_insert_with(PrefixSet::new)
    }

    /// Records tunnel `i` once it is valid.
    pub fn add(&mut self, i: usize, t: &Tunnel) {
        self.names.insert(t.name.clone(), i);
        self.peers.insert(t.peer, i);
        self.locals.insert(t.local);
        let set = self.selectors();
        for (m, s) in t.selectors.iter().enumerate() {
            set.insert(*s, (i, m));
        }
    }
}

/// An SA key as a hash-map key; the bytes stay inside a `Secret` (zeroized on drop).
pub(crate) struct KeyBytes(pub Secret<Vec<u8>>);

impl PartialEq for KeyBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose()[..] == other.0.expose()[..]
    }
}

impl Eq for KeyBytes {}

impl Hash for KeyBytes {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.expose()[..].hash(h);
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(file: &'a str, text: &str, lines: &'a LineIndex, base_dir: PathBuf) -> Self {
        Ctx {
            file,
            lines,
            eof_line: lines.line(text.len()),
            base_dir,
            seen: BTreeMap::new(),
            inbound_spis: HashMap::new(),
            keys: HashMap::new(),
            earlier: Earlier::default(),
        }
    }

    /// Records that `field` is written at `value`'s line, and returns that line.
    pub fn note<T>(&mut self, field: &str, value: &S<T>) -> usize {
        let line = self.lines.line(value.span().start);
        self.seen.insert(field.to_owned(), line);
        line
    }

    /// The line of a field noted earlier (1 if it never was, which cannot happen for
    /// the fields we cross-reference).
    pub fn line_of(&self, field: &str) -> usize {
        self.seen.get(field).copied().unwrap_or(1)
    }

    pub fn err_at(&self, line: usize, field: &str, message: impl fmt::Display) -> ConfigError {
        ConfigError::invalid(self.file, line, field, message)
    }

    /// An error about `value`, written as `field`.
    pub fn err<T>(&self, field: &str, value: &S<T>, message: impl fmt::Display) -> ConfigError {
        self.err_at(self.lines.line(value.span().start), field, message)
    }

    /// Notes `field` and runs `parse` on its value, turning its message into an error
    /// at the value's line.
    pub fn check<T, U>(
        &mut self,
        field: &str,
        value: &S<T>,
        parse: impl FnOnce(&T) -> Result<U, String>,
    ) -> Result<U, ConfigError> {
        self.note(field, value);
        parse(value.get_ref()).map_err(|m| self.err(field, value, m))
    }
}

/// The anti-replay window rule, shared by the file and `--replay-window`.
pub fn check_replay_window(n: i128) -> Result<u32, String> {
    let ok = n == 0
        || (n >= i128::from(MIN_REPLAY_WINDOW)
            && n <= i128::from(MAX_REPLAY_WINDOW)
            && (n as u64).is_power_of_two());
    if !ok {
        return Err(format!(
            "expected 0 (anti-replay off) or a power of two from {MIN_REPLAY_WINDOW} to \
             {MAX_REPLAY_WINDOW}, got {n}"
        ));
    }
    Ok(n as u32)
}

pub(crate) fn validate(raw: RawConfig, ctx: &mut Ctx<'_>) -> Result<Config, ConfigError> {
    let gateway = gateway(ctx, &raw.gateway)?;
    if raw.tunnel.is_empty() {
        return Err(ctx.err_at(
            ctx.eof_line,
            "tunnel",
            "no [[tunnel]]: the gateway needs at least one tunnel to protect traffic",
        ));
    }
    let mut tunnels: Vec<Tunnel> = Vec::with_capacity(raw.tunnel.len());
    for (i, t) in raw.tunnel.iter().enumerate() {
        let typed = tunnel::tunnel(ctx, i, t, &gateway, &tunnels)?;
        ctx.earlier.add(i, &typed);
        tunnels.push(typed);
    }
    let mut routes: Vec<Route> = Vec::with_capacity(raw.route.len());
    let mut route_dsts: HashMap<Prefix, usize> = HashMap::new();
    for (i, r) in raw.route.iter().enumerate() {
        let typed = route(ctx, i, r, &gateway, &tunnels, &route_dsts)?;
        route_dsts.insert(typed.dst, i);
        routes.push(typed);
    }
    Ok(Config {
        gateway,
        tunnels,
        routes,
        source: Source { file: ctx.file.to_owned(), lines: std::mem::take(&mut ctx.seen) },
    })
}

fn gateway(ctx: &mut Ctx<'_>, g: &S<RawGateway>) -> Result<Gateway, ConfigError> {
    ctx.note("gateway", g);
    let g = g.get_ref();
    let port = |v: &i128| in_range(*v, 0, u64::from(u16::MAX), "a DPDK port id");
    let protected_port = ctx.check("gateway.protected_port", &g.protected_port, port)? as u16;
    let unprotected_port = ctx.check("gateway.unprotected_port", &g.unprotected_port, port)? as u16;
    if protected_port == unprotected_port {
        return Err(ctx.err(
            "gateway.unprotected_port",
            &g.unprotected_port,
            format!(
                "same port as protected_port ({protected_port}); the plain and the ESP side \
                 need a port each"
            ),
        ));
    }

    let mut local_v4 = None;
    let mut local_v6 = None;
    let mut first_line: [usize; 2] = [0, 0];
    let addrs: Vec<(String, S<String>)> = match g.local.get_ref() {
        OneOrMany::One(s) => vec![("gateway.local".to_owned(), S::new(g.local.span(), s.clone()))],
        OneOrMany::Many(v) => {
            v.iter().enumerate().map(|(i, a)| (format!("gateway.local[{i}]"), a.clone())).collect()
        }
    };
    ctx.note("gateway.local", &g.local);
    if addrs.is_empty() {
        return Err(ctx.err("gateway.local", &g.local, "empty: give at least one address"));
    }
    for (field, a) in &addrs {
        let addr = ctx.check(field, a, |s| unicast_addr(s))?;
        let slot = usize::from(addr.is_ipv6());
        if first_line[slot] != 0 {
            return Err(ctx.err(
                field,
                a,
                format!(
                    "a second {} address (the first is on line {}); give further local \
                     addresses per tunnel with tunnel.local",
                    family(addr),
                    first_line[slot]
                ),
            ));
        }
        first_line[slot] = ctx.line_of(field);
        match addr {
            IpAddr::V4(v4) => local_v4 = Some(v4),
            IpAddr::V6(v6) => local_v6 = Some(v6),
        }
    }

    let replay_window = match &g.replay_window {
        Some(v) => ctx.check("gateway.replay_window", v, |n| check_replay_window(*n))?,
        None => DEFAULT_REPLAY_WINDOW,
    };
    let peer_port = match &g.peer_port {
        Some(v) => {
            ctx.check("gateway.peer_port", v, |n| in_range(*n, 1, 65535, "a UDP port"))? as u16
        }
        None => DEFAULT_PEER_PORT,
    };
    Ok(Gateway { protected_port, unprotected_port, local_v4, local_v6, replay_window, peer_port })
}

fn route(
    ctx: &mut Ctx<'_>,
    i: usize,
    r: &S<RawRoute>,
    gw: &Gateway,
    tunnels: &[Tunnel],
    earlier: &HashMap<Prefix, usize>,
) -> Result<Route, ConfigError> {
    let p = format!("route[{i}]");
    ctx.note(&p, r);
    let r = r.get_ref();
    let field = format!("{p}.dst");
    let dst = ctx.check(&field, &r.dst, |s| s.parse::<Prefix>().map_err(|e| e.to_string()))?;
    if let Some(&k) = earlier.get(&dst) {
        let line = ctx.line_of(&format!("route[{k}].dst"));
        return Err(ctx.err(
            &field,
            &r.dst,
            format!("duplicate route to {dst} (first on line {line})"),
        ));
    }
    // Selectors are disjoint, so at most one covers `dst`: the first a scan would find.
    if let Some((sel, (ti, si))) = ctx.earlier.selectors().covering(&dst) {
        let line = ctx.line_of(&format!("tunnel[{ti}].selectors[{si}]"));
        return Err(ctx.err(
            &field,
            &r.dst,
            format!(
                "{dst} is inside selector {sel} of tunnel \"{}\" (line {line}): that network \
                 is behind the tunnel, not behind the protected port",
                tunnels[ti].name
            ),
        ));
    }
    let port = match &r.port {
        Some(v) => {
            let field = format!("{p}.port");
            let n = ctx
                .check(&field, v, |n| in_range(*n, 0, u64::from(u16::MAX), "a DPDK port id"))?
                as u16;
            if n != gw.protected_port {
                return Err(ctx.err(
                    &field,
                    v,
                    format!(
                        "routes carry decapsulated traffic to the protected side: expected \
                         protected_port {}, got {n}",
                        gw.protected_port
                    ),
                ));
            }
            n
        }
        None => gw.protected_port,
    };
    let next_hop_mac = ctx.check(&format!("{p}.next_hop_mac"), &r.next_hop_mac, |s| mac(s))?;
    Ok(Route { dst, port, next_hop_mac })
}
