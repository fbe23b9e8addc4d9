#!/usr/bin/env python3
"""scapy as the gateway's peers and its LAN, for the end-to-end tests of `qfp run -c`.

  gw_peer.py build SPEC.json DIR [--queues N] [--good N]
      Builds the traffic of one test from SPEC (the tunnels with their SAs, as the test
      wrote the config from): for every tunnel, ESP from its peer (scapy's
      SecurityAssociation, AES-GCM tunnel mode, plain or NAT-T, ESN or not) carrying good
      inner packets, plus the bad ones a gateway must refuse (unknown SPI, flipped ICV byte,
      exact replay, truncated ESP, inner source outside the selectors, TTL 1, no route),
      NAT-keepalives; plain LAN traffic into every tunnel plus what policy refuses (no
      selector, TTL 1, bad checksum, too big with DF, ARP, a VLAN we do not serve); and
      strangers on the WAN (peer-channel UDP from a peer and from a stranger, ICMP to us,
      ESP to another address). Frames are dealt round-robin into DIR/wan-QUEUE.pcap and
      DIR/lan-QUEUE.pcap. DIR/expect.json says what each bad packet must be counted as,
      and what must come out.

  gw_peer.py malformed SPEC.json DIR
      The malformed-traffic table (one queue per port): runts, bad IPv4 header lengths and
      checksums, IPv6 extension headers, ESP in fragments, NAT-T keepalives, non-ESP
      markers and short UDP 4500 payloads, wrong outer destinations, VLAN tags, jumbo
      frames, zero-length payloads, truncated and badly padded ESP, authenticated but
      wrong inner packets (next header, inner header, TFC padding, TTL 0), unknown SPIs, each
      with the one outcome qfp must give it: a drop reason, an event, or forwarded (then
      what must come out, checked by `verify` like the rest). DIR/expect.json has the same
      fields as `build` writes plus "cases": [{"name", "side", "outcome"}] in order.
      (What `build` already sends, one of each, is not repeated here.) In gw_malformed.py.

  gw_peer.py verify SPEC.json DIR
      Reads what qfp sent (DIR/out-wan-*.pcap, DIR/out-lan-*.pcap): decrypts every ESP
      frame with scapy (the peer's inbound SA = our outbound keys), checks its outer
      headers, Ethernet addresses and that each SA's sequence numbers go 1, 2, 3... within
      the capture; compares every decrypted inner packet, and every decapsulated frame, with
      what was sent (TTL / hop limit one lower). Prints a JSON report.

SPEC: {"macs": {"protected": MAC, "unprotected": MAC} (verify only),
       "routes": [{"dst": PREFIX, "mac": MAC}],
       "tunnels": [{"name", "outer": 4|6, "local", "peer", "natt": bool, "esn": bool,
                    "next_hop_mac", "selectors": [PREFIX], "peer_lan": ADDRESS,
                    "out": {"spi", "key", "salt"}, "in": {"spi", "key", "salt"}}]}
"""

import argparse
import ipaddress
import json
import os
import sys
from collections import Counter

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw, raw
from scapy.utils import PcapWriter, rdpcap

PEER_MAC = "02:00:00:00:0e:01"  # the peers' router, as seen by our unprotected port
LAN_MAC = "02:00:00:00:0e:02"  # a LAN host
QFP_MAC = "02:00:00:00:0e:ff"  # what the senders address; qfp's ports are promiscuous
STRANGER4, STRANGER6 = "172.16.99.9", "2001:db8:99::9"


def host(prefix, n):
    """Address n inside prefix."""
    net = ipaddress.ip_network(prefix)
    return str(net.network_address + n)


def inner(src, dst, tag, size, ttl=64, df=True):
    """An inner UDP packet carrying its tag (so that every packet differs)."""
    payload = tag.to_bytes(4, "big") + bytes((tag * 7 + i) & 0xFF for i in range(max(size, 4) - 4))
    if ":" in dst:
        p = IPv6(src=src, dst=dst, hlim=ttl) / UDP(sport=1024 + tag % 1000, dport=45678) / Raw(payload)
    else:
        p = IP(src=src, dst=dst, ttl=ttl, flags="DF" if df else 0, id=tag & 0xFFFF) / UDP(
            sport=1024 + tag % 1000, dport=45678) / Raw(payload)
    return p.__class__(raw(p))


def forwarded(pkt_bytes):
    """The inner packet as a router forwards it: TTL / hop limit one lower."""
    if pkt_bytes[0] >> 4 == 4:
        p = IP(pkt_bytes)
        p.ttl -= 1
        del p.chksum
        return raw(p)
    p = IPv6(pkt_bytes)
    p.hlim -= 1
    return raw(p)


def outer_header(t):
    if t["outer"] == 4:
        return IP(src=t["peer"], dst=t["local"], ttl=64)
    return IPv6(src=t["peer"], dst=t["local"], hlim=64)


def esp(t, sa_keys, inner_pkt, seq):
    """scapy encrypts inner_pkt as t's peer, with sequence number seq (64 bits with ESN)."""
    key = bytes.fromhex(sa_keys["key"]) + bytes.fromhex(sa_keys["salt"])
    # scapy 2.5 uses `seq_num or self.seq_num` / `esn or self.esn`: a fresh SA per packet.
    sa = SecurityAssociation(
        ESP, spi=sa_keys["spi"], seq_num=seq & 0xFFFFFFFF, crypt_algo="AES-GCM", crypt_key=key,
        tunnel_header=outer_header(t),
        nat_t_header=UDP(sport=4500, dport=4500) if t["natt"] else None,
        esn_en=t["esn"], esn=seq >> 32)
    wire = bytearray(raw(sa.encrypt(inner_pkt, seq_num=seq & 0xFFFFFFFF, iv=seq.to_bytes(8, "big"),
                                    esn_en=t["esn"], esn=seq >> 32)))
    if t["natt"]:
        fix_udp_len(wire)
    return bytes(wire)


def ip_header_len(wire):
    return (wire[0] & 0x0F) * 4 if wire[0] >> 4 == 4 else 40


def fix_lengths(wire):
    """IP total/payload length (and IPv4 checksum) after the packet was cut."""
    if wire[0] >> 4 == 4:
        wire[2:4] = len(wire).to_bytes(2, "big")
        wire[10:12] = b"\0\0"
        p = IP(bytes(wire))
        del p.chksum
        wire[10:12] = raw(IP(raw(p)))[10:12]
    else:
        wire[4:6] = (len(wire) - 40).to_bytes(2, "big")


def fix_udp_len(wire):
    """scapy 2.5 freezes the UDP header of NAT-T before appending the ESP packet."""
    h = ip_header_len(wire)
    wire[h + 4:h + 6] = (len(wire) - h).to_bytes(2, "big")


def wan_frame(ip_bytes):
    v6 = ip_bytes[0] >> 4 == 6
    return raw(Ether(src=PEER_MAC, dst=QFP_MAC, type=0x86DD if v6 else 0x0800) / Raw(ip_bytes))


def lan_frame(ip_bytes):
    v6 = ip_bytes[0] >> 4 == 6
    return raw(Ether(src=LAN_MAC, dst=QFP_MAC, type=0x86DD if v6 else 0x0800) / Raw(ip_bytes))


def lan_source(spec, family):
    """A LAN address routed back to the LAN (inside a route of that family)."""
    for r in spec["routes"]:
        if (":" in r["dst"]) == (family == 6):
            return host(r["dst"], 9)
    raise SystemExit("the spec has no route of IPv%d" % family)


def build(spec, out_dir, queues, good):
    wan, lan = [], []
    expect_drops, expect_events = Counter(), Counter()
    want_lan = []  # decapsulated inner packets, as forwarded
    want_wan = {}  # tunnel name -> plain packets, as forwarded
    tag = 1

    def drop(reason, n=1):
        expect_drops[reason] += n

    for t in spec["tunnels"]:
        name, fam_out = t["name"], t["outer"]
        sels = t["selectors"]
        want_wan[name] = []
        seq = 0
        # --- from the peer ---
        goods = []
        for i in range(good):
            sel = sels[i % len(sels)]
            fam = 6 if ":" in sel else 4
            p = inner(host(sel, 7), lan_source(spec, fam), tag, 40 + (tag * 37) % 1200)
            tag += 1
            seq += 1
            w = esp(t, t["in"], p, seq)
            goods.append(w)
            wan.append(wan_frame(w))
            want_lan.append(forwarded(raw(p)))
            if i == 1:
                wan.append(wan_frame(w))  # an exact replay right behind it
                drop("IN_OCT_ANTI_REPLAY_FAIL")
        sel = sels[0]
        fam = 6 if ":" in sel else 4
        seq += 1
        w = bytearray(esp(t, t["in"], inner(host(sel, 7), lan_source(spec, fam), tag, 100), seq))
        tag += 1
        w[-1] ^= 0x01  # a flipped ICV byte
        wan.append(wan_frame(bytes(w)))
        drop("IN_CD_SW_IPSEC_MAC_EXCEPTION")
        seq += 1
        w = bytearray(esp(t, t["in"], inner(host(sel, 7), lan_source(spec, fam), tag, 300), seq))
        tag += 1
        cut = ip_header_len(w) + (8 if t["natt"] else 0) + 8 + 12  # ESP header + 12 bytes
        w = w[:cut]
        fix_lengths(w)
        if t["natt"]:
            fix_udp_len(w)
        wan.append(wan_frame(bytes(w)))
        drop("IN_PKT_HEADPAD_LEN_ERR")
        unknown = dict(t["in"], spi=t["in"]["spi"] ^ 0x5A5A0000)
        wan.append(wan_frame(esp(t, unknown, inner(host(sel, 7), lan_source(spec, fam), tag, 64), 1)))
        tag += 1
        drop("IN_US_V%d_PKT_SA_NOT_FOUND_SPI" % fam_out)
        expect_events["invalid_spi_punted"] += 1
        outside = "10.99.0.1" if fam == 4 else "fd99::1"
        seq += 1
        wan.append(wan_frame(esp(t, t["in"], inner(outside, lan_source(spec, fam), tag, 64), seq)))
        tag += 1
        drop("IN_V%d_POST_INPUT_POLICY_FAIL" % fam)
        seq += 1
        wan.append(wan_frame(esp(t, t["in"], inner(host(sel, 7), lan_source(spec, fam), tag, 64, ttl=1), seq)))
        tag += 1
        drop("Ipv4TtlExceeded")
        unrouted = "10.77.0.1" if fam == 4 else "fd77::1"
        seq += 1
        wan.append(wan_frame(esp(t, t["in"], inner(host(sel, 7), unrouted, tag, 64), seq)))
        tag += 1
        drop("Ipv4NoRoute")
        if t["natt"]:
            ka = (IP(src=t["peer"], dst=t["local"]) if fam_out == 4 else
                  IPv6(src=t["peer"], dst=t["local"])) / UDP(sport=4500, dport=4500) / Raw(b"\xff")
            wan.append(wan_frame(raw(ka)))
            expect_events["natt_keepalive"] += 1
        # --- from the LAN, into this tunnel ---
        for i in range(good):
            sel = sels[i % len(sels)]
            fam = 6 if ":" in sel else 4
            p = inner(lan_source(spec, fam), host(sel, 1 + i % 200), tag, 40 + (tag * 53) % 1300)
            tag += 1
            lan.append(lan_frame(raw(p)))
            want_wan[name].append(forwarded(raw(p)))
        p = inner(lan_source(spec, fam), host(sel, 1), tag, 64, ttl=1)
        tag += 1
        lan.append(lan_frame(raw(p)))
        drop("Ipv4TtlExceeded")
        big = 1500  # more than any tunnel MTU of 1500 minus ESP overhead, with DF
        lan.append(lan_frame(raw(inner(lan_source(spec, fam), host(sel, 2), tag, big))))
        tag += 1
        drop("OUT_CANNOT_FRAG_DF_SET_PKT")

    # --- policy and strangers ---
    lan.append(lan_frame(raw(inner(lan_source(spec, 4), "8.8.8.8", tag, 64))))
    tag += 1
    drop("OUT_V4_PKT_HIT_DENY_DROP_SP")
    lan.append(lan_frame(raw(inner(lan_source(spec, 6), "2001:db8:ffff::1", tag, 64))))
    tag += 1
    drop("OUT_V6_PKT_HIT_DENY_DROP_SP")
    v4_tunnel = next(t for t in spec["tunnels"] if any(":" not in s for s in t["selectors"]))
    v4_sel = next(s for s in v4_tunnel["selectors"] if ":" not in s)
    bad = bytearray(raw(inner(lan_source(spec, 4), host(v4_sel, 3), tag, 64)))
    tag += 1
    bad[10] ^= 0xFF
    lan.append(lan_frame(bytes(bad)))
    drop("BadIpChecksum")
    arp = raw(Ether(src=LAN_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=lan_source(spec, 4), pdst="192.0.2.1"))
    lan.append(arp)
    wan.append(raw(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="172.16.2.1", pdst="172.16.1.1")))
    drop("UnknownL2", 2)
    vlan = raw(Ether(src=LAN_MAC, dst=QFP_MAC) / Dot1Q(vlan=100) /
               inner(lan_source(spec, 4), host(v4_sel, 4), tag, 64))
    tag += 1
    lan.append(vlan)
    drop("UnknownL2")
    t0 = spec["tunnels"][0]
    hdr = (lambda s, d: IP(src=s, dst=d)) if t0["outer"] == 4 else (lambda s, d: IPv6(src=s, dst=d))
    stranger = STRANGER4 if t0["outer"] == 4 else STRANGER6
    wan.append(wan_frame(raw(hdr(t0["peer"], t0["local"]) / UDP(sport=500, dport=500) / Raw(b"peer-channel hello"))))
    expect_events["punted"] += 1
    wan.append(wan_frame(raw(hdr(stranger, t0["local"]) / UDP(sport=500, dport=500) / Raw(b"let me in"))))
    drop("PeerChannelDeny")
    wan.append(wan_frame(raw(hdr(t0["peer"], t0["local"]) / ICMP() / Raw(b"ping"))))
    drop("ForUsUnhandled")
    wan.append(wan_frame(esp(dict(t0, local=stranger), t0["in"], inner("192.0.2.1", "192.0.2.2", tag, 64), 99)))
    tag += 1
    drop("NotForUs")

    os.makedirs(out_dir, exist_ok=True)
    for side, frames in (("wan", wan), ("lan", lan)):
        writers = [PcapWriter(os.path.join(out_dir, "%s-%d.pcap" % (side, q)), linktype=1, sync=True)
                   for q in range(queues)]
        for i, f in enumerate(frames):
            writers[i % queues].write(Ether(f))
        for w in writers:
            w.close()
    expect = {
        "wan_frames": len(wan), "lan_frames": len(lan),
        "drops": dict(expect_drops), "events": dict(expect_events),
        "decapsulated": [p.hex() for p in want_lan],
        "encapsulated": {k: [p.hex() for p in v] for k, v in want_wan.items()},
    }
    with open(os.path.join(out_dir, "expect.json"), "w") as f:
        json.dump(expect, f)
    json.dump({"wan_frames": len(wan), "lan_frames": len(lan)}, sys.stdout)


def captures(out_dir, prefix):
    names = sorted(n for n in os.listdir(out_dir) if n.startswith(prefix) and n.endswith(".pcap"))
    return [(n, [raw(p) for p in rdpcap(os.path.join(out_dir, n))]) for n in names]


def check_outer(t, wire, errors, where):
    """The outer headers qfp built, as scapy reads them."""
    if t["outer"] == 4:
        p = IP(wire)
        if (p.src, p.dst) != (t["local"], t["peer"]):
            errors.append("%s: outer %s -> %s" % (where, p.src, p.dst))
        chk = p.chksum
        del p.chksum
        if IP(raw(p)).chksum != chk or p.len != len(wire):
            errors.append("%s: bad outer IPv4 checksum or length" % where)
    else:
        p = IPv6(wire)
        if (p.src, p.dst) != (t["local"], t["peer"]) or p.plen != len(wire) - 40:
            errors.append("%s: outer %s -> %s plen %d" % (where, p.src, p.dst, p.plen))
    if t["natt"] and (UDP not in p or p[UDP].dport != 4500 or p[UDP].len != len(raw(p[UDP]))):
        errors.append("%s: bad NAT-T UDP header" % where)
    return p


def verify(spec, out_dir):
    with open(os.path.join(out_dir, "expect.json")) as f:
        expect = json.load(f)
    macs = spec["macs"]
    errors = []
    by_spi = {t["out"]["spi"]: t for t in spec["tunnels"]}
    got_wan = {t["name"]: Counter() for t in spec["tunnels"]}
    esp_frames = 0
    for name, frames in captures(out_dir, "out-wan"):
        last = {}
        for i, f in enumerate(frames):
            where = "%s #%d" % (name, i)
            e = Ether(f)
            ip = raw(e.payload)
            h = ip_header_len(ip)
            off = h + (8 if ip[0] >> 4 == 4 and ip[9] == 17 or ip[0] >> 4 == 6 and ip[6] == 17 else 0)
            spi = int.from_bytes(ip[off:off + 4], "big")
            t = by_spi.get(spi)
            if t is None:
                errors.append("%s: ESP with SPI %#x, none of ours" % (where, spi))
                continue
            if e.src != macs["unprotected"] or e.dst != t["next_hop_mac"]:
                errors.append("%s: Ethernet %s -> %s" % (where, e.src, e.dst))
            p = check_outer(t, ip, errors, where)
            esp_seq = p[ESP].seq
            # With ESN the high half is not on the wire: count on from the last one.
            prev = last.get(spi, 0)
            seq = ((prev >> 32) << 32) | esp_seq
            if seq <= prev:
                seq += 1 << 32
            if seq != prev + 1:
                errors.append("%s: SPI %#x sequence %d after %d" % (where, spi, seq, prev))
            last[spi] = seq
            key = bytes.fromhex(t["out"]["key"]) + bytes.fromhex(t["out"]["salt"])
            sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=key,
                                     tunnel_header=IP() if t["outer"] == 4 else IPv6(),
                                     esn_en=t["esn"], esn=seq >> 32)
            try:
                got_wan[t["name"]][raw(sa.decrypt(p, esn_en=t["esn"], esn=seq >> 32)).hex()] += 1
                esp_frames += 1
            except Exception as ex:  # an integrity failure is a finding, not a crash
                errors.append("%s: scapy cannot decrypt: %s" % (where, ex))
    for name, want in expect["encapsulated"].items():
        if got_wan[name] != Counter(want):
            missing = sum((Counter(want) - got_wan[name]).values())
            extra = sum((got_wan[name] - Counter(want)).values())
            errors.append("tunnel %s: %d inner packets missing, %d unexpected" % (name, missing, extra))
    routes = {r["dst"]: r["mac"] for r in spec["routes"]}
    got_lan = Counter()
    for name, frames in captures(out_dir, "out-lan"):
        for i, f in enumerate(frames):
            e = Ether(f)
            ip = raw(e.payload)
            dst = IP(ip).dst if ip[0] >> 4 == 4 else IPv6(ip).dst
            mac = next((m for d, m in routes.items()
                        if ipaddress.ip_address(dst) in ipaddress.ip_network(d)), None)
            if e.src != macs["protected"] or e.dst != mac:
                errors.append("%s #%d: Ethernet %s -> %s (route MAC %s)" % (name, i, e.src, e.dst, mac))
            got_lan[ip.hex()] += 1
    want_lan = Counter(expect["decapsulated"])
    if got_lan != want_lan:
        errors.append("decapsulated: %d missing, %d unexpected" % (
            sum((want_lan - got_lan).values()), sum((got_lan - want_lan).values())))
    json.dump({"errors": errors[:20], "error_count": len(errors), "esp_frames": esp_frames,
               "lan_frames": sum(got_lan.values())}, sys.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("build")
    b.add_argument("spec")
    b.add_argument("dir")
    b.add_argument("--queues", type=int, default=1)
    b.add_argument("--good", type=int, default=20)
    m = sub.add_parser("malformed")
    m.add_argument("spec")
    m.add_argument("dir")
    v = sub.add_parser("verify")
    v.add_argument("spec")
    v.add_argument("dir")
    a = ap.parse_args()
    with open(a.spec) as f:
        spec = json.load(f)
    if a.mode == "build":
        build(spec, a.dir, a.queues, a.good)
    elif a.mode == "malformed":
        import gw_malformed  # the table lives in its own file; it uses the helpers above
        gw_malformed.malformed(spec, a.dir)
    else:
        verify(spec, a.dir)


if __name__ == "__main__":
    main()
