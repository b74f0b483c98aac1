#!/usr/bin/env bash
# Side by side, in one interleaved run (bench/interleave.py: round by round, every row once per
# round, so load on this shared 2-core machine slows every row alike), medians:
#   envyro run: the first run (no supervisor: embedded), the runs after it (the supervisor it
#     auto-starts), through a strict supervisor with limits, embedded strict with limits;
#   envyro as an OCI runtime (`envyro-runc`, what podman and containerd call): `run`, and the
#     engines' sequence create + start + state + delete, on a default bundle and on one with
#     limits and a ~400-rule seccomp profile;
#   crun, runc and bwrap doing the same; and the same rows rootless (as ENVYRO_BENCH_USER).
# Then throughput through one supervisor: one connection, and two connections at once.
# Installs crun, runc, bubblewrap if missing. Run as root (crun and runc are measured as root;
# rootless rows run as the user, created if missing).
# Usage: bench/compare.sh [ROUNDS]      ENVYRO_BIN=dir-with-release-binaries
#   ENVYRO_BENCH_NICE=-20 (default, as root): every row runs at that nice level, ahead of other
#   work on the machine. Not a real-time class: a cpu cgroup with a CFS quota refuses RT tasks,
#   which would fail every row with --cpus.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-100}
SRC=$(cd "${ENVYRO_BIN:-.build-static/release}" && pwd)
BUSER=${ENVYRO_BENCH_USER:-envyrotest}
NICE=${ENVYRO_BENCH_NICE:--20}
need=""; for p in crun runc bubblewrap; do dpkg -s $p >/dev/null 2>&1 || need="$need $p"; done
[ -z "$need" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need; }
id "$BUSER" >/dev/null 2>&1 || useradd -m "$BUSER"

work=$(mktemp -d /tmp/envyro-bench.XXXXXX)
chmod 0711 "$work"
sup=""
cleanup() {
  [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
  # The supervisors the auto rows started: ours, ended by pid (from their policy snapshots).
  for f in "$work"/xdg*/envyro/policy-*.json; do [ -e "$f" ] && p=${f##*policy-} && kill -TERM "${p%.json}" 2>/dev/null; done
  sleep 0.3; rm -rf "$work"
}
trap cleanup EXIT

# The binaries and policies where the user can run them (root-owned, as installed).
mkdir -p "$work/bin"
for b in envyro envyro-cli envyro-nshelper envyro-supervisor envyro-ioworker; do cp "$SRC/$b" "$work/bin/"; done
ln -s envyro "$work/bin/envyro-runc"
cp -r policy "$work/policy"
BIN=$work/bin
export ENVYRO_CLI=$BIN/envyro-cli

# Bundles whose rootfs holds a static /bin/true: crun's default spec, the same with limits and
# the default seccomp profile's allow list as a bundle profile, and a rootless spec for the user.
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
print(f"limited bundle: {len(names)} seccomp rules", file=sys.stderr)
PY
mkdir -p "$work/rootless/rootfs/bin"
cp "$work/bundle/rootfs/bin/true" "$work/rootless/rootfs/bin/"
(cd "$work/rootless" && crun spec --rootless && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
touch "$work/empty"
mkdir -m 0700 "$work/xdg" "$work/xdg-user" "$work/home-user"
chown -R "$BUSER": "$work/rootless" "$work/xdg-user" "$work/home-user"
export ENVYRO_BENCH_HOME_$BUSER="$work/home-user" ENVYRO_BENCH_XDG_$BUSER="$work/xdg-user"

# Sequences as one row each (a shell runs them; the shell's own start is the "sh -c" row's).
cat > "$work/seq.sh" <<'SH'
#!/bin/sh
# The engines' sequence on bundle $2 with runtime $1: create, start, state, delete.
id=s$$
"$1" create -b "$2" "$id" >/dev/null && "$1" start "$id" && "$1" state "$id" >/dev/null && "$1" delete -f "$id"
SH
cat > "$work/run.sh" <<'SH'
#!/bin/sh
# `RUNTIME run -b BUNDLE ID` with a fresh id ($3: extra global flags).
exec "$1" $3 run -b "$2" r$$
SH
chmod 0755 "$work/seq.sh" "$work/run.sh"

# A supervisor under strict, on a private socket.
mkdir -m 0700 "$work/sup"
nice -n "$NICE" "$BIN/envyro-supervisor" --policy strict --socket "$work/sup/s.sock" --pool 2 2>"$work/sup.log" &
sup=$!
for _ in $(seq 100); do [ -S "$work/sup/s.sock" ] && break; sleep 0.05; done
LIMITS="--memory 256M --pids-limit 128 --cpus 0.5"
unset ENVYRO_AUTO_SUPERVISOR

# crun 1.8 refuses the hybrid cgroup layout here; in a private mount namespace, hiding the
# unified hierarchy's controllers makes it use v1 (shared/SWIFT-LINUX.md). Every row runs in
# that same namespace.
# A rootless row runs as the user through setpriv, with HOME and XDG_RUNTIME_DIR set by
# interleave.py (ENVYRO_BENCH_XDG_<user>), so it costs one exec more than root's, and the
# "rootless: spawn" row measures that exec. No `env VAR=...` in front of a command: that would
# be one more exec (0.7-0.8 ms here) which no baseline subtracts; it made rootless later runs
# look 1.55-1.74x root's when they were 1.1-1.3x.
U="@$BUSER"
nice -n "$NICE" unshare -m --propagation private bash -s <<INNER
set -euo pipefail
mount --bind "$work/empty" /sys/fs/cgroup/unified/cgroup.controllers
# The auto rows measure the runs after the first: one run first starts their supervisors.
XDG_RUNTIME_DIR=$work/xdg "$BIN/envyro" run -- /bin/true
python3 bench/interleave.py 1 "$work/warm.json" warm "$U $BIN/envyro run -- /bin/true"
sleep 0.5
export XDG_RUNTIME_DIR=$work/xdg
python3 bench/interleave.py "$ROUNDS" "$work/result.json" \
  "envyro run via supervisor (strict + limits)" "$BIN/envyro run --supervisor $work/sup/s.sock $LIMITS -- /bin/true" \
  "envyro run, later runs (auto supervisor)" "$BIN/envyro run -- /bin/true" \
  "envyro run, first run (no supervisor)" "$BIN/envyro run --supervisor never -- /bin/true" \
  "envyro run, first run, strict + limits" "$BIN/envyro run --supervisor never --policy strict $LIMITS -- /bin/true" \
  "envyro-runc run (OCI)" "$work/run.sh $BIN/envyro-runc $work/bundle" \
  "envyro-runc run (OCI, limits + seccomp)" "$work/run.sh $BIN/envyro-runc $work/limited" \
  "envyro-runc create+start+state+delete" "$work/seq.sh $BIN/envyro-runc $work/bundle" \
  "envyro-runc sequence (limits + seccomp)" "$work/seq.sh $BIN/envyro-runc $work/limited" \
  "crun run" "$work/run.sh crun $work/bundle" \
  "crun run (limits + seccomp)" "$work/run.sh crun $work/limited" \
  "crun create+start+state+delete" "$work/seq.sh crun $work/bundle" \
  "crun sequence (limits + seccomp)" "$work/seq.sh crun $work/limited" \
  "runc run" "$work/run.sh runc $work/bundle" \
  "bwrap --unshare-all" "bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc /etc --tmpfs /tmp --proc /proc --dev /dev /bin/true" \
  "rootless: envyro run, first run" "$U $BIN/envyro run --supervisor never -- /bin/true" \
  "rootless: envyro run, later runs (auto)" "$U $BIN/envyro run -- /bin/true" \
  "rootless: crun run" "$U $work/run.sh crun $work/rootless" \
  "rootless: bwrap --unshare-all" "$U bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin --ro-bind /etc /etc --tmpfs /tmp --proc /proc --dev /dev /bin/true" \
  "sh -c exit (a shell's start: the run.sh/seq.sh rows include one)" "sh -c exit" \
  "spawn /bin/true (every row's own spawn and exec)" "/bin/true" \
  "rootless: spawn /bin/true (through setpriv)" "$U /bin/true"
INNER
python3 - "$work/result.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = {k: v["median"] for k, v in r.items()}
print("median ms, as spawned (each row includes its own spawn and exec; run.sh/seq.sh rows a shell's start too):")
for k, v in r.items():
    med = "failed" if v["median"] is None else f"{v['median']:8.3f}"
    fail = f"   ({v['failures']} failed)" if v["failures"] else ""
    print(f"  {k:58s} {med}{fail}")
# A row's own time: its median less its spawn baseline (root's or, through setpriv, the user's)
# and, for the rows a script runs, a shell's start.
sh = m["sh -c exit (a shell's start: the run.sh/seq.sh rows include one)"] - m["spawn /bin/true (every row's own spawn and exec)"]
def own(k):
    if m.get(k) is None: return None
    base = m["rootless: spawn /bin/true (through setpriv)"] if k.startswith("rootless") else m["spawn /bin/true (every row's own spawn and exec)"]
    scripted = k.startswith(("envyro-runc", "crun", "runc", "rootless: crun"))
    return m[k] - base - (sh if scripted else 0)
print("each row's own time (ms; less its spawn, and the shell where a script runs it):")
for k in r:
    if k.startswith(("sh -c", "spawn", "rootless: spawn")): continue
    o = own(k); print(f"  {k:58s} {'failed' if o is None else f'{o:8.3f}'}")
def ratio(a, b, label, goal):
    x, y = own(a), own(b)
    if x is None or y is None: print(f"  {label}: n/a (a row failed)"); return
    print(f"  {label:62s} {x / y:5.2f}x   (goal: {goal})")
print("ratios of own times:")
ratio("envyro run, first run (no supervisor)", "crun run", "first run, no supervisor / crun run", "<= 1.0x")
ratio("envyro run, later runs (auto supervisor)", "crun run", "later runs (auto supervisor) / crun run", "<= 0.3x")
ratio("envyro run via supervisor (strict + limits)", "crun run (limits + seccomp)", "supervisor, strict + limits / crun with limits + seccomp", "<= 0.35x")
ratio("envyro run, first run, strict + limits", "crun run (limits + seccomp)", "first run, strict + limits / crun with limits + seccomp", "<= 1.0x")
ratio("envyro-runc run (OCI)", "crun run", "OCI run / crun run", "<= 0.8x")
ratio("envyro-runc run (OCI, limits + seccomp)", "crun run (limits + seccomp)", "OCI run, limits + seccomp / crun", "<= 0.8x")
ratio("envyro-runc create+start+state+delete", "crun create+start+state+delete", "OCI create+start+state+delete / crun's", "< 1.0x")
ratio("envyro-runc sequence (limits + seccomp)", "crun sequence (limits + seccomp)", "OCI sequence, limits + seccomp / crun's", "< 1.0x")
ratio("envyro run via supervisor (strict + limits)", "bwrap --unshare-all", "supervisor, strict + limits / bwrap", "< 1.0x")
ratio("rootless: envyro run, first run", "rootless: crun run", "rootless first run / rootless crun", "<= 1.0x")
ratio("rootless: envyro run, later runs (auto)", "rootless: crun run", "rootless later runs / rootless crun", "<= 0.3x")
ratio("rootless: envyro run, later runs (auto)", "envyro run, later runs (auto supervisor)", "rootless later runs / root's later runs", "<= 1.2x")
PY
# The kernel tears down the namespaces the rows made in a worker after they exit; let it finish
# so the throughput figures measure only themselves.
sleep 3
echo "throughput through the strict supervisor, limits, /bin/true (socket API):"
# Three rounds, each one connection, then two at once, then crun back to back, so a slow
# stretch of the machine hits every figure alike; the medians and each round's ratio are shown.
bench_one() { nice -n "$NICE" "$BIN/envyro-cli" bench --supervisor "$work/sup/s.sock" --starts 300 --spec memory=256M pidsLimit=128 cpus=0.5 --json > "$1"; }
for round in 1 2 3; do
  bench_one "$work/one-$round.json"
  ( bench_one "$work/two-a-$round.json" ) &
  a=$!
  bench_one "$work/two-b-$round.json"
  wait $a
  nice -n "$NICE" unshare -m --propagation private bash -c "mount --bind $work/empty /sys/fs/cgroup/unified/cgroup.controllers
    s=\$(date +%s%N); for i in \$(seq 100); do crun run -b $work/limited t$round-\$i; done; e=\$(date +%s%N)
    echo \$(( 100 * 1000000000 / (e - s) ))" > "$work/crun-$round.txt"
done
python3 - "$work" <<'PY'
import json, statistics, sys
w = sys.argv[1]; k = "supervisor_starts_per_second"
load = lambda f: json.load(open(f"{w}/{f}"))
one = [load(f"one-{r}.json") for r in (1, 2, 3)]
two = [load(f"two-a-{r}.json")[k] + load(f"two-b-{r}.json")[k] for r in (1, 2, 3)]
crun = [float(open(f"{w}/crun-{r}.txt").read()) for r in (1, 2, 3)]
rates = [o[k] for o in one]
m1, m2, mc = statistics.median(rates), statistics.median(two), statistics.median(crun)
fmt = lambda xs: " ".join(f"{x:.0f}" for x in xs)
print(f"  one connection: {m1:.0f} starts/s (rounds: {fmt(rates)}), median start {statistics.median(o['supervisor_start_median_ms'] for o in one):.2f} ms")
print(f"  two connections at once: {m2:.0f} starts/s (rounds: {fmt(two)})")
print(f"  crun back to back from one shell (limits + seccomp): {mc:.0f} starts/s (rounds: {fmt(crun)})")
print(f"  one connection / crun: {m1 / mc:.1f}x, by round {' '.join(f'{a / c:.1f}' for a, c in zip(rates, crun))}   (goal: >= 5x)")
print(f"  two connections / one: {m2 / m1:.2f}x, by round {' '.join(f'{b / a:.2f}' for a, b in zip(rates, two))}   (goal: >= 1.7x)")
PY
"$BIN/envyro-cli" stats --supervisor "$work/sup/s.sock" | tail -3
