#!/usr/bin/env python3
"""scapy's independent reading of the captures `qfp pcap` writes (tests/e2e/pcap.rs).

    pcap_check.py ESP_PCAP PLAIN_PCAP KEY_HEX SALT_HEX SPI ESN START_SEQ SRC_PREFIX DST_PREFIX

Decrypts every frame of ESP_PCAP with scapy.layers.ipsec (AES-GCM, tunnel mode, the given
key, salt, SPI and ESN setting; the sequence numbers must be START_SEQ, START_SEQ+1, ...)
and compares each inner packet, byte for byte, with the IP packet of the same frame of
PLAIN_PCAP (the mirror set's plain capture). It also checks every plain frame the way a
receiver would: Ethernet type, IP version, UDP checksum (recomputed by scapy), destination
port 9, source inside SRC_PREFIX, destination inside DST_PREFIX, and a payload that starts
with the load header magic "QF" whose 48-bit sequence number is the frame's index.

Prints one JSON object: {"esp": n, "plain": n, "errors": [first few problems]}.
"""

import ipaddress
import json
import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.ipsec import ESP, SecurityAssociation
from scapy.layers.l2 import Ether
from scapy.packet import raw
from scapy.utils import rdpcap


def check_plain(i, frame, src_net, dst_net):
    eth = Ether(frame)
    ip = eth.payload
    if eth.type == 0x0800:
        if not isinstance(ip, IP):
            return "frame %d: scapy sees no IPv4" % i
        rebuilt = IP(raw(ip))
        del rebuilt.chksum
        if IP(raw(rebuilt)).chksum != ip.chksum:
            return "frame %d: bad IPv4 checksum" % i
    elif eth.type == 0x86DD:
        if not isinstance(ip, IPv6):
            return "frame %d: scapy sees no IPv6" % i
    else:
        return "frame %d: ethertype %#x" % (i, eth.type)
    if UDP not in ip:
        return "frame %d: no UDP" % i
    udp = ip[UDP]
    # Rebuild the packet without the UDP checksum and let scapy compute it.
    layer = IP if eth.type == 0x0800 else IPv6
    clone = layer(raw(ip))
    del clone[UDP].chksum
    recomputed = layer(raw(clone))[UDP].chksum
    if recomputed != udp.chksum:
        return "frame %d: UDP checksum %#x, scapy computes %#x" % (i, udp.chksum, recomputed)
    if udp.dport != 9:
        return "frame %d: UDP destination port %d" % (i, udp.dport)
    if ipaddress.ip_address(ip.src) not in src_net:
        return "frame %d: source %s outside %s" % (i, ip.src, src_net)
    if ipaddress.ip_address(ip.dst) not in dst_net:
        return "frame %d: destination %s outside %s" % (i, ip.dst, dst_net)
    payload = raw(udp.payload)
    if payload[:2] != b"QF":
        return "frame %d: payload does not start with QF" % i
    seq = int.from_bytes(payload[4:10], "big")
    if seq != i:
        return "frame %d: load header sequence number %d" % (i, seq)
    return None


def main():
    esp_path, plain_path, key, salt, spi, esn, start, src, dst = sys.argv[1:10]
    key, salt, spi = bytes.fromhex(key), bytes.fromhex(salt), int(spi, 0)
    esn, start = esn == "true", int(start)
    src_net, dst_net = ipaddress.ip_network(src), ipaddress.ip_network(dst)
    esp_frames = [raw(p) for p in rdpcap(esp_path)]
    plain_frames = [raw(p) for p in rdpcap(plain_path)]
    errors = []
    if len(esp_frames) != len(plain_frames):
        errors.append("%d ESP frames, %d plain frames" % (len(esp_frames), len(plain_frames)))
    for i, (e, p) in enumerate(zip(esp_frames, plain_frames)):
        seq = start + i
        try:
            outer = Ether(e).payload
            if ESP not in outer:
                errors.append("frame %d: scapy finds no ESP" % i)
                continue
            if outer[ESP].spi != spi or outer[ESP].seq != seq & 0xFFFFFFFF:
                errors.append("frame %d: SPI %#x seq %d, expected %#x seq %d"
                              % (i, outer[ESP].spi, outer[ESP].seq, spi, seq & 0xFFFFFFFF))
                continue
            sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=key + salt,
                                     tunnel_header=IP() if isinstance(outer, IP) else IPv6(),
                                     esn_en=esn, esn=seq >> 32)
            inner = raw(sa.decrypt(outer, esn_en=esn, esn=seq >> 32))
            if inner != p[14:]:
                errors.append("frame %d: decrypts to %s, plain frame has %s" % (i, inner[:48].hex(), p[14:62].hex()))
        except Exception as ex:  # an integrity failure is a finding, not a crash
            errors.append("frame %d: %s: %s" % (i, type(ex).__name__, ex))
    for i, p in enumerate(plain_frames):
        problem = check_plain(i, p, src_net, dst_net)
        if problem:
            errors.append(problem)
    json.dump({"esp": len(esp_frames), "plain": len(plain_frames), "errors": errors[:10]}, sys.stdout)


if __name__ == "__main__":
    main()
