#!/usr/bin/env python3
"""The malformed-traffic table of the end-to-end tests (`gw_peer.py malformed SPEC DIR`,
see gw_peer.py for the modes): every kind of broken, odd or hostile frame a gateway meets
on either port, each with the one outcome qfp must give it.

Frames are built with scapy where scapy builds them (good ESP: SecurityAssociation), and
by hand where it will not (ESP with any payload, next header and padding: AES-GCM from
`cryptography`, RFC 4106 nonces, checked against scapy's by the forwarded cases), then
mutated byte by byte. Writes DIR/wan-0.pcap, DIR/lan-0.pcap (exactly the bytes, runts
included) and DIR/expect.json: the fields `build` writes, plus "cases":
[{"name", "side", "outcome"}] in order; forwarded cases add what must come out, which
`verify` checks.
"""

import json
import os
import struct
import sys
from collections import Counter

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw, raw

from gw_peer import (LAN_MAC, PEER_MAC, QFP_MAC, STRANGER4, STRANGER6, esp, forwarded, host,
                     inner, lan_source)


def write_pcap(path, frames):
    """Frames exactly as given, whatever their length (scapy would re-dissect runts)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i, 0, len(fr), len(fr)))
            f.write(fr)


def esp_raw(t, keys, payload, nh, seq, pad=None, natt=None, pad_len=None):
    """ESP (RFC 4303, AES-GCM per RFC 4106) built by hand for what scapy will not build:
    any payload, next header and padding; outer header from t. No ESN (t must not use it)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    assert not t["esn"]
    if pad is None:
        n = (-(len(payload) + 2)) % 4
        pad = bytes(range(1, n + 1))
    pt = payload + pad + bytes([len(pad) if pad_len is None else pad_len, nh])
    iv = seq.to_bytes(8, "big")
    key, salt = bytes.fromhex(keys["key"]), bytes.fromhex(keys["salt"])
    head = keys["spi"].to_bytes(4, "big") + (seq & 0xFFFFFFFF).to_bytes(4, "big")
    esp_bytes = head + iv + AESGCM(key).encrypt(salt + iv, pt, head)
    natt = t["natt"] if natt is None else natt
    l4 = raw(UDP(sport=4500, dport=4500) / Raw(esp_bytes)) if natt else esp_bytes
    proto = 17 if natt else 50
    if t["outer"] == 4:
        return raw(IP(src=t["peer"], dst=t["local"], proto=proto) / Raw(l4))
    return raw(IPv6(src=t["peer"], dst=t["local"], nh=proto) / Raw(l4))


def ipv4_checksum(hdr):
    s = sum(int.from_bytes(hdr[i:i + 2], "big") for i in range(0, len(hdr), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def refresh_v4(wire, total=None):
    """Sets the IPv4 total length (default: the buffer's) and a correct header checksum."""
    w = bytearray(wire)
    w[2:4] = (len(w) if total is None else total).to_bytes(2, "big")
    w[10:12] = b"\0\0"
    hl = (w[0] & 0x0F) * 4
    w[10:12] = ipv4_checksum(bytes(w[:min(hl, len(w))])).to_bytes(2, "big")
    return bytes(w)


def with_v4_options(ip):
    """ip (IPv4) with four bytes of options (NOP, NOP, NOP, EOL): IHL 6."""
    return refresh_v4(bytes([0x46]) + ip[1:20] + b"\x01\x01\x01\x00" + ip[20:])


def forwarded_bytes(ip):
    """As forwarded(), on the bytes alone (extension headers and options left alone)."""
    w = bytearray(ip)
    if w[0] >> 4 == 6:
        w[7] -= 1
        return bytes(w)
    w[8] -= 1
    hl = (w[0] & 0x0F) * 4
    w[10:12] = b"\0\0"
    w[10:12] = ipv4_checksum(bytes(w[:hl])).to_bytes(2, "big")
    return bytes(w)


def malformed(spec, out_dir):
    """The malformed-traffic table; see the module doc."""
    wan, lan, cases = [], [], []
    frames = []  # per case, as sent (for the attribution runs)
    drops, events = Counter(), Counter()
    want_lan, want_wan = [], {t["name"]: [] for t in spec["tunnels"]}
    tunnels = {t["name"]: t for t in spec["tunnels"]}
    t1, t2, t3 = (spec["tunnels"][i] for i in range(3))  # v4 ESP; v6 NAT-T ESN; v6 ESP
    assert t1["outer"] == 4 and not t1["natt"] and not t1["esn"] and t2["natt"] and t3["outer"] == 6
    seqs = Counter()
    tags = iter(range(50000, 60000))

    def seq(t):
        seqs[t["name"]] += 1
        return seqs[t["name"]]

    def case(name, side, frame, outcome):
        (wan if side == "wan" else lan).append(frame)
        frames.append(frame)
        cases.append({"name": name, "side": side, "outcome": outcome})
        if outcome == "forwarded":
            pass
        elif outcome in ("natt_keepalive", "punted"):
            events[outcome] += 1
        else:
            drops[outcome] += 1

    def good_inner(t, size=64, fam=None, **kw):
        sel = next(s for s in t["selectors"] if fam is None or (":" in s) == (fam == 6))
        f = 6 if ":" in sel else 4
        return inner(host(sel, 7), lan_source(spec, f), next(tags), size, **kw)

    def good_esp(t, p=None):
        """A good ESP packet of t (and the decapsulated packet it must give)."""
        p = p if p is not None else good_inner(t)
        want_lan.append(forwarded(raw(p)))
        return esp(t, t["in"], p, seq(t))

    def ether(ip, src=PEER_MAC, tags_=(), etype=None):
        v6 = ip[:1] and ip[0] >> 4 == 6
        e = bytes.fromhex(QFP_MAC.replace(":", "")) + bytes.fromhex(src.replace(":", ""))
        for tpid, tci in tags_:
            e += tpid.to_bytes(2, "big") + tci.to_bytes(2, "big")
        e += (etype if etype is not None else (0x86DD if v6 else 0x0800)).to_bytes(2, "big")
        return e + ip

    # --- runts and bare headers ---
    for n in (0, 1, 13):
        case("runt of %d bytes" % n, "wan", bytes(range(n)), "UnknownL2")
    case("runt of 10 bytes", "lan", bytes(10), "UnknownL2")
    case("Ethernet header only, EtherType IPv4", "wan", ether(b"", etype=0x0800), "IN_PKT_IPVER_INVALID")
    case("Ethernet header only, EtherType IPv4", "lan", ether(b"", LAN_MAC, etype=0x0800), "UnknownL2")
    case("IPv4 header cut at 10 bytes", "wan", ether(good_esp(t1)[:10]), "IN_PKT_IPVER_INVALID")
    want_lan.pop()  # (that packet never gets through)
    # --- IPv4 header lengths, versions, checksums ---
    def bad_v4(mutate):
        w = bytearray(esp(t1, t1["in"], good_inner(t1), seq(t1)))
        mutate(w)
        return bytes(w)
    case("IPv4 IHL 4 (header shorter than 20)", "wan",
         ether(refresh_v4(bad_v4(lambda w: w.__setitem__(0, 0x44)))), "IN_PKT_IPVER_INVALID")
    case("IPv4 IHL 15 beyond the total length", "wan",
         ether(refresh_v4(bad_v4(lambda w: w.__setitem__(0, 0x4F)), total=40)), "IN_PKT_IPVER_INVALID")
    w = bad_v4(lambda w: None)
    case("IPv4 total length beyond the frame", "wan", ether(refresh_v4(w, total=len(w) + 100)), "IN_PKT_IPVER_INVALID")
    case("IPv4 total length 19", "wan", ether(refresh_v4(bad_v4(lambda w: None), total=19)), "IN_PKT_IPVER_INVALID")
    case("IP version 5 under EtherType IPv4", "wan",
         ether(refresh_v4(bad_v4(lambda w: w.__setitem__(0, 0x55))), etype=0x0800), "IN_PKT_IPVER_INVALID")
    case("bad IPv4 checksum, ESP to us", "wan", ether(bad_v4(lambda w: w.__setitem__(10, w[10] ^ 0xFF))),
         "BadIpChecksum")
    icmp = bytearray(raw(IP(src=t1["peer"], dst=t1["local"]) / ICMP() / Raw(b"ping")))
    icmp[10] ^= 0xFF
    case("bad IPv4 checksum, ICMP to us (not ours to check)", "wan", ether(bytes(icmp)), "ForUsUnhandled")
    nat = bytearray(raw(IP(src=t1["peer"], dst=t1["local"]) / UDP(sport=4500, dport=4500) / Raw(bytes(40))))
    nat[10] ^= 0xFF
    case("bad IPv4 checksum, UDP 4500 to us", "wan", ether(bytes(nat)), "BadIpChecksum")
    opt = with_v4_options(good_esp(t1))
    case("IPv4 options (IHL 6) on good ESP", "wan", ether(opt), "forwarded")
    case("Ethernet padding after good ESP", "wan", ether(good_esp(t1) + bytes(30)), "forwarded")
    lanv4 = raw(good_inner(t1, 80))
    case("plain IPv4 IHL 4", "lan", ether(bytes([0x44]) + lanv4[1:], LAN_MAC), "UnknownL2")
    case("plain IPv4 total length beyond the frame", "lan",
         ether(refresh_v4(lanv4, total=len(lanv4) + 8), LAN_MAC), "UnknownL2")
    # Plain IPv4 with options, to a tunnel: encrypted as it is (TTL one lower).
    sel1 = t1["selectors"][0]
    po = with_v4_options(raw(IP(src=lan_source(spec, 4), dst=host(sel1, 9), ttl=64) /
                             UDP(sport=1, dport=45678) / Raw(b"options")))
    want_wan[t1["name"]].append(forwarded_bytes(po))
    case("plain IPv4 with options, to a tunnel", "lan", ether(po, LAN_MAC), "forwarded")
    # --- IPv6 extension headers ---
    e3 = good_esp(t3)
    want_lan.pop()
    for nh, what in ((0, "hop-by-hop"), (60, "destination options"), (43, "routing"), (51, "AH")):
        ext = bytes([50, 0]) + bytes(6)  # 8-byte extension header, next: ESP
        w = bytearray(e3[:40] + ext + e3[40:])
        w[6] = nh
        w[4:6] = (len(w) - 40).to_bytes(2, "big")
        case("IPv6 %s header before ESP" % what, "wan", ether(bytes(w)), "IN_PKT_IPVER_INVALID")
    w = bytearray(e3)
    w[4:6] = (len(w) - 40 + 50).to_bytes(2, "big")
    case("IPv6 payload length beyond the frame", "wan", ether(bytes(w)), "IN_PKT_IPVER_INVALID")
    w = bytearray(e3[:40] + bytes([50, 0]) + bytes(6) + e3[40:])
    w[6] = 0
    w[24:40] = bytes.fromhex("20010db8009900000000000000000009")
    w[4:6] = (len(w) - 40).to_bytes(2, "big")
    case("IPv6 hop-by-hop to another address", "wan", ether(bytes(w)), "NotForUs")
    t2sel6 = next(s for s in t2["selectors"] if ":" in s)
    udp6 = raw(IPv6(src=lan_source(spec, 6), dst=host(t2sel6, 5), hlim=64) /
               UDP(sport=7, dport=45678) / Raw(b"hop-by-hop"))
    hbh = bytearray(udp6[:40] + b"\x11\x00" + bytes(6) + udp6[40:])
    hbh[6] = 0
    hbh[4:6] = (len(hbh) - 40).to_bytes(2, "big")
    hbh = bytes(hbh)
    want_wan[t2["name"]].append(forwarded_bytes(hbh))
    case("plain IPv6 with a hop-by-hop header, to a tunnel", "lan", ether(hbh, LAN_MAC), "forwarded")
    # --- fragments ---
    def frag_v4(flags_off, natt=False):
        p = good_inner(t1, 200)
        w = bytearray(esp_raw(t1, t1["in"], raw(p), 4, seq(t1), natt=natt))
        w[6:8] = flags_off.to_bytes(2, "big")
        return refresh_v4(bytes(w))
    case("ESP, first IPv4 fragment (MF)", "wan", ether(frag_v4(0x2000)), "IN_V4_PKT_FRAG_ERR")
    case("ESP, middle IPv4 fragment (MF, offset 185)", "wan", ether(frag_v4(0x2000 | 185)), "IN_V4_PKT_FRAG_ERR")
    case("ESP, last IPv4 fragment (offset 185, no MF)", "wan", ether(frag_v4(185)), "IN_V4_PKT_FRAG_ERR")
    case("UDP 4500 ESP in an IPv4 fragment", "wan", ether(frag_v4(0x2000, natt=True)), "IN_V4_PKT_FRAG_ERR")
    w = bytearray(e3[:40] + bytes([50, 0, 0, 1, 0, 0, 0, 7]) + e3[40:])
    w[6] = 44
    w[4:6] = (len(w) - 40).to_bytes(2, "big")
    # The QFP has no IPv6 row for outer fragments: they count under its IPv4 one (docs/drops.md).
    case("ESP after an IPv6 fragment header", "wan", ether(bytes(w)), "IN_V4_PKT_FRAG_ERR")
    pf = raw(IP(src=lan_source(spec, 4), dst=host(sel1, 10), ttl=64, flags="MF", id=77) /
             UDP(sport=2, dport=45678) / Raw(b"first fragment!!"))
    want_wan[t1["name"]].append(forwarded_bytes(pf))
    case("plain IPv4 first fragment, to a tunnel (encrypted as it is)", "lan", ether(pf, LAN_MAC), "forwarded")
    # --- UDP 4500: keepalives, non-ESP markers, short payloads ---
    def udp4500(t, payload, src=None, dport=4500):
        h = (IP(src=src or t["peer"], dst=t["local"]) if t["outer"] == 4 else
             IPv6(src=src or t["peer"], dst=t["local"]))
        return raw(h / UDP(sport=4500, dport=dport) / Raw(payload))
    case("NAT-keepalive over IPv4, from a stranger", "wan", ether(udp4500(t1, b"\xff", STRANGER4)), "natt_keepalive")
    case("IKE (non-ESP marker) on UDP 4500 from the peer", "wan",
         ether(udp4500(t2, bytes(4) + b"IKE_SA_INIT")), "punted")
    case("IKE (non-ESP marker) on UDP 4500 from a stranger", "wan",
         ether(udp4500(t2, bytes(4) + b"IKE_SA_INIT", STRANGER6)), "PeerChannelDeny")
    for payload, what in ((b"", "zero-length"), (b"\xff\xff", "two 0xff bytes"), (b"abc", "3 bytes"),
                          (b"\x00\x00\x00\x01\x02\x03\x04", "7 bytes")):
        case("UDP 4500 %s payload" % what, "wan", ether(udp4500(t2, payload)), "IN_NAT_DEMUX_FAIL")
    w = bytearray(udp4500(t2, bytes.fromhex("5a5a5a5a00000001") + bytes(40)))
    w[44:46] = (6).to_bytes(2, "big")  # UDP length below its own header
    case("UDP 4500 with a UDP length of 6", "wan", ether(bytes(w)), "IN_NAT_DEMUX_FAIL")
    case("UDP to port 4501 (not NAT-T)", "wan", ether(udp4500(t2, bytes(20), dport=4501)), "ForUsUnhandled")
    # --- wrong outer destination ---
    for dst, what in ((STRANGER6, "another IPv6 address"), ("255.255.255.255", "broadcast"),
                      ("224.0.0.5", "multicast"), (t1["peer"], "the peer (reflected)")):
        t = dict(t3 if ":" in dst else t1, local=dst)
        if what.startswith("the peer"):
            t = dict(t1, local=t1["peer"], peer=t1["local"])
        case("ESP to %s" % what, "wan", ether(esp(t, t["in"], good_inner(t1), 7)), "NotForUs")
    # --- VLAN tags ---
    case("802.1Q VLAN 100 around good ESP", "wan", ether(esp(t1, t1["in"], good_inner(t1), 999999),
                                                         tags_=[(0x8100, 100)]), "UnknownL2")
    case("802.1Q priority tag (VLAN 0) around good ESP", "wan", ether(good_esp(t1), tags_=[(0x8100, 0xA000)]),
         "forwarded")
    case("QinQ (802.1ad) around good ESP", "wan", ether(esp(t1, t1["in"], good_inner(t1), 999998),
                                                        tags_=[(0x88A8, 100), (0x8100, 0)]), "UnknownL2")
    case("two 802.1Q tags (VLAN 0 in VLAN 0)", "wan", ether(esp(t1, t1["in"], good_inner(t1), 999997),
                                                            tags_=[(0x8100, 0), (0x8100, 0)]), "UnknownL2")
    case("LLDP", "wan", ether(bytes(46), etype=0x88CC), "UnknownL2")
    pv = inner(lan_source(spec, 4), host(sel1, 11), next(tags), 70)
    want_wan[t1["name"]].append(forwarded(raw(pv)))
    case("802.1Q priority tag on plain IPv4, to a tunnel", "lan", ether(raw(pv), LAN_MAC, tags_=[(0x8100, 0x2000)]),
         "forwarded")
    case("QinQ on plain IPv4", "lan", ether(raw(pv), LAN_MAC, tags_=[(0x88A8, 5), (0x8100, 5)]), "UnknownL2")
    # --- jumbo and oversized ---
    jumbo = refresh_v4(raw(IP(src=t1["peer"], dst=t1["local"], proto=50)) + t1["in"]["spi"].to_bytes(4, "big") +
                       bytes(8986 - 24))
    # Longer than one mbuf: a chain, of which qfp parses nothing past the Ethernet header.
    case("9000-byte jumbo IPv4 ESP frame (a chained mbuf)", "wan", ether(jumbo), "IN_INFRA_V4_PKT_LEN_TOO_BIG")
    jumbo6 = raw(IPv6(src=t3["peer"], dst=t3["local"], nh=50) /
                 Raw(t3["in"]["spi"].to_bytes(4, "big") + bytes(8946 - 4)))
    case("9000-byte jumbo IPv6 ESP frame (a chained mbuf)", "wan", ether(jumbo6), "IN_INFRA_V6_PKT_LEN_TOO_BIG")
    case("9000-byte jumbo plain IPv4 frame (a chained mbuf)", "lan",
         ether(raw(inner(lan_source(spec, 4), host(sel1, 12), next(tags), 8958)), LAN_MAC),
         "OUT_INFRA_V4_PKT_LEN_TOO_BIG")
    case("9000-byte jumbo plain IPv6 frame (a chained mbuf)", "lan",
         ether(raw(inner(lan_source(spec, 6), host(t2sel6, 12), next(tags), 8938)), LAN_MAC),
         "OUT_INFRA_V6_PKT_LEN_TOO_BIG")
    big = inner(lan_source(spec, 4), host(sel1, 13), next(tags), 1572, df=False)
    case("1600-byte plain frame without DF (tunnel MTU 1500)", "lan", ether(raw(big), LAN_MAC),
         "OUT_INFRA_V4_PKT_LEN_TOO_BIG")
    # --- zero-length payloads ---
    case("IPv4 ESP with no ESP header at all", "wan",
         ether(raw(IP(src=t1["peer"], dst=t1["local"], proto=50))), "IN_PKT_HEADPAD_LEN_ERR")
    z = raw(IP(src=host(sel1, 7), dst=lan_source(spec, 4), ttl=64) / UDP(sport=3, dport=45678))
    want_lan.append(forwarded(z))
    case("good ESP carrying an empty UDP datagram", "wan", ether(esp(t1, t1["in"], IP(z), seq(t1))), "forwarded")
    case("ESP with an empty payload (dummy packet, next header 59)", "wan",
         ether(esp_raw(t1, t1["in"], b"", 59, seq(t1))), "IN_CD_SW_IPSEC_NH_MISMATCH")
    zl = raw(IP(src=lan_source(spec, 4), dst=host(sel1, 14), ttl=64) / UDP(sport=4, dport=45678))
    want_wan[t1["name"]].append(forwarded(zl))
    case("plain empty UDP datagram, to a tunnel", "lan", ether(zl, LAN_MAC), "forwarded")
    # --- truncated and badly padded ESP ---
    full = esp(t1, t1["in"], good_inner(t1, 100), seq(t1))
    for keep, what in ((4, "the SPI only"), (8, "the ESP header only"), (16, "header and IV"),
                       (8 + 8 + 2 + 16 - 1, "one byte short of the minimum")):
        case("ESP cut to %s" % what, "wan", ether(refresh_v4(full[:20 + keep])), "IN_PKT_HEADPAD_LEN_ERR")
    case("ESP missing the last ICV byte", "wan", ether(refresh_v4(full[:-1])), "IN_CD_SW_IPSEC_MAC_EXCEPTION")
    case("ESP frame cut, IP length left as sent", "wan", ether(full[:-30]), "IN_PKT_IPVER_INVALID")
    case("ESP with wrong padding bytes", "wan",
         ether(esp_raw(t1, t1["in"], raw(good_inner(t1)), 4, seq(t1), pad=b"\x09\x09")), "IN_PKT_HEADPAD_LEN_ERR")
    case("ESP with a pad length beyond the payload", "wan",
         ether(esp_raw(t1, t1["in"], b"", 4, seq(t1), pad=b"\x01\x02", pad_len=200)), "IN_PKT_HEADPAD_LEN_ERR")
    # --- what the ICV protects but is still wrong: the inner packet ---
    ip4 = raw(good_inner(t1, 60))
    case("ESP whose inner IPv4 header has IHL 4", "wan",
         ether(esp_raw(t1, t1["in"], bytes([0x44]) + ip4[1:], 4, seq(t1))), "IN_CD_SW_IPSEC_NH_MISMATCH")
    case("ESP whose inner IPv4 claims more bytes than it has", "wan",
         ether(esp_raw(t1, t1["in"], refresh_v4(ip4, total=len(ip4) + 40), 4, seq(t1))),
         "IN_CD_SW_IPSEC_NH_MISMATCH")
    badck = bytearray(ip4)
    badck[10] ^= 0x5A
    case("ESP whose inner IPv4 header checksum is wrong (RFC 1812 5.2.2)", "wan",
         ether(esp_raw(t1, t1["in"], bytes(badck), 4, seq(t1))), "BadIpChecksum")
    ip6 = raw(IPv6(src="2001:db8:106::7", dst=lan_source(spec, 6), hlim=64) / UDP(sport=5, dport=45678) / Raw(b"v6"))
    case("ESP next header 4 (IPv4) carrying IPv6", "wan", ether(esp_raw(t1, t1["in"], ip6, 4, seq(t1))),
         "IN_CD_SW_IPSEC_NH_MISMATCH")
    case("ESP next header 41 (IPv6) carrying IPv4", "wan", ether(esp_raw(t1, t1["in"], ip4, 41, seq(t1))),
         "IN_CD_SW_IPSEC_NH_MISMATCH")
    case("ESP next header 17 (UDP, transport mode)", "wan", ether(esp_raw(t1, t1["in"], ip4[20:], 17, seq(t1))),
         "IN_CD_SW_IPSEC_NH_MISMATCH")
    tfc = good_inner(t1, 90)
    want_lan.append(forwarded(raw(tfc)))
    case("ESP with TFC padding after the inner packet (RFC 4303 2.7)", "wan",
         ether(esp_raw(t1, t1["in"], raw(tfc) + bytes(23), 4, seq(t1))), "forwarded")
    case("ESP whose inner IPv4 has TTL 0", "wan",
         ether(esp(t1, t1["in"], good_inner(t1, 64, ttl=0), seq(t1))), "Ipv4TtlExceeded")
    # --- unknown SPIs ---
    for spi, what in ((0, "SPI 0 (reserved)"), (0xFFFFFFFF, "SPI 0xffffffff"), (255, "SPI 255 (reserved range)"),
                      (t1["out"]["spi"], "our own outbound SPI")):
        case("ESP with %s" % what, "wan", ether(esp(t1, dict(t1["in"], spi=spi), good_inner(t1), 1)),
             "IN_US_V4_PKT_SA_NOT_FOUND_SPI")
    case("UDP 4500 ESP over IPv4 with an unknown SPI", "wan",
         ether(esp_raw(t1, dict(t1["in"], spi=0x9999), raw(good_inner(t1)), 4, 1, natt=True)),
         "IN_US_V4_PKT_SA_NOT_FOUND_SPI")
    case("IPv6 ESP with an unknown SPI", "wan", ether(esp(t3, dict(t3["in"], spi=0x7777), good_inner(t3), 1)),
         "IN_US_V6_PKT_SA_NOT_FOUND_SPI")
    for i in range(8):
        case("unknown SPI flood #%d" % i, "wan", ether(esp(t2, dict(t2["in"], spi=0x8800 + i), good_inner(t2), 1)),
             "IN_US_V6_PKT_SA_NOT_FOUND_SPI")

    os.makedirs(out_dir, exist_ok=True)
    write_pcap(os.path.join(out_dir, "wan-0.pcap"), wan)
    write_pcap(os.path.join(out_dir, "lan-0.pcap"), lan)
    runs = attribution_runs(cases, frames, out_dir)
    expect = {
        "wan_frames": len(wan), "lan_frames": len(lan), "cases": cases, "runs": runs,
        "drops": dict(drops), "events": dict(events),
        "decapsulated": [p.hex() for p in want_lan],
        "encapsulated": {k: [p.hex() for p in v] for k, v in want_wan.items()},
    }
    with open(os.path.join(out_dir, "expect.json"), "w") as f:
        json.dump(expect, f)
    json.dump({"wan_frames": len(wan), "lan_frames": len(lan), "cases": len(cases)}, sys.stdout)


def attribution_runs(cases, frames, out_dir):
    """One run over the whole table counts per outcome, so two cases that swapped their
    reasons would go unnoticed. Forwarded cases are told apart by their contents (`verify`);
    the counted ones (drops and events) are numbered 0..n-1 and run again in groups: group
    j holds the cases whose number has bit j set, in table order. Any two cases differ in
    some bit, so one of them is in a group the other is not, and a swap (or any one case
    counted under the wrong reason) changes that group's counts. Writes DIR/runs/J/{wan,lan}-0.pcap;
    returns the case indices of each group."""
    counted = [i for i, c in enumerate(cases) if c["outcome"] != "forwarded"]
    bits = max(1, (len(counted) - 1).bit_length())
    runs = []
    for j in range(bits):
        members = [i for k, i in enumerate(counted) if k >> j & 1]
        d = os.path.join(out_dir, "runs", str(j))
        os.makedirs(d, exist_ok=True)
        for side in ("wan", "lan"):
            write_pcap(os.path.join(d, side + "-0.pcap"), [frames[i] for i in members if cases[i]["side"] == side])
        runs.append(members)
    return runs
