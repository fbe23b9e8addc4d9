#!/usr/bin/env bash
# Builds DPDK's ipsec-secgw example, the reference qfp is measured against, from the
# sources Debian ships in dpdk-doc (/usr/share/dpdk/examples/ipsec-secgw) against the
# system DPDK (pkg-config), out of tree in target/secgw/. Prints the binary's path on
# stdout. Nothing of it is committed: the sources are copied at build time.
#
# One change is made to the copy: ipsec-secgw asks every port for RX checksum offload,
# which no virtual device (net_pcap, net_null) offers, and refuses to start otherwise. The
# sed below drops that request; it does not add work (without the offload flags secgw
# does not check checksums in software either).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
src=/usr/share/dpdk/examples
out="$root/target/secgw"
app="$out/src/ipsec-secgw"
bin="$app/build/ipsec-secgw"
stamp="$out/stamp"

die() {
	echo "secgw.sh: $*" >&2
	exit 1
}

[ -f "$src/ipsec-secgw/ipsec-secgw.c" ] || die "$src/ipsec-secgw missing: install dpdk-doc (scripts/bench does)"
want="$(dpkg-query -W -f='${Version}' dpdk-doc 2>/dev/null || echo unknown) $(pkg-config --modversion libdpdk)"
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "$bin"
	exit 0
fi
rm -rf "$out/src"
mkdir -p "$out/src"
cp -r "$src/ipsec-secgw" "$src/common" "$out/src/"
sed -i 's/\.offloads = RTE_ETH_RX_OFFLOAD_CHECKSUM,/.offloads = 0, \/* qfp bench: vdevs have no checksum offload *\//' \
	"$app/ipsec-secgw.c"
grep -q 'qfp bench: vdevs have no checksum offload' "$app/ipsec-secgw.c" ||
	die "could not remove the RX checksum offload request (the example's source changed?)"
echo "secgw.sh: building ipsec-secgw (make, $(nproc) jobs) into $out" >&2
make -C "$app" -j"$(nproc)" >"$out/build.log" 2>&1 || {
	tail -20 "$out/build.log" >&2
	die "make failed (full log: $out/build.log)"
}
echo "$want" >"$stamp"
echo "$bin"
