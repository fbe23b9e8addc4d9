#!/usr/bin/env bash
# The system packages ./scripts/bench needs beyond scripts/setup's: DPDK's example sources
# (dpdk-doc, for ipsec-secgw), the intel-ipsec-mb crypto PMD (crypto_aesni_gcm0) that
# ipsec-secgw and dpdk-test-crypto-perf use, make and a C compiler to build the example,
# and openssl for the crypto reference. Idempotent and quiet when all is present.
set -euo pipefail
want=(dpdk-doc librte-crypto-ipsec-mb23 make gcc openssl)
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
echo "bench setup: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "bench setup: not root and no sudo: install ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 ||
	{ cat "$log" >&2; echo "bench setup: apt-get update failed" >&2; exit 1; }
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >"$log" 2>&1 ||
	{ cat "$log" >&2; echo "bench setup: apt-get install ${missing[*]} failed" >&2; exit 1; }
echo "bench setup: installed ${missing[*]}" >&2
