#!/usr/bin/env bash
# Side by side, in one run on one machine (hyperfine, no shell, medians):
#   envyro run embedded (default and strict) and through a running envyro-supervisor (strict,
#   with memory/pids/cpu limits), crun run (default bundle, and with the same limits and a
#   ~300-rule seccomp profile), bwrap --unshare-all, and fork+exec of /bin/true.
# Installs crun, bubblewrap and hyperfine if missing. Run as root (crun is measured as root).
# Usage: bench/compare.sh [RUNS]      ENVYRO_BIN=dir-with-release-binaries ENVYRO_FRONT=envyro
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100}
BIN=$(cd "${ENVYRO_BIN:-.build-static/release}" && pwd)
# The front binary (`envyro`; make builds it non-PIE in .build-cli); it execs envyro-cli for
# anything but a daemon run.
CLI=$(realpath "${ENVYRO_FRONT:-$BIN/envyro}")
export ENVYRO_CLI="$BIN/envyro-cli"
need=""; for p in crun bubblewrap hyperfine; do dpkg -s $p >/dev/null 2>&1 || need="$need $p"; done
[ -z "$need" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need; }

work=$(mktemp -d /tmp/envyro-bench.XXXXXX)
sup=""
cleanup() { [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# crun bundles whose rootfs holds a static /bin/true.
mkdir -p "$work/bundle/rootfs/bin"
printf 'int main(void){return 0;}\n' > "$work/true.c"
gcc -static -O2 -o "$work/bundle/rootfs/bin/true" "$work/true.c"
(cd "$work/bundle" && crun spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
cp -r "$work/bundle" "$work/limited"
python3 - "$work/limited/config.json" policy/seccomp/default.json <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1])); prof = json.load(open(sys.argv[2]))
names = sorted({n for r in prof["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]})
cfg["linux"]["resources"] = {"memory": {"limit": 268435456}, "pids": {"limit": 128}, "cpu": {"quota": 50000, "period": 100000}}
cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"],
                           "syscalls": [{"names": [n], "action": "SCMP_ACT_ALLOW"} for n in names]}
json.dump(cfg, open(sys.argv[1], "w"))
print(f"crun limited bundle: {len(names)} seccomp rules", file=sys.stderr)
PY
touch "$work/empty"

# A supervisor under strict, on a private socket.
mkdir -m 0700 "$work/sup"
"$BIN/envyro-supervisor" --policy strict --socket "$work/sup/s.sock" --pool 2 2>"$work/sup.log" &
sup=$!
for _ in $(seq 100); do [ -S "$work/sup/s.sock" ] && break; sleep 0.05; done
LIMITS="--memory 256M --pids-limit 128 --cpus 0.5"

# crun 1.8 refuses the hybrid cgroup layout here; in a private mount namespace, hiding the
# unified hierarchy's controllers makes it use v1 (shared/SWIFT-LINUX.md). Every tool runs in
# that same namespace.
unshare -m --propagation private bash -s "$work" "$BIN" "$RUNS" "$LIMITS" "$CLI" <<'INNER'
set -euo pipefail
work=$1; BIN=$2; RUNS=$3; LIMITS=$4; CLI=$5
mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers
# What a user gets with nothing set up: `envyro run` (--supervisor auto) starts a supervisor on
# first use (a warm-up run) and the measured runs go through it. A private runtime directory:
# only this benchmark's.
mkdir -m 0700 "$work/xdg"
export XDG_RUNTIME_DIR="$work/xdg"
hyperfine -N --warmup 10 --runs "$RUNS" --export-json "$work/result.json" \
  -n "envyro run via supervisor (strict + limits)" "$CLI run --supervisor $work/sup/s.sock $LIMITS -- /bin/true" \
  -n "envyro run, runs after the first (auto-started supervisor, default)" "$CLI run -- /bin/true" \
  -n "envyro run embedded (strict + limits)" "$CLI run --supervisor never --policy strict $LIMITS -- /bin/true" \
  -n "envyro run embedded (default)" "$CLI run --supervisor never -- /bin/true" \
  -n "crun run (limits + seccomp)" "bash -c 'crun run -b $work/limited l\$\$'" \
  -n "crun run (default bundle)" "bash -c 'crun run -b $work/bundle b\$\$'" \
  -n "bwrap --unshare-all" "bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc /etc --tmpfs /tmp --proc /proc --dev /dev /bin/true" \
  -n "bash -c exit (shell start, subtract from crun rows)" "bash -c exit" \
  -n "fork+exec /bin/true" "/bin/true" \
  >/dev/null
python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] * 1000 for x in json.load(open(sys.argv[1]))["results"]}
print("median ms (crun rows include starting bash, shown separately):")
for k, v in r.items(): print(f"  {k:52s} {v:8.3f}")
crun = r["crun run (limits + seccomp)"] - r["bash -c exit (shell start, subtract from crun rows)"]
sup = r["envyro run via supervisor (strict + limits)"]
print(f"  crun (limits + seccomp) without bash: {crun:.3f} ms")
print(f"  envyro via supervisor / crun: {sup / crun:.2f}x   (goal: <= 0.35x)")
print(f"  envyro via supervisor / bwrap: {sup / r['bwrap --unshare-all']:.2f}x")
plain = r["crun run (default bundle)"] - r["bash -c exit (shell start, subtract from crun rows)"]
auto = r["envyro run, runs after the first (auto-started supervisor, default)"]
first = r["envyro run embedded (default)"]
print(f"  crun (default bundle) without bash: {plain:.3f} ms")
print(f"  first run, no supervisor (embedded) / crun: {first / plain:.2f}x   (goal: <= 1.0x)")
print(f"  later runs, auto-started supervisor / crun: {auto / plain:.2f}x   (goal: <= 0.3x)")
PY
# The supervisor the auto row started: ours, ended by its pid (from its policy snapshot's name).
for f in "$work"/xdg/envyro/policy-*.json; do [ -e "$f" ] && p=${f##*policy-} && kill -TERM "${p%.json}" 2>/dev/null; done
sleep 0.5
INNER
# The kernel tears down the hundreds of namespaces crun, bwrap and the embedded runs made in a
# worker, after they exit; let it finish so the next figures measure only themselves.
sleep 3
echo "socket API, one connection, strict + limits:"
"$BIN/envyro-cli" bench --supervisor "$work/sup/s.sock" --starts 300 --spec memory=256M pidsLimit=128 cpus=0.5
echo "crun back to back (one stream, limits + seccomp, 100 starts from one shell):"
unshare -m --propagation private bash -c "mount --bind $work/empty /sys/fs/cgroup/unified/cgroup.controllers
  s=\$(date +%s%N); for i in \$(seq 100); do crun run -b $work/limited r\$i; done; e=\$(date +%s%N)
  echo \"  \$(( 100 * 1000000000 / (e - s) )) starts/s\""
"$BIN/envyro-cli" stats --supervisor "$work/sup/s.sock" | tail -3
