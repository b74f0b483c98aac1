#!/bin/sh
# The load and fault test (issue 14): two ordinary users, each with their own envyro-supervisor,
# and a root supervisor, each driven by envyro-load with CONCURRENCY runs in flight for SECONDS;
# meanwhile each driver kills -9 a helper, the I/O worker and its supervisor once (and restarts
# the supervisor). Every driver then checks for leaked processes, cgroups, mounts, netns,
# sockets, temp files and zombies, and verifies its audit chain; this script prints the figures.
#
#   sudo tests/load/run-load.sh BIN_DIR [CONCURRENCY] [SECONDS] [USERS_ONLY]
#
# Run as root (it creates the users envyroload1 and envyroload2, delegates each a cgroup subtree
# with `envyro setup`, and removes both afterwards). BIN_DIR holds the built binaries
# (.build/debug, or .build-static/release for figures). Exit status 0: no failure that an
# injected fault doesn't explain, nothing leaked, every audit chain verifies.
set -u
BIN=$(cd "${1:?usage: run-load.sh BIN_DIR [CONCURRENCY] [SECONDS] [USERS_ONLY]}" && pwd)
N=${2:-100}
SECONDS_=${3:-180}
USERS_ONLY=${4:-}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run-load.sh: run as root (it creates two users)" >&2; exit 77; }

# A private copy of the binaries and policies that the users can run (the checkout may be
# under a directory they can't read); removed at the end.
WORK=$(mktemp -d /var/tmp/envyro-load.XXXXXX)
chmod 0755 "$WORK"
mkdir -p "$WORK/bin" "$WORK/rootpolicy"
for b in envyro envyro-cli envyro-supervisor envyro-nshelper envyro-ioworker envyro-load; do cp "$BIN/$b" "$WORK/bin/"; done
cp -r "$REPO/policy" "$WORK/policy"
chmod -R a+rX "$WORK/bin" "$WORK/policy"

# Root's runs write their own audit log (the shared /var/log/envyro/audit.jsonl belongs to other
# tests): a copy of strict with its own audit path and an absolute seccomp profile path.
sed -e "s|\"path\": \"auto\"|\"path\": \"$WORK/root-audit.jsonl\"|" \
    -e "s|\"profile\": \"seccomp/strict.json\"|\"profile\": \"$WORK/policy/seccomp/strict.json\"|" \
    "$REPO/policy/strict.json" > "$WORK/rootpolicy/strict-load.json"
chmod 0644 "$WORK/rootpolicy/strict-load.json"

USERS="envyroload1 envyroload2"
cleanup() {
    for u in $USERS; do
        if id -u "$u" >/dev/null 2>&1; then
            uid=$(id -u "$u")
            for d in /sys/fs/cgroup/*/envyro/u"$uid" /sys/fs/cgroup/unified/envyro/u"$uid"; do
                [ -d "$d" ] && rmdir "$d" 2>/dev/null
            done
            userdel -r "$u" >/dev/null 2>&1
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

for u in $USERS; do
    id -u "$u" >/dev/null 2>&1 || useradd -m -s /bin/sh "$u" || exit 1
    "$WORK/bin/envyro" setup --user "$u" >/dev/null || { echo "envyro setup --user $u failed" >&2; exit 1; }
done

# Faults spread over the run: a helper at 20%, the I/O worker at 40%, the supervisor at 60%.
F1=$(awk "BEGIN{print $SECONDS_*0.2}"); F2=$(awk "BEGIN{print $SECONDS_*0.4}"); F3=$(awk "BEGIN{print $SECONDS_*0.6}")
FAULTS="--fault helper@$F1 --fault ioworker@$F2 --fault supervisor@$F3"

pids=""
for u in $USERS; do
    home=$(getent passwd "$u" | cut -d: -f6)
    runuser -u "$u" -- env -i PATH=/usr/bin:/bin HOME="$home" XDG_RUNTIME_DIR="$home/.run" \
        "$WORK/bin/envyro-load" --bin "$WORK/bin" --work "$home/load" --policy strict --concurrency "$N" \
        --seconds "$SECONDS_" $FAULTS --audit "$home/.local/state/envyro/audit.jsonl" \
        --json "$home/load.json" --label "$u" > "$WORK/$u.out" 2>&1 &
    pids="$pids $!"
done
if [ -z "$USERS_ONLY" ]; then
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        "$WORK/bin/envyro-load" --bin "$WORK/bin" --work "$WORK/root" --policy "$WORK/rootpolicy/strict-load.json" \
        --concurrency "$N" --seconds "$SECONDS_" $FAULTS --audit "$WORK/root-audit.jsonl" \
        --json "$WORK/root.json" --label root > "$WORK/root.out" 2>&1 &
    pids="$pids $!"
fi
status=0
for p in $pids; do wait "$p" || status=1; done

for u in $USERS; do cat "$WORK/$u.out"; echo; done
[ -z "$USERS_ONLY" ] && cat "$WORK/root.out"
echo
if [ $status = 0 ]; then echo "load test: PASS"; else echo "load test: FAIL"; fi
exit $status
