#!/bin/sh
# Runs both fuzz targets for $1 seconds each (default 300), seeded from seeds/.
# Needs cargo-fuzz (cargo install cargo-fuzz); works on a stable toolchain.
set -eu
cd "$(dirname "$0")"
secs="${1:-300}"
for t in decap parse; do
    mkdir -p "corpus/$t"
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1
done
