#!/usr/bin/env bash
# Side-by-side start-up of `envyro run -- /bin/true` against crun and bubblewrap, in one run on
# one machine (hyperfine, no shell, medians). Installs crun, bubblewrap and hyperfine if missing.
# Usage: bench/compare.sh [RUNS]   (run as root; crun is measured as root)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100}
BIN=${ENVYRO_BIN:-.build/release}
need=""; for p in crun bubblewrap hyperfine; do dpkg -s $p >/dev/null 2>&1 || need="$need $p"; done
[ -z "$need" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need; }

work=$(mktemp -d /tmp/envyro-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# A crun bundle whose rootfs holds a static /bin/true.
mkdir -p "$work/bundle/rootfs/bin"
printf 'int main(void){return 0;}\n' > "$work/true.c"
gcc -static -O2 -o "$work/bundle/rootfs/bin/true" "$work/true.c"
(cd "$work/bundle" && crun spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
touch "$work/empty"

# crun 1.8 refuses the hybrid cgroup layout here; in a private mount namespace, hiding the
# unified hierarchy's controllers makes it use v1 (shared/SWIFT-LINUX.md). All three tools run
# in that same namespace.
unshare -m --propagation private bash -s "$work" "$BIN" "$RUNS" <<'INNER'
set -euo pipefail
work=$1; BIN=$2; RUNS=$3
mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers
i=0
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$work/result.json" \
  -n "envyro run (default policy)" "$BIN/envyro run -- /bin/true" \
  -n "envyro run (strict policy)" "$BIN/envyro run --policy strict -- /bin/true" \
  -n "bwrap --unshare-all" "bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc /etc --tmpfs /tmp --proc /proc --dev /dev /bin/true" \
  -n "crun run" "bash -c 'crun run -b $work/bundle b\$\$'" \
  -n "fork+exec /bin/true" "/bin/true" \
  2>&1 | grep -vE "^\s*$"
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
med = {x["command"]: x["median"] * 1000 for x in r}
print("\nmedian ms:")
for k, v in med.items(): print(f"  {k:32s} {v:8.3f}")
e = med["envyro run (default policy)"]
print(f"  envyro/crun ratio {e/med['crun run']:.2f}, envyro/bwrap ratio {e/med['bwrap --unshare-all']:.2f}")
PY
INNER
