//! Validation of one `[[tunnel]]`: its addresses, selectors, NAT-T, PSK, MTU, lifetimes
//! and SAs, and the checks against the tunnels before it (names, peers, selectors,
//! inbound SPIs, keys).

use std::io::Read;

use zeroize::Zeroizing;

use super::error::ConfigError;
use super::model::{
    DEFAULT_HARD_BYTES, DEFAULT_HARD_SECONDS, DEFAULT_MTU, DEFAULT_NATT_PORT, DEFAULT_SOFT_PERCENT,
    Gateway, Lifetimes, Limits, MAX_MTU, MAX_PSK_LEN, MIN_MTU, MIN_MTU_IPV6, MIN_SPI, NatT,
    SaConfig, Tunnel,
};
use super::overlap::PrefixSet;
use super::prefix::Prefix;
use super::raw::{Dir, RawLifetime, RawSa, RawTunnel, S};
use super::secret::Secret;
use super::validate::{Ctx, KeyBytes};
use super::values::{family, hex_bytes, in_range, mac, psk, unicast_addr};

const MAX_NAME_LEN: usize = 64;

pub(crate) fn tunnel(
    ctx: &mut Ctx<'_>,
    i: usize,
    t: &S<RawTunnel>,
    gw: &Gateway,
    earlier: &[Tunnel],
) -> Result<Tunnel, ConfigError> {
    let p = format!("tunnel[{i}]");
    let tunnel_line = ctx.note(&p, t);
    let t = t.get_ref();
    let f = |name: &str| format!("{p}.{name}");

    let name = ctx.check(&f("name"), &t.name, |s| check_name(s))?;
    if let Some(&k) = ctx.earlier.names.get(&name) {
        let line = ctx.line_of(&format!("tunnel[{k}].name"));
        return Err(ctx.err(
            &f("name"),
            &t.name,
            format!("duplicate tunnel name \"{name}\" (first on line {line})"),
        ));
    }

    let peer = ctx.check(&f("peer"), &t.peer, |s| unicast_addr(s))?;
    if let Some(&k) = ctx.earlier.peers.get(&peer) {
        let line = ctx.line_of(&format!("tunnel[{k}].peer"));
        return Err(ctx.err(
            &f("peer"),
            &t.peer,
            format!(
                "peer {peer} already has tunnel \"{}\" (line {line}); one tunnel per peer",
                earlier[k].name
            ),
        ));
    }
    let local = match &t.local {
        Some(l) => {
            let local = ctx.check(&f("local"), l, |s| unicast_addr(s))?;
            if local.is_ipv4() != peer.is_ipv4() {
                return Err(ctx.err(
                    &f("local"),
                    l,
                    format!("{local} is {} but peer {peer} is {}", family(local), family(peer)),
                ));
            }
            local
        }
        None => gw.local_for(peer).ok_or_else(|| {
            ctx.err(
                &f("peer"),
                &t.peer,
                format!(
                    "peer {peer} is {fam} but gateway.local has no {fam} address; add one there \
                     or set tunnel.local",
                    fam = family(peer)
                ),
            )
        })?,
    };
    let own = [Some(local), gw.local_for(peer)];
    if own.contains(&Some(peer)) || ctx.earlier.locals.contains(&peer) {
        return Err(ctx.err(&f("peer"), &t.peer, format!("{peer} is this gateway's own address")));
    }

    if let Some(e) = ctx.earlier.peers.get(&local).map(|&k| &earlier[k]) {
        let field = if t.local.is_some() { f("local") } else { f("peer") };
        let line = ctx.line_of(&field);
        return Err(ctx.err_at(
            line,
            &field,
            format!("local address {local} is the peer of tunnel \"{}\"", e.name),
        ));
    }

    let next_hop_mac = ctx.check(&f("next_hop_mac"), &t.next_hop_mac, |s| mac(s))?;
    let selectors = selectors(ctx, &p, &t.selectors, earlier)?;
    let esn = t.esn.as_ref().map(|v| *v.get_ref()).unwrap_or(false);
    if let Some(v) = &t.esn {
        ctx.note(&f("esn"), v);
    }
    let natt = natt(ctx, &p, t, gw)?;
    let psk = psk_of(ctx, &p, t)?;

    let mtu = match &t.mtu {
        Some(v) => {
            let mtu = ctx.check(&f("mtu"), v, |n| {
                in_range(*n, u64::from(MIN_MTU), u64::from(MAX_MTU), "an MTU")
            })? as u16;
            if peer.is_ipv6() && mtu < MIN_MTU_IPV6 {
                return Err(ctx.err(
                    &f("mtu"),
                    v,
                    format!("IPv6 outer packets need an MTU of at least {MIN_MTU_IPV6} (RFC 8200), got {mtu}"),
                ));
            }
            mtu
        }
        None => DEFAULT_MTU,
    };
    let lifetime = lifetimes(ctx, &p, t.lifetime.as_ref(), psk.is_none())?;

    let mut outbound: Option<(SaConfig, usize)> = None;
    let mut inbound = Vec::new();
    for (j, sa) in t.sa.iter().enumerate() {
        let sp = format!("{p}.sa[{j}]");
        ctx.note(&sp, sa);
        let dir_line = ctx.note(&format!("{sp}.dir"), &sa.get_ref().dir);
        let dir = *sa.get_ref().dir.get_ref();
        let typed = sa_config(ctx, &sp, sa.get_ref(), dir)?;
        match dir {
            Dir::Out => {
                if let Some((_, first)) = &outbound {
                    return Err(ctx.err_at(
                        dir_line,
                        &format!("{sp}.dir"),
                        format!("a second outbound SA (the first is on line {first}); a tunnel has exactly one"),
                    ));
                }
                outbound = Some((typed, dir_line));
            }
            Dir::In => inbound.push(typed),
        }
    }
    let Some((outbound, _)) = outbound else {
        return Err(ctx.err_at(
            tunnel_line,
            &f("sa"),
            "no SA with dir = \"out\"; a tunnel needs exactly one",
        ));
    };
    if inbound.is_empty() {
        return Err(ctx.err_at(
            tunnel_line,
            &f("sa"),
            "no SA with dir = \"in\"; a tunnel needs at least one",
        ));
    }

    Ok(Tunnel {
        name,
        peer,
        local,
        next_hop_mac,
        selectors,
        esn,
        natt,
        psk,
        mtu,
        lifetime,
        outbound,
        inbound,
    })
}

fn check_name(s: &str) -> Result<String, String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if s.is_empty() || s.len() > MAX_NAME_LEN || !s.chars().all(ok_char) {
        return Err(format!(
            "expected 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', got \"{}\"",
            s.escape_debug()
        ));
    }
    Ok(s.to_owned())
}

/// Selectors: at least one; none overlapping another of the same tunnel (redundant or a
/// typo) or of an earlier tunnel (then which SA protects the packet is ambiguous).
fn selectors(
    ctx: &mut Ctx<'_>,
    p: &str,
    raw: &S<Vec<S<String>>>,
    earlier: &[Tunnel],
) -> Result<Vec<Prefix>, ConfigError> {
    let field = format!("{p}.selectors");
    ctx.note(&field, raw);
    if raw.get_ref().is_empty() {
        return Err(ctx.err(&field, raw, "empty: a tunnel needs at least one selector"));
    }
    let mut out: Vec<Prefix> = Vec::new();
    // This tunnel's own selectors, and (in `ctx.earlier`) every earlier tunnel's: each
    // answers with the first overlapping selector in file order, as a scan would.
    let mut own = PrefixSet::new();
    for (k, s) in raw.get_ref().iter().enumerate() {
        let sf = format!("{field}[{k}]");
        let pre = ctx.check(&sf, s, |s| s.parse::<Prefix>().map_err(|e| e.to_string()))?;
        if let Some((o, m)) = own.first_overlap(&pre) {
            let line = ctx.line_of(&format!("{field}[{m}]"));
            return Err(ctx.err(
                &sf,
                s,
                format!("{pre} overlaps {o} of the same tunnel (line {line})"),
            ));
        }
        if let Some((o, (ti, m))) = ctx.earlier.selectors().first_overlap(&pre) {
            let line = ctx.line_of(&format!("tunnel[{ti}].selectors[{m}]"));
            return Err(ctx.err(
                &sf,
                s,
                format!(
                    "{pre} overlaps {o} of tunnel \"{}\" (line {line}); a packet must match \
                     one tunnel only",
                    earlier[ti].name
                ),
            ));
        }
        own.insert(pre, k);
        out.push(pre);
    }
    Ok(out)
}

fn natt(
    ctx: &mut Ctx<'_>,
    p: &str,
    t: &RawTunnel,
    gw: &Gateway,
) -> Result<Option<NatT>, ConfigError> {
    let on = match &t.natt {
        Some(v) => {
            ctx.note(&format!("{p}.natt"), v);
            *v.get_ref()
        }
        None => false,
    };
    let mut port = |name: &str, v: &Option<S<i128>>| -> Result<u16, ConfigError> {
        let Some(v) = v else {
            return Ok(DEFAULT_NATT_PORT);
        };
        let field = format!("{p}.{name}");
        let n = ctx.check(&field, v, |n| in_range(*n, 1, 65535, "a UDP port"))? as u16;
        if !on {
            return Err(ctx.err(&field, v, "set but natt is not true; enable natt or remove it"));
        }
        Ok(n)
    };
    let local_port = port("natt_local_port", &t.natt_local_port)?;
    let peer_port = port("natt_peer_port", &t.natt_peer_port)?;
    if !on {
        return Ok(None);
    }
    if local_port == gw.peer_port {
        let field = format!("{p}.natt_local_port");
        let line = ctx
            .seen
            .get(&field)
            .or_else(|| ctx.seen.get(&format!("{p}.natt")))
            .copied()
            .unwrap_or(1);
        return Err(ctx.err_at(
            line,
            &field,
            format!(
                "NAT-T port {local_port} is also gateway.peer_port; ESP-in-UDP and the peer \
                 channel need different ports"
            ),
        ));
    }
    Ok(Some(NatT { local_port, peer_port }))
}

/// The largest `psk_file` read: a hex PSK of `MAX_PSK_LEN` bytes, its `0x` and line ends.
const PSK_FILE_MAX: usize = 2 + 2 * MAX_PSK_LEN + 2;

/// `psk` (text, or hex after `0x`) or `psk_file` (the same, read from a file relative to
/// the config's directory, trailing newlines removed), never both.
fn psk_of(
    ctx: &mut Ctx<'_>,
    p: &str,
    t: &RawTunnel,
) -> Result<Option<Secret<Vec<u8>>>, ConfigError> {
    match (&t.psk, &t.psk_file) {
        (Some(_), Some(file)) => {
            Err(ctx.err(&format!("{p}.psk_file"), file, "psk and psk_file are both set; give one"))
        }
        (Some(v), None) => {
            let bytes = ctx.check(&format!("{p}.psk"), v, |s| psk(s))?;
            Ok(Some(Secret::new(bytes.to_vec())))
        }
        (None, Some(file)) => {
            let field = format!("{p}.psk_file");
            ctx.note(&field, file);
            let path = ctx.base_dir.join(file.get_ref());
            if file.get_ref().is_empty() {
                return Err(ctx.err(&field, file, "empty path"));
            }
            // Bounded: a key file is at most a hex PSK and a newline. `psk_file =
            // "/dev/zero"` (or a huge file by mistake) must be an error, not an endless read.
            let limit = PSK_FILE_MAX;
            let mut bytes = Zeroizing::new(Vec::new());
            std::fs::File::open(&path)
                .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
                .map_err(|e| {
                    ctx.err(&field, file, format!("cannot read {}: {e}", path.display()))
                })?;
            if bytes.len() > limit {
                return Err(ctx.err(
                    &field,
                    file,
                    format!("{} is larger than {limit} bytes: not a key file", path.display()),
                ));
            }
            let mut end = bytes.len();
            while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
                end -= 1;
            }
            let text = std::str::from_utf8(&bytes[..end]).map_err(|_| {
                ctx.err(
                    &field,
                    file,
                    format!(
                        "{} is not UTF-8 text; write a binary key as 0x-prefixed hex",
                        path.display()
                    ),
                )
            })?;
            let key =
                psk(text).map_err(|m| ctx.err(&field, file, format!("{}: {m}", path.display())))?;
            Ok(Some(Secret::new(key.to_vec())))
        }
        (None, None) => Ok(None),
    }
}

/// Lifetimes with their defaults: IOS's for a tunnel that rekeys, unlimited for static
/// SAs (a hard lifetime would only kill a tunnel that nothing rekeys); each soft limit
/// not given is 90% of its hard one. 0 means unlimited.
fn lifetimes(
    ctx: &mut Ctx<'_>,
    p: &str,
    raw: Option<&S<RawLifetime>>,
    is_static: bool,
) -> Result<Lifetimes, ConfigError> {
    if let Some(r) = raw {
        ctx.note(&format!("{p}.lifetime"), r);
    }
    let none = RawLifetime {
        soft_seconds: None,
        hard_seconds: None,
        soft_bytes: None,
        hard_bytes: None,
        soft_packets: None,
        hard_packets: None,
    };
    let r = raw.map_or(&none, |r| r.get_ref());
    let defaults = if is_static {
        [None, None, None]
    } else {
        [Some(DEFAULT_HARD_SECONDS), Some(DEFAULT_HARD_BYTES), None]
    };
    let dims = [
        ("seconds", &r.soft_seconds, &r.hard_seconds),
        ("bytes", &r.soft_bytes, &r.hard_bytes),
        ("packets", &r.soft_packets, &r.hard_packets),
    ];
    let mut soft = [None; 3];
    let mut hard = [None; 3];
    for (d, (unit, s, h)) in dims.into_iter().enumerate() {
        let mut read = |which: &str, v: &S<i128>| -> Result<Option<u64>, ConfigError> {
            let field = format!("{p}.lifetime.{which}_{unit}");
            let n = ctx.check(&field, v, |&n| {
                u64::try_from(n).map_err(|_| {
                    format!("expected 0 (unlimited) or a positive number of {unit}, got {n}")
                })
            })?;
            Ok((n != 0).then_some(n))
        };
        hard[d] = match h {
            Some(v) => read("hard", v)?,
            None => defaults[d],
        };
        soft[d] = match s {
            Some(v) => read("soft", v)?,
            None => hard[d]
                .map(|h| (u128::from(h) * u128::from(DEFAULT_SOFT_PERCENT) / 100) as u64)
                .filter(|&n| n > 0),
        };
        if let (Some(sv), Some(hv), Some(v)) = (soft[d], hard[d], s)
            && sv >= hv
        {
            let how = if h.is_some() { "" } else { " (the default)" };
            return Err(ctx.err(
                &format!("{p}.lifetime.soft_{unit}"),
                v,
                format!("soft_{unit} {sv} must be below hard_{unit} {hv}{how}"),
            ));
        }
    }
    let limits = |a: [Option<u64>; 3]| Limits { seconds: a[0], bytes: a[1], packets: a[2] };
    Ok(Lifetimes { soft: limits(soft), hard: limits(hard) })
}

/// One SA's own fields, plus the gateway-wide checks: an inbound SPI is unique across
/// the gateway (an inbound ESP packet is matched by SPI alone), and no key serves two
/// SAs (AES-GCM under a reused key and salt repeats nonces).
fn sa_config(ctx: &mut Ctx<'_>, sp: &str, sa: &RawSa, dir: Dir) -> Result<SaConfig, ConfigError> {
    let spi_field = format!("{sp}.spi");
    let spi = ctx.check(&spi_field, &sa.spi, |n| check_spi(*n))?;
    if dir == Dir::In {
        let line = ctx.line_of(&spi_field);
        if let Some((other, first)) = ctx.inbound_spis.get(&spi) {
            return Err(ctx.err(
                &spi_field,
                &sa.spi,
                format!(
                    "inbound SPI {spi:#x} is already used by {other} (line {first}); inbound SPIs \
                     must be unique across the gateway"
                ),
            ));
        }
        ctx.inbound_spis.insert(spi, (sp.to_owned(), line));
    }
    ctx.note(&format!("{sp}.aead"), &sa.aead);
    let aead = *sa.aead.get_ref();
    let key_field = format!("{sp}.key");
    let key =
        ctx.check(&key_field, &sa.key, |k| hex_bytes(k, aead.key_len(), &format!(" for {aead}")))?;
    let probe = KeyBytes(Secret::new(key.to_vec()));
    if let Some((other, line)) = ctx.keys.get(&probe) {
        return Err(ctx.err(
            &key_field,
            &sa.key,
            format!(
                "same key as {other} (line {line}); an AES-GCM key must never serve two SAs \
                 (nonces would repeat)"
            ),
        ));
    }
    let key = probe.0;
    let line = ctx.line_of(&key_field);
    ctx.keys.insert(KeyBytes(key.clone()), (sp.to_owned(), line));
    let salt_bytes = ctx.check(&format!("{sp}.salt"), &sa.salt, |s| hex_bytes(s, 4, ""))?;
    let mut salt = [0u8; 4];
    salt.copy_from_slice(&salt_bytes);
    let salt = Secret::new(salt);
    Ok(SaConfig { spi, aead, key, salt })
}

fn check_spi(n: i128) -> Result<u32, String> {
    if (0..i128::from(MIN_SPI)).contains(&n) {
        return Err(format!(
            "SPI {n} is reserved (RFC 4303 section 2.1: 0 and 1..=255 are never SAs); use {MIN_SPI} or above"
        ));
    }
    in_range(n, u64::from(MIN_SPI), u64::from(u32::MAX), "an SPI (32 bits)").map(|v| v as u32)
}
