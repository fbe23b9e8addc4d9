#!/usr/bin/env python3
"""scapy as the independent ESP peer for dataplane/tests/scapy_peer.rs.

Two modes, JSON on stdout:

  esp_peer.py gen [--seed N]
      Builds inner packets with scapy and encrypts them with
      scapy.layers.ipsec.SecurityAssociation (AES-GCM, tunnel mode) for every combination
      of inner IPv4/IPv6, outer IPv4/IPv6, ESN on/off, NAT-T on/off, AES-128/256. The IV is
      the 64-bit sequence number and the outer header carries the fields qfp's encap sets
      (TTL/hop limit 64, TOS/traffic class copied from the inner packet, DF copied or set
      for inner IPv6, ID = low 16 bits of the sequence number, flow label derived from the
      SPI), so the Rust side can both decrypt scapy's packets and compare its own encap
      byte for byte.

  esp_peer.py check  < cases.json
      Decrypts packets that qfp encrypted, with scapy, and reports for each whether the
      result is exactly the expected inner packet and whether scapy finds the outer
      headers consistent (IPv4 checksum and lengths, IPv6 payload length, UDP length).

scapy 2.5 quirks handled here: SecurityAssociation uses `seq_num or self.seq_num` and
`esn or self.esn`, so a sequence number or ESN high half of 0 passed per call silently
falls back to the SA's own value; a fresh SA is built per packet with both set. With
NAT-T over IPv4 it writes UDP Length 8 (the header is frozen before the ESP packet is
appended); `encrypt` corrects it. The padding scapy builds (RFC 4303 default, 4-byte
alignment for GCM's block size 1) is the same as qfp's.
"""

import argparse
import json
import random
import sys

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.packet import Raw, raw

V4 = ("172.16.2.5", "172.16.1.5")  # (peer, us): scapy is the peer
V6 = ("2001:db8:2::5", "2001:db8:1::5")


def flow_label(spi):
    """qfp's outer IPv6 flow label: a hash of the SPI, never 0 (dataplane::sa::flow_label_for)."""
    h = (spi * 0x9E3779B1) & 0xFFFFFFFF
    lab = (h >> 12) & 0xFFFFF
    return lab or 1


def inner_packets(rng, family):
    """A handful of inner packets of varied protocols, sizes, DSCP/ECN and DF."""
    out = []
    for size in (0, 1, 3, 57, 200, 1000, rng.randrange(0, 1400)):
        payload = bytes(rng.randrange(256) for _ in range(size))
        tos = rng.choice((0, 0x02, 0xB8, 0xB9, rng.randrange(256)))
        if family == 4:
            df = rng.random() < 0.5
            l4 = rng.choice(("udp", "icmp", "tcp"))
            ip = IP(src="192.168.105.%d" % rng.randrange(1, 255), dst="192.168.115.9",
                    tos=tos, flags="DF" if df else 0, id=rng.randrange(65536), ttl=63)
        else:
            l4 = rng.choice(("udp", "tcp"))
            ip = IPv6(src="fd00:105::%x" % rng.randrange(1, 65535), dst="fd00:115::9",
                      tc=tos, fl=rng.randrange(1 << 20), hlim=63)
        if l4 == "udp":
            pkt = ip / UDP(sport=rng.randrange(1024, 65535), dport=53) / Raw(payload)
        elif l4 == "tcp":
            pkt = ip / TCP(sport=rng.randrange(1024, 65535), dport=443, flags="PA") / Raw(payload)
        else:
            pkt = ip / ICMP(type=8, id=7, seq=size) / Raw(payload)
        out.append(pkt.__class__(raw(pkt)))
    return out


def tunnel_header(outer, inner, seq, spi):
    if inner.version == 4:
        tos, df = inner.tos, bool(int(inner.flags) & 0x2)
    else:
        tos, df = inner.tc, True
    if outer == 4:
        return IP(src=V4[0], dst=V4[1], tos=tos, flags="DF" if df else 0, id=seq & 0xFFFF, ttl=64)
    return IPv6(src=V6[0], dst=V6[1], tc=tos, fl=flow_label(spi), hlim=64)


def encrypt(key, salt, spi, esn, natt, header, inner, seq):
    sa = SecurityAssociation(
        ESP, spi=spi, seq_num=seq & 0xFFFFFFFF, crypt_algo="AES-GCM", crypt_key=key + salt,
        tunnel_header=header,
        nat_t_header=UDP(sport=4500, dport=4500) if natt else None,
        esn_en=esn, esn=seq >> 32)
    wire = bytearray(raw(sa.encrypt(inner, seq_num=seq & 0xFFFFFFFF, iv=seq.to_bytes(8, "big"),
                                    esn_en=esn, esn=seq >> 32)))
    if natt:
        # scapy 2.5 freezes the IPv4 + UDP header (raw() rebuild) before appending the ESP
        # packet, so its UDP Length says 8. Put the real length in; the checksum stays 0.
        ip_len = (wire[0] & 0x0F) * 4 if wire[0] >> 4 == 4 else 40
        wire[ip_len + 4:ip_len + 6] = (len(wire) - ip_len).to_bytes(2, "big")
    return bytes(wire)


def sequence_numbers(esn, rng):
    """The sequence numbers of one case, in the order the receiver gets them."""
    if not esn:
        r = rng.randrange(4, 1 << 31)
        return [1, 3, 2, r, r + 1, 0xFFFFFFFE, 0xFFFFFFFF]
    hi = rng.randrange(1, 1 << 31)
    # Straddle the wrap of the low half, with packets out of order on both sides of it.
    return [(hi << 32) | 0xFFFFFFFB, (hi << 32) | 0xFFFFFFFE, ((hi + 1) << 32), (hi << 32) | 0xFFFFFFFF,
            ((hi + 1) << 32) | 1, (hi << 32) | 0xFFFFFFFD, ((hi + 1) << 32) | 5]


def gen(seed):
    rng = random.Random(seed)
    cases = []
    for key_len in (16, 32):
        for esn in (False, True):
            for natt in (False, True):
                for outer in (4, 6):
                    for family in (4, 6):
                        key = bytes(rng.randrange(256) for _ in range(key_len))
                        salt = bytes(rng.randrange(256) for _ in range(4))
                        spi = rng.randrange(0x100, 0xFFFFFFFF)
                        inners = inner_packets(rng, family)
                        packets = []
                        for i, seq in enumerate(sequence_numbers(esn, rng)):
                            inner = inners[i % len(inners)]
                            wire = encrypt(key, salt, spi, esn, natt,
                                           tunnel_header(outer, inner, seq, spi), inner, seq)
                            packets.append({"seq": seq, "inner": raw(inner).hex(), "wire": wire.hex()})
                        cases.append({
                            "name": "aes%d esn=%s natt=%s outer=v%d inner=v%d" % (key_len * 8, esn, natt, outer, family),
                            "key": key.hex(), "salt": salt.hex(), "spi": spi, "esn": esn, "natt": natt,
                            "outer": outer, "src": V4[0] if outer == 4 else V6[0],
                            "dst": V4[1] if outer == 4 else V6[1], "packets": packets,
                        })
    json.dump({"seed": seed, "cases": cases}, sys.stdout)


def outer_consistent(wire, natt):
    """scapy's own view of the outer headers qfp built."""
    first = wire[0] >> 4
    p = IP(wire) if first == 4 else IPv6(wire)
    if first == 4:
        rebuilt = p.copy()
        del rebuilt.chksum
        if IP(raw(rebuilt)).chksum != p.chksum:
            return "bad IPv4 header checksum"
        if p.len != len(wire):
            return "IPv4 total length %d for %d bytes" % (p.len, len(wire))
    elif p.plen != len(wire) - 40:
        return "IPv6 payload length %d for %d bytes" % (p.plen, len(wire))
    if natt:
        if UDP not in p or p[UDP].dport != 4500 or p[UDP].sport != 4500:
            return "no UDP 4500 header"
        if p[UDP].len != len(raw(p[UDP])):
            return "UDP length %d for %d bytes" % (p[UDP].len, len(raw(p[UDP])))
        if p[UDP].chksum != 0:
            return "UDP checksum not 0"
    if ESP not in p:
        return "scapy finds no ESP"
    return None


def check():
    cases = json.load(sys.stdin)
    results = []
    for c in cases:
        key, salt = bytes.fromhex(c["key"]), bytes.fromhex(c["salt"])
        wire = bytes.fromhex(c["wire"])
        seq = c["seq"]
        try:
            problem = outer_consistent(wire, c["natt"])
            if problem is None:
                sa = SecurityAssociation(
                    ESP, spi=c["spi"], crypt_algo="AES-GCM", crypt_key=key + salt,
                    tunnel_header=IP() if wire[0] >> 4 == 4 else IPv6(),
                    esn_en=c["esn"], esn=seq >> 32)
                outer = IP(wire) if wire[0] >> 4 == 4 else IPv6(wire)
                if outer[ESP].seq != seq & 0xFFFFFFFF:
                    problem = "ESP sequence number %d, expected %d" % (outer[ESP].seq, seq & 0xFFFFFFFF)
                else:
                    inner = raw(sa.decrypt(outer, esn_en=c["esn"], esn=seq >> 32))
                    if inner != bytes.fromhex(c["inner"]):
                        problem = "decrypted to %s" % inner.hex()
            results.append({"ok": problem is None, "error": problem})
        except Exception as e:  # an integrity error is a failed case, not a crash
            results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(results, sys.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--seed", type=int, default=4106)
    sub.add_parser("check")
    a = ap.parse_args()
    if a.mode == "gen":
        gen(a.seed)
    else:
        check()


if __name__ == "__main__":
    main()
