#!/bin/bash
# Drives a runc-compatible OCI runtime through the real engines: podman (+ conmon), rootful and
# rootless, and containerd (ctr + the io.containerd.runc.v2 shim).
#
#   tests/engines/engines.sh [--trace DIR] RUNTIME_PATH [case|group ...]
#
# Groups: podman, ctr, cri, rootless, rootless-ctr (default: all five). Cases: see `--list`.
# Prints `PASS name`, `FAIL name: why` (details indented below) or `SKIP name: reason`, and exits 1
# if any case failed. Needs root (it runs the rootless cases through `runuser`).
#
# Everything lives under one private directory (removed at the end): the podman stores, a private
# containerd (its own config, root, state and socket), the busybox image, the runtime's state
# directories. The whole run is in a private mount namespace, in which:
#   - an empty file is bound over /sys/fs/cgroup/unified/cgroup.controllers (crun 1.8 refuses
#     this host's hybrid cgroup layout otherwise; the v1 hierarchies are used),
#   - /dev/shm (podman's lock file), /run (the shims' sockets under /run/containerd, the
#     runtimes' default --root: /run/crun, /run/containerd/runc/NS), /tmp (conmon's console
#     sockets; a runtime installed under /tmp is bound back) and /var/lib/containers (podman's
#     blob-info cache) are private tmpfs, and TMPDIR is private too,
# so nothing lands on the host but the containers' cgroups, which are all under one top-level
# name of this run (/envyro-engines-PID) and removed at the end.
#
# --trace DIR runs the runtime through a wrapper that logs every call (argv, cwd, uid map, stdio)
# and writes DIR/<runtime>-calls.txt plus the first config.json each engine passed:
# DIR/podman-config.json, DIR/podman-rootless-config.json, DIR/ctr-config.json.
set -euo pipefail

usage() { echo "usage: $0 [--trace DIR] RUNTIME_PATH [podman|ctr|cri|rootless|rootless-ctr|CASE ...]" >&2; exit 2; }

PODMAN_CASES=(true exit-code missing-command stdin tty hostname lifecycle limits rm exec stop kill pause stats top cp)
CTR_CASES=(ctr-true ctr-exit-code ctr-lifecycle)
CRI_CASES=(cri-run cri-exec cri-stop)

TRACE_OUT=""
if [ "${1:-}" = "--list" ]; then
  for c in "${PODMAN_CASES[@]}"; do echo "podman-$c"; done
  for c in "${CTR_CASES[@]}"; do echo "$c"; done
  for c in "${PODMAN_CASES[@]}"; do echo "rootless-$c"; done
  for c in "${CTR_CASES[@]}"; do echo "rootless-$c"; done
  for c in "${CRI_CASES[@]}"; do echo "$c"; done
  exit 0
fi
if [ "${1:-}" = "--trace" ]; then TRACE_OUT=$(realpath -m "${2:?}"); shift 2; fi
[ $# -ge 1 ] || usage
RUNTIME=$1; shift
case "$RUNTIME" in /*) ;; *) RUNTIME=$(realpath -m "$RUNTIME") ;; esac

if [ "$(id -u)" != 0 ]; then echo "SKIP all: needs root (podman rootful, containerd, runuser)"; exit 0; fi

# ---------------------------------------------------------------------------------------------
# Outside: re-run in a private mount namespace; create (and afterwards remove) the mount points
# that did not exist on the host.
if [ "${ENGINES_IN_NS:-}" != 1 ]; then
  made=()
  for d in /var/lib/containers; do
    if [ ! -d "$d" ]; then mkdir -p "$d"; made+=("$d"); fi
  done
  rc=0
  ENGINES_TOP="envyro-engines-$$"
  ENGINES_IN_NS=1 ENGINES_TOP=$ENGINES_TOP unshare --mount --propagation private -- \
    "$0" ${TRACE_OUT:+--trace "$TRACE_OUT"} "$RUNTIME" "$@" || rc=$?
  for d in "${made[@]}"; do rmdir "$d" 2>/dev/null || true; done
  # The containers' cgroups (normally gone already: the inner cleanup removes them).
  for c in /sys/fs/cgroup/*/"$ENGINES_TOP"; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  exit $rc
fi

# ---------------------------------------------------------------------------------------------
# Inside the private mount namespace.
export LANG=C LC_ALL=C
# Close the fds this script inherited beyond stdio (so the trace shows only what engines pass).
for fd in /proc/$$/fd/*; do
  fd=${fd##*/}
  case "$fd" in 0|1|2|255) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
done
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
TOP=${ENGINES_TOP:-envyro-engines-$$}
USER_NAME=${ENGINES_USER:-envyrotest}
IMG=localhost/envyro-busybox:test
T=${ENGINES_TIMEOUT:-30}          # seconds for any one engine command
D=$(mktemp -d "${ENGINES_TMPDIR:-/var/tmp}/envyro-engines.XXXXXX")
chmod 0711 "$D"
# The CRI client, copied before /tmp (where the checkout may be) is made private.
mkdir -p "$D/bin"; cp "$(dirname "$(realpath "$0")")/cri.py" "$D/bin/cri.py"; chmod 0755 "$D/bin" "$D/bin/cri.py"
# Temporary files of the engines too (the shim's exec process.json, podman's image copies).
mkdir -m 1777 "$D/tmp"; chmod 1777 "$D/tmp"
export TMPDIR=$D/tmp
CTD_PID=""
failed=0 passed=0 skipped=0

say() { echo "$*"; }

cleanup() {
  set +e
  cleanup_cri
  cleanup_ctr root
  cleanup_ctr user
  cleanup_podman root
  cleanup_podman user
  # Processes that are ours by construction: started with our marker in their environment
  # (every engine command, conmon, shims, runtime calls), or whose root or command line is in our
  # private directory (containers, conmon). This script's own processes have neither.
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    if tr '\0' '\n' 2>/dev/null < "$p/environ" | grep -qxF "ENGINES_MARK=$D" ||
       { readlink "$p/root" 2>/dev/null; tr '\0' ' ' 2>/dev/null < "$p/cmdline"; } | grep -qF -- "$D/"; then
      kill -9 "$pid" 2>/dev/null
    fi
  done
  # Kill anything left in our cgroups (ours by construction), then remove them, deepest first.
  for c in /sys/fs/cgroup/*/"$TOP"; do
    [ -d "$c" ] || continue
    find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null; done
  done
  sleep 0.2
  for c in /sys/fs/cgroup/*/"$TOP"; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  # Unmount whatever the engines left mounted under D (podman's shm mounts), then remove it.
  awk -v d="$D/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
  if awk -v d="$D/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    echo "engines.sh: mounts remain under $D: not removing it" >&2
  else
    rm -rf --one-file-system "$D"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---------------------------------------------------------------------------------------------
# Private mounts.
: > "$D/empty"
if [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
  mount --bind "$D/empty" /sys/fs/cgroup/unified/cgroup.controllers
fi
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib/containers
# A private /tmp too: conmon puts its console sockets there whatever TMPDIR says, and leaves them
# when the runtime fails. A runtime installed under /tmp stays visible (its top directory).
mkdir -p "$D/host-tmp"
mount --bind /tmp "$D/host-tmp"
mount -t tmpfs -o mode=1777 tmpfs /tmp
case "$RUNTIME" in
  /tmp/*/*) top=${RUNTIME#/tmp/}; top=${top%%/*}; mkdir -p "/tmp/$top"; mount --bind "$D/host-tmp/$top" "/tmp/$top" ;;
  /tmp/*) : > "/tmp/${RUNTIME#/tmp/}"; mount --bind "$D/host-tmp/${RUNTIME#/tmp/}" "$RUNTIME" ;;
esac
# The host's /tmp must not stay reachable under D (the cleanup removes D).
umount "$D/host-tmp"
rmdir "$D/host-tmp"
# Shared within this namespace only (rootless podman warns when / is not shared).
mount --make-rshared /
# The working directory may have been under the host's /tmp (a clone there): work from D, which
# every engine and user can reach.
cd "$D"

# ---------------------------------------------------------------------------------------------
# The runtime the engines call: the real one, or the tracing wrapper (named like the runtime:
# podman passes --log/--log-format only to a runtime whose name is crun).
RT=$RUNTIME
mkdir -p "$D/bin" "$D/configs"
chmod 0755 "$D/bin"; chmod 1777 "$D/configs"
echo setup > "$D/section"; chmod 0644 "$D/section"
if [ -n "$TRACE_OUT" ]; then
  RT="$D/bin/$(basename "$RUNTIME")"
  : > "$D/calls.log"; chmod 0666 "$D/calls.log"
  cat > "$RT" <<EOF
#!/bin/bash
# Logs the call, keeps the first config.json of a create/run per scenario, then execs the runtime.
real='$RUNTIME'; log='$D/calls.log'; section=\$(cat '$D/section' 2>/dev/null)
# The caller's fds (not the pipe of this command substitution, nor bash's script fd 255).
fds() { local f l out="" me=\$BASHPID self; self=\$(readlink /proc/\$me/fd/1)
  for f in /proc/\$\$/fd/*; do l=\$(readlink "\$f"); f=\${f##*/}; [ "\$f" = 255 ] || [ "\$l" = "\$self" ] && continue
  out+=" \$f=\$(sed -E 's/[0-9]{3,}/N/g' <<< "\$l")"; done; echo "\$out"; }
fdinfo=\$(fds)
uidmap=\$(awk '{printf "%s%s:%s:%s", (NR > 1 ? "," : ""), \$1, \$2, \$3}' /proc/self/uid_map)
sub=""; bundle=""; prev=""
for a in "\$@"; do
  case "\$prev" in --bundle|-b) bundle=\$a ;; esac
  if [ -z "\$sub" ]; then
    case "\$prev" in --root|--log|--log-format|--criu) prev=""; continue ;; esac
    case "\$a" in -*) ;; *) sub=\$a ;; esac
  fi
  case "\$a" in --bundle=*) bundle=\${a#--bundle=} ;; esac
  prev=\$a
done
envinfo=\$(env | grep -E '^(NOTIFY_SOCKET|_OCI_[A-Z]*|XDG_RUNTIME_DIR|LISTEN_[A-Z]*|_CONTAINERS_[A-Z_]*|HOME)=' | sort | tr '\n' ' ')
{ printf '[%s] uid_map=%s cwd=%s fds:%s env: %s\n  %q' "\$section" "\$uidmap" "\$PWD" "\$fdinfo" "\$envinfo" "\$(basename "\$real")"
  printf ' %q' "\$@"; printf '\n'; } >> "\$log"
if [ "\$sub" = create ] || [ "\$sub" = run ]; then
  [ -n "\$bundle" ] || bundle=\$PWD
  [ -e '$D/configs/'"\$section.json" ] || cp "\$bundle/config.json" '$D/configs/'"\$section.json" 2>/dev/null
fi
exec "\$real" "\$@"
EOF
  chmod 0755 "$RT"
fi

section() { echo "$1" > "$D/section"; [ -z "$TRACE_OUT" ] || printf '\n## %s\n' "$1" >> "$D/calls.log"; }

# ---------------------------------------------------------------------------------------------
# The image: busybox-static with its applets as links, a minimal /etc/passwd and /etc/group.
make_rootfs() {
  local r=$D/rootfs
  mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp,root}
  cp /bin/busybox "$r/bin/busybox"
  local a
  for a in $("$r/bin/busybox" --list); do [ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
  chmod 1777 "$r/tmp"
  tar -C "$r" --numeric-owner --owner=0 --group=0 -cf "$D/rootfs.tar" .
  chmod 0644 "$D/rootfs.tar"
}

# ---------------------------------------------------------------------------------------------
# podman, as root or as the ordinary user. P is the podman command, RUNF the `run` flags.
P=() RUNF=() MODE=""
podman_env() {   # podman_env root|user
  MODE=$1
  local base=$D/$1
  if [ "$1" = root ]; then
    mkdir -p "$base/net"
    P=(timeout -k 5 "$T" env "ENGINES_MARK=$D" "CONTAINERS_CONF=$D/containers.conf" podman)
    RUNF=(--network=none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 --cgroup-parent "/$TOP/podman")
  else
    local home=$base/home xdg=$base/xdg
    mkdir -p "$home" "$xdg" "$base/net"
    chown -R "$USER_NAME:" "$base"; chmod 0700 "$base" "$xdg"
    P=(timeout -k 5 "$T" runuser -u "$USER_NAME" -- env -i "ENGINES_MARK=$D" "PATH=$PATH" "HOME=$home" "XDG_RUNTIME_DIR=$xdg"
       "CONTAINERS_CONF=$D/containers.conf" "TMPDIR=$D/tmp" LANG=C podman)
    RUNF=(--network=none --ulimit nofile=20000:20000)
  fi
  P+=(--root "$base/storage" --runroot "$base/run" --storage-driver vfs --cgroup-manager cgroupfs
      --events-backend file --tmpdir "$base/libpod-tmp" --network-config-dir "$base/net" --runtime "$RT")
}

podman_setup() {   # imports the image into the store of MODE
  # podman passes --log/--log-format=json (conmon: --runtime-arg) only to runtimes listed in
  # runtime_supports_json, and runs rootless cgroup-v1 containers without cgroups only with those
  # in runtime_supports_nocgroups; both lists name crun by default. The runtime under test gets
  # crun's treatment (ENGINES_PLAIN_RUNTIME=1: podman's defaults).
  if [ ! -s "$D/containers.conf" ]; then
    local name; name=$(basename "$RUNTIME")
    { printf '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
      if [ -z "${ENGINES_PLAIN_RUNTIME:-}" ]; then
        printf 'runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "%s"]\n' "$name"
        printf 'runtime_supports_nocgroups = ["crun", "krun", "%s"]\n' "$name"
      fi; } > "$D/containers.conf"
  fi
  chmod 0644 "$D/containers.conf"
  "${P[@]}" import --quiet --change 'CMD ["/bin/sh"]' "$D/rootfs.tar" "$IMG" >/dev/null
}

cleanup_podman() {   # cleanup_podman root|user
  [ -d "$D/$1/storage" ] || return 0
  podman_env "$1"
  "${P[@]}" rm --all --force --time 0 >/dev/null 2>&1
  # Rootless podman leaves a pause process holding its user namespace: ours, end it by pid.
  local f
  for f in "$D/$1"/xdg/libpod/tmp/pause.pid "$D/$1"/libpod-tmp/pause.pid; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  return 0
}

# Each case prints its own result line through these.
pass() { say "PASS $CASE"; passed=$((passed + 1)); [ -z "${ENGINES_VERBOSE:-}" ] || details "(last command)" | sed 's/^/    /'; }
fail() { say "FAIL $CASE: $1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | tail -n 20 | sed 's/^/    /'; failed=$((failed + 1)); }
skip() { say "SKIP $CASE: $1"; skipped=$((skipped + 1)); }

# out/err/rc of the last `capture` call.
OUT="" ERR="" RC=0
# A command that ran into its timeout marks the runtime as hung: the group's other cases are not
# run (each would wait as long again).
HUNG=""
capture() { local t0=$SECONDS; RC=0; "$@" > "$D/out" 2> "$D/err" < /dev/null || RC=$?; OUT=$(cat "$D/out"); ERR=$(cat "$D/err"); hung_check "$t0" "$1"; }
capture_in() { local t0=$SECONDS input=$1; shift; RC=0; printf '%s' "$input" | "$@" > "$D/out" 2> "$D/err" || RC=$?; OUT=$(cat "$D/out"); ERR=$(cat "$D/err"); hung_check "$t0" "$1"; }
hung_check() { if [ $((SECONDS - $1)) -ge "$T" ]; then HUNG="${CASE:-setup} (a command timed out after ${T}s)"; ERR+=$'\n'"[engines.sh: timed out after ${T}s]"; fi; }
details() { printf '$ %s\nexit %s\nstdout: %s\nstderr: %s\n' "$*" "$RC" "$OUT" "$ERR"; }

p_true() {
  capture "${P[@]}" run --rm "${RUNF[@]}" "$IMG" true
  [ "$RC" = 0 ] || { fail "run --rm IMG true exited $RC" "$(details run true)"; return; }
  pass
}

p_exit_code() {
  capture "${P[@]}" run --rm "${RUNF[@]}" "$IMG" sh -c 'exit 3'
  [ "$RC" = 3 ] || { fail "run --rm IMG sh -c 'exit 3' exited $RC, not 3" "$(details run exit 3)"; return; }
  pass
}

p_missing_command() {
  capture "${P[@]}" run --rm "${RUNF[@]}" "$IMG" /no/such/command
  [ "$RC" = 127 ] || { fail "a missing command exited $RC, not 127" "$(details run /no/such/command)"; return; }
  grep -qiE 'not found|no such file' <<< "$ERR" || { fail "podman's message does not say the command was not found" "$(details run /no/such/command)"; return; }
  pass
}

p_stdin() {
  capture_in $'hi\n' "${P[@]}" run -i --rm "${RUNF[@]}" "$IMG" cat
  [ "$RC" = 0 ] && [ "$OUT" = hi ] || { fail "echo hi | run -i IMG cat printed '$OUT' (exit $RC)" "$(details run -i cat)"; return; }
  pass
}

p_tty() {   # -t: the runtime gets --console-socket and hands the pty master to conmon
  capture "${P[@]}" run --rm -t "${RUNF[@]}" "$IMG" sh -c 'tty; echo ok'
  OUT=${OUT//$'\r'/}
  [ "$RC" = 0 ] && [ "$OUT" = $'/dev/pts/0\nok' ] || { fail "run -t IMG tty printed '$OUT' (exit $RC)" "$(details run -t tty)"; return; }
  pass
}

p_hostname() {
  capture "${P[@]}" run --rm "${RUNF[@]}" --hostname foo "$IMG" hostname
  [ "$RC" = 0 ] && [ "$OUT" = foo ] || { fail "--hostname foo: hostname printed '$OUT' (exit $RC)" "$(details run --hostname foo hostname)"; return; }
  pass
}

p_status() { "${P[@]}" inspect --format '{{.State.Status}}' "$1" 2>/dev/null || echo "?"; }

p_lifecycle() {
  capture "${P[@]}" run -d "${RUNF[@]}" "$IMG" sleep 100
  [ "$RC" = 0 ] || { fail "run -d IMG sleep 100 exited $RC" "$(details run -d sleep 100)"; return; }
  local cid=$OUT st
  capture "${P[@]}" ps --format '{{.ID}} {{.Status}}'
  grep -q "^${cid:0:12} Up" <<< "$OUT" || { fail "podman ps does not show the container running" "$(details ps)"; "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1; return; }
  capture "${P[@]}" exec "$cid" echo hi
  [ "$RC" = 0 ] && [ "$OUT" = hi ] || { fail "exec CID echo hi printed '$OUT' (exit $RC)" "$(details exec echo hi)"; "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1; return; }
  capture "${P[@]}" stop -t 1 "$cid"
  st=$(p_status "$cid")
  [ "$RC" = 0 ] && [ "$st" = exited ] || { fail "stop -t 1: exit $RC, status '$st'" "$(details stop -t 1)"; "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1; return; }
  capture "${P[@]}" start "$cid"
  st=$(p_status "$cid")
  [ "$RC" = 0 ] && [ "$st" = running ] || { fail "start after stop: exit $RC, status '$st'" "$(details start)"; "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1; return; }
  capture "${P[@]}" kill "$cid"
  [ "$RC" = 0 ] || { fail "kill exited $RC" "$(details kill)"; "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1; return; }
  local i; for i in $(seq 50); do st=$(p_status "$cid"); [ "$st" = exited ] && break; sleep 0.1; done
  [ "$st" = exited ] || { fail "after kill the status is '$st', not exited"; "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1; return; }
  capture "${P[@]}" rm -f "$cid"
  [ "$RC" = 0 ] || { fail "rm -f exited $RC" "$(details rm -f)"; return; }
  capture "${P[@]}" ps -a -q --no-trunc
  ! grep -q "$cid" <<< "$OUT" || { fail "the container is still listed after rm -f" "$(details ps -a)"; return; }
  pass
}

# Rootless podman on cgroup v1 runs its containers without cgroups: what needs one is skipped
# (ENGINES_FORCE_ROOTLESS_CGROUPS=1 runs it anyway, to see podman's refusal).
rootless_v1_skip() {
  [ "$MODE" = user ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ] && [ -z "${ENGINES_FORCE_ROOTLESS_CGROUPS:-}" ] || return 1
  skip "$1"
}

p_limits() {
  rootless_v1_skip "rootless podman ignores limits on cgroup v1 (it says: Resource limits are not supported and ignored on cgroups V1 rootless systems)" && return
  capture "${P[@]}" run -d "${RUNF[@]}" --memory 64m --pids-limit 50 "$IMG" sleep 100
  [ "$RC" = 0 ] || { fail "run -d --memory 64m --pids-limit 50 exited $RC" "$(details run -d --memory 64m)"; return; }
  local cid=$OUT
  capture "${P[@]}" exec "$cid" sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
  local inside=$OUT
  # And from the host, through the container's cgroup.
  local pid host=""
  pid=$("${P[@]}" inspect --format '{{.State.Pid}}' "$cid" 2>/dev/null || true)
  if [ -n "$pid" ] && [ -r "/proc/$pid/cgroup" ]; then
    local mem pids
    mem=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$pid/cgroup")
    pids=$(awk -F: '$2 == "pids" { print $3 }' "/proc/$pid/cgroup")
    host="$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes" 2>/dev/null || true) $(cat "/sys/fs/cgroup/pids$pids/pids.max" 2>/dev/null || true)"
  fi
  "${P[@]}" rm -f -t 0 "$cid" >/dev/null 2>&1 || true
  [ "$(echo $inside)" = "67108864 50" ] || { fail "inside the container the limits read '$(echo $inside)', not '67108864 50'" "$(details exec cat limits)"; return; }
  [ "$host" = "67108864 50" ] || { fail "the container's cgroup on the host has '$host', not '67108864 50'"; return; }
  pass
}

# The one-command scenarios below each run their own `sleep` container and remove it after.
CID=""
p_sleeper() {   # p_sleeper NAME: runs a detached `sleep 100` named NAME; sets CID, or fails
  "${P[@]}" rm -f -t 0 "$1" >/dev/null 2>&1 || true
  capture "${P[@]}" run -d --name "$1" "${RUNF[@]}" "$IMG" sleep 100
  CID=$OUT
  [ "$RC" = 0 ] && [ -n "$CID" ] || { fail "run -d --name $1 IMG sleep 100 exited $RC" "$(details run -d sleep 100)"; CID=""; return 1; }
}
p_gone() { "${P[@]}" rm -f -t 0 "$1" >/dev/null 2>&1 || true; }

p_rm() {   # --rm: the container is gone from `ps -a` once it exits
  local name=envyro-rm-$MODE
  capture "${P[@]}" run --rm --name "$name" "${RUNF[@]}" "$IMG" true
  [ "$RC" = 0 ] || { fail "run --rm --name $name IMG true exited $RC" "$(details run --rm true)"; return; }
  capture "${P[@]}" ps -a --filter "name=^$name\$" --format '{{.Names}}'
  [ -z "$OUT" ] || { fail "after run --rm the container is still listed" "$(details ps -a)"; p_gone "$name"; return; }
  pass
}

p_exec() {   # exec: output, exit status, stdin, environment, working directory, user
  p_sleeper envyro-exec || return
  local why=""
  capture "${P[@]}" exec "$CID" sh -c 'echo out; echo err >&2; exit 4'
  [ "$RC" = 4 ] && [ "$OUT" = out ] && [ "$ERR" = err ] || why="exec sh -c 'echo out; echo err >&2; exit 4': exit $RC, stdout '$OUT', stderr '$ERR'"
  if [ -z "$why" ]; then
    capture_in $'piped\n' "${P[@]}" exec -i "$CID" cat
    [ "$RC" = 0 ] && [ "$OUT" = piped ] || why="echo piped | exec -i cat printed '$OUT' (exit $RC)"
  fi
  if [ -z "$why" ]; then
    capture "${P[@]}" exec -e FOO=bar -w /tmp -u 65534 "$CID" sh -c 'echo $FOO $(pwd) $(id -u)'
    [ "$RC" = 0 ] && [ "$OUT" = "bar /tmp 65534" ] || why="exec -e FOO=bar -w /tmp -u 65534 printed '$OUT', not 'bar /tmp 65534' (exit $RC)"
  fi
  if [ -z "$why" ]; then
    capture "${P[@]}" exec "$CID" /no/such/command
    [ "$RC" = 127 ] || why="exec of a missing command exited $RC, not 127"
  fi
  [ -z "$why" ] || { fail "$why" "$(details exec)"; p_gone "$CID"; return; }
  p_gone "$CID"
  pass
}

p_stop() {   # stop: SIGTERM, then SIGKILL after the timeout; a container that handles TERM exits 0
  capture "${P[@]}" run -d --name envyro-stop "${RUNF[@]}" "$IMG" sh -c 'trap "exit 0" TERM; echo ready; while :; do sleep 0.1; done'
  [ "$RC" = 0 ] || { fail "run -d (a shell trapping TERM) exited $RC" "$(details run -d)"; p_gone envyro-stop; return; }
  local cid=$OUT i
  for i in $(seq 50); do "${P[@]}" logs "$cid" 2>/dev/null | grep -q ready && break; sleep 0.1; done
  capture "${P[@]}" stop -t 10 "$cid"
  local st code
  st=$(p_status "$cid"); code=$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$cid" 2>/dev/null || echo "?")
  [ "$RC" = 0 ] && [ "$st" = exited ] && [ "$code" = 0 ] || { fail "stop of a container trapping TERM: exit $RC, status '$st', exit code '$code' (not 0)" "$(details stop)"; p_gone "$cid"; return; }
  p_gone "$cid"
  p_sleeper envyro-stop || return
  capture "${P[@]}" stop -t 1 "$CID"
  st=$(p_status "$CID"); code=$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$CID" 2>/dev/null || echo "?")
  [ "$RC" = 0 ] && [ "$st" = exited ] && [ "$code" = 137 ] || { fail "stop -t 1 of sleep (ignores TERM as pid 1): exit $RC, status '$st', exit code '$code' (not 137)" "$(details stop -t 1)"; p_gone "$CID"; return; }
  p_gone "$CID"
  pass
}

p_kill() {   # kill -s: the signal reaches the container's process
  capture "${P[@]}" run -d --name envyro-kill "${RUNF[@]}" "$IMG" sh -c 'trap "exit 7" USR1; echo ready; while :; do sleep 0.1; done'
  [ "$RC" = 0 ] || { fail "run -d (a shell trapping USR1) exited $RC" "$(details run -d)"; p_gone envyro-kill; return; }
  local cid=$OUT i st code
  for i in $(seq 50); do "${P[@]}" logs "$cid" 2>/dev/null | grep -q ready && break; sleep 0.1; done
  capture "${P[@]}" kill -s USR1 "$cid"
  [ "$RC" = 0 ] || { fail "kill -s USR1 exited $RC" "$(details kill -s USR1)"; p_gone "$cid"; return; }
  for i in $(seq 50); do st=$(p_status "$cid"); [ "$st" = exited ] && break; sleep 0.1; done
  code=$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$cid" 2>/dev/null || echo "?")
  [ "$st" = exited ] && [ "$code" = 7 ] || { fail "after kill -s USR1: status '$st', exit code '$code' (the trap exits 7)"; p_gone "$cid"; return; }
  capture "${P[@]}" kill "$cid"
  [ "$RC" != 0 ] || { fail "kill of an exited container succeeded" "$(details kill)"; p_gone "$cid"; return; }
  p_gone "$cid"
  pass
}

p_pause() {   # pause freezes every process (exec is refused), unpause thaws them
  rootless_v1_skip "rootless podman has no cgroup to freeze on cgroup v1 (it says: can only pause containers on cgroups v2 ... rootless)" && return
  p_sleeper envyro-pause || return
  local why="" st
  capture "${P[@]}" pause "$CID"
  st=$(p_status "$CID")
  [ "$RC" = 0 ] && [ "$st" = paused ] || why="pause: exit $RC, status '$st', not paused"
  if [ -z "$why" ]; then
    local pid state
    pid=$("${P[@]}" inspect --format '{{.State.Pid}}' "$CID" 2>/dev/null || true)
    state=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ "$state" = D ] || [ "$state" = S ] || why="the paused process $pid is in state '$state'"
    local fz; fz=$(awk -F: '$2 == "freezer" { print $3 }' "/proc/$pid/cgroup" 2>/dev/null || true)
    if [ -z "$why" ] && [ -n "$fz" ] && [ -r "/sys/fs/cgroup/freezer$fz/freezer.state" ]; then
      [ "$(cat "/sys/fs/cgroup/freezer$fz/freezer.state")" = FROZEN ] || why="the container's freezer cgroup $fz is $(cat "/sys/fs/cgroup/freezer$fz/freezer.state"), not FROZEN"
    fi
  fi
  if [ -z "$why" ]; then
    capture "${P[@]}" exec "$CID" true
    [ "$RC" != 0 ] || why="exec into a paused container succeeded"
  fi
  if [ -z "$why" ]; then
    capture "${P[@]}" unpause "$CID"
    st=$(p_status "$CID")
    [ "$RC" = 0 ] && [ "$st" = running ] || why="unpause: exit $RC, status '$st', not running"
  fi
  if [ -z "$why" ]; then
    capture "${P[@]}" exec "$CID" echo thawed
    [ "$RC" = 0 ] && [ "$OUT" = thawed ] || why="exec after unpause printed '$OUT' (exit $RC)"
  fi
  [ -z "$why" ] || { fail "$why" "$(details pause)"; "${P[@]}" unpause "$CID" >/dev/null 2>&1 || true; p_gone "$CID"; return; }
  p_gone "$CID"
  pass
}

p_stats() {   # stats: the container's memory and pids, read from its cgroups
  rootless_v1_skip "rootless podman has no cgroups on cgroup v1 (it says: stats is not supported in rootless mode without cgroups v2)" && return
  p_sleeper envyro-stats || return
  capture "${P[@]}" stats --no-stream --format '{{.ID}} {{.MemUsage}} {{.PIDs}}' "$CID"
  local line=$OUT
  p_gone "$CID"
  [ "$RC" = 0 ] || { fail "stats --no-stream exited $RC" "$(details stats)"; return; }
  # e.g. "0123456789ab 225.3kB / 67.1GB 1"
  [[ "$line" =~ ^${CID:0:12}\ [0-9.]+[kMG]?B\ /\ [0-9.]+[kMGT]?B\ 1$ ]] || { fail "stats printed '$line', not 'ID MEM / LIMIT 1'" "$(details stats)"; return; }
  pass
}

p_top() {   # top: the container's processes, from the host (psgo) and through ps in the container
  p_sleeper envyro-top || return
  local why=""
  capture "${P[@]}" top "$CID"
  [ "$RC" = 0 ] && grep -q 'sleep 100' <<< "$OUT" || why="top does not list 'sleep 100' (exit $RC)"
  if [ -z "$why" ]; then
    capture "${P[@]}" top "$CID" pid user args
    [ "$RC" = 0 ] && grep -qE '^1 +root +sleep 100' <<< "$OUT" || why="top CID pid user args does not show '1 root sleep 100' (exit $RC)"
  fi
  if [ -z "$why" ]; then
    # A descriptor psgo lacks: podman execs ps(1) in the container (busybox's ps here).
    capture "${P[@]}" top "$CID" -o pid,args
    [ "$RC" = 0 ] && grep -qE '^ *1 +sleep 100' <<< "$OUT" || why="top CID -o pid,args (ps in the container) does not show '1 sleep 100' (exit $RC)"
  fi
  p_gone "$CID"
  [ -z "$why" ] || { fail "$why" "$(details top)"; return; }
  pass
}

p_cp() {   # cp into and out of a running container, and out of a stopped one
  p_sleeper envyro-cp || return
  local why=""
  printf 'from the host\n' > "$D/tmp/cp-in-$MODE"; chmod 0644 "$D/tmp/cp-in-$MODE"
  capture "${P[@]}" cp "$D/tmp/cp-in-$MODE" "$CID:/tmp/cp-in"
  [ "$RC" = 0 ] || why="cp FILE CID:/tmp/cp-in exited $RC"
  if [ -z "$why" ]; then
    capture "${P[@]}" exec "$CID" cat /tmp/cp-in
    [ "$RC" = 0 ] && [ "$OUT" = "from the host" ] || why="after cp in, the container reads '$OUT' (exit $RC)"
  fi
  if [ -z "$why" ]; then
    "${P[@]}" exec "$CID" sh -c 'echo from the container > /tmp/cp-out' >/dev/null 2>&1 || true
    rm -f "$D/tmp/cp-out-$MODE"
    capture "${P[@]}" cp "$CID:/tmp/cp-out" "$D/tmp/cp-out-$MODE"
    [ "$RC" = 0 ] && [ "$(cat "$D/tmp/cp-out-$MODE" 2>/dev/null)" = "from the container" ] || why="cp CID:/tmp/cp-out FILE: exit $RC, the file reads '$(cat "$D/tmp/cp-out-$MODE" 2>/dev/null)'"
  fi
  if [ -z "$why" ]; then
    "${P[@]}" stop -t 0 "$CID" >/dev/null 2>&1 || true
    rm -f "$D/tmp/cp-out-$MODE"
    capture "${P[@]}" cp "$CID:/tmp/cp-in" "$D/tmp/cp-out-$MODE"
    [ "$RC" = 0 ] && [ "$(cat "$D/tmp/cp-out-$MODE" 2>/dev/null)" = "from the host" ] || why="cp out of the stopped container: exit $RC, the file reads '$(cat "$D/tmp/cp-out-$MODE" 2>/dev/null)'"
  fi
  p_gone "$CID"
  [ -z "$why" ] || { fail "$why" "$(details cp)"; return; }
  pass
}

run_podman_group() {   # run_podman_group root|user CASES...
  local mode=$1; shift
  local prefix=podman; [ "$mode" = user ] && prefix=rootless
  if ! command -v podman >/dev/null; then for c in "$@"; do CASE=$prefix-$c; skip "podman is not installed"; done; return; fi
  if [ "$mode" = user ] && ! id "$USER_NAME" >/dev/null 2>&1; then
    useradd -m -s /bin/sh "$USER_NAME" >/dev/null 2>&1 || true
  fi
  if [ "$mode" = user ] && ! id "$USER_NAME" >/dev/null 2>&1; then
    for c in "$@"; do CASE=$prefix-$c; skip "no ordinary user $USER_NAME"; done; return
  fi
  podman_env "$mode"
  section "$prefix-setup"
  if ! capture podman_setup || [ "$RC" != 0 ]; then
    for c in "$@"; do CASE=$prefix-$c; fail "podman import failed" "$(details podman import)"; done; return
  fi
  HUNG=""
  for c in "$@"; do
    CASE=$prefix-$c
    if [ -n "$HUNG" ]; then fail "not run: the runtime hung in $HUNG"; continue; fi
    section "$CASE"
    "p_${c//-/_}"
  done
}

# ---------------------------------------------------------------------------------------------
# containerd: a private daemon, the native snapshotter, the image imported from an OCI archive
# that podman saves. As root; or as the ordinary user inside rootlesskit (the "hard way" of
# containerd's docs/rootless.md, what nerdctl's containerd-rootless.sh does: a user namespace
# and a mount namespace with a writable copy of /run), ctr entering its namespaces by nsenter.
CTR=() CTR_MODE=""
CTD_PID="" RCTD_PID="" RCTD_USERNS=""

ctr_config() {   # ctr_config DIR [EXTRA-TOML]: containerd's config, every path under DIR
  local c=$1 cri='"io.containerd.grpc.v1.cri", '
  [ -z "${CTR_CRI:-}" ] || cri=""   # the CRI plugin: off unless asked for
  cat > "$c/config.toml" <<EOF
version = 2
root = "$c/root"
state = "$c/state"
disabled_plugins = [$cri"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.overlayfs",
  "io.containerd.internal.v1.opt", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$c/containerd.sock"
[ttrpc]
  address = "$c/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
${2:-}
EOF
  chmod 0644 "$c/config.toml"
}

ctr_wait() {   # ctr_wait DIR PID: until the daemon answers (or has exited)
  local i
  for i in $(seq 100); do
    [ -S "$1/containerd.sock" ] && "${CTR[@]}" version >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "containerd exited: $(tail -5 "$1/log")" >&2; return 1; }
    sleep 0.1
  done
  echo "containerd did not answer in 10 s: $(tail -5 "$1/log")" >&2; return 1
}

ctr_image() {   # the busybox rootfs through podman (root store) into an OCI archive, imported
  podman_env root
  [ -d "$D/root/storage" ] || podman_setup
  [ -s "$D/image.oci.tar" ] || "${P[@]}" save --quiet --format oci-archive -o "$D/image.oci.tar" "$IMG"
  chmod 0644 "$D/image.oci.tar"
  "${CTR[@]}" image import --snapshotter native "$D/image.oci.tar" >/dev/null
}

ctr_setup() {   # ctr_setup root|user
  CTR_MODE=$1
  if [ "$1" = root ]; then
    local c=$D/containerd
    mkdir -p "$c"
    ctr_config "$c"
    ENGINES_MARK=$D containerd --config "$c/config.toml" > "$c/log" 2>&1 &
    CTD_PID=$!
    ctr_client root
    ctr_wait "$c" "$CTD_PID" || return 1
  else
    local c=$D/rootless-containerd
    mkdir -p "$c/home" "$c/xdg"
    ctr_config "$c"
    chown -R "$USER_NAME:" "$c"; chmod 0700 "$c/xdg"
    # /run is root's (our private tmpfs): --copy-up gives the daemon a writable one, where the
    # shims' sockets (/run/containerd/s) and the runtime's --root (/run/containerd/runc) go.
    runuser -u "$USER_NAME" -- env -i "ENGINES_MARK=$D" "PATH=$PATH" "HOME=$c/home" "XDG_RUNTIME_DIR=$c/xdg" "TMPDIR=$D/tmp" LANG=C \
      rootlesskit --state-dir="$c/rootlesskit" --net=host --copy-up=/run \
      sh -c "rm -f /run/containerd; exec containerd --config '$c/config.toml'" > "$c/log" 2>&1 &
    RCTD_PID=$!
    local i child=""
    for i in $(seq 100); do
      child=$(cat "$c/rootlesskit/child_pid" 2>/dev/null || true)
      [ -n "$child" ] && break
      kill -0 "$RCTD_PID" 2>/dev/null || { echo "rootlesskit exited: $(tail -5 "$c/log")" >&2; return 1; }
      sleep 0.1
    done
    [ -n "$child" ] || { echo "rootlesskit wrote no child_pid in 10 s: $(tail -5 "$c/log")" >&2; return 1; }
    # Everything in this user namespace is ours: the cleanup ends it by this inode.
    RCTD_USERNS=$(readlink "/proc/$child/ns/user")
    ctr_client user
    ctr_wait "$c" "$RCTD_PID" || return 1
  fi
  ctr_image
}

# The ctr command line for MODE: as root, or as the user in rootlesskit's namespaces.
ctr_client() {   # ctr_client root|user
  if [ "$1" = root ]; then
    CTR=(timeout -k 5 "$T" env "ENGINES_MARK=$D" ctr --address "$D/containerd/containerd.sock" --namespace envyrotest)
  else
    local c=$D/rootless-containerd child
    child=$(cat "$c/rootlesskit/child_pid" 2>/dev/null || echo 0)
    CTR=(timeout -k 5 "$T" runuser -u "$USER_NAME" -- env -i "ENGINES_MARK=$D" "PATH=$PATH" "HOME=$c/home" "XDG_RUNTIME_DIR=$c/xdg"
         "TMPDIR=$D/tmp" LANG=C nsenter -U --preserve-credentials -m -t "$child" ctr --address "$c/containerd.sock" --namespace envyrotest)
  fi
  CTR_MODE=$1
}

cleanup_ctr() {   # cleanup_ctr root|user
  local pidvar=CTD_PID sock=$D/containerd/containerd.sock
  [ "$1" = user ] && pidvar=RCTD_PID sock=$D/rootless-containerd/containerd.sock
  [ -n "${!pidvar}" ] || return 0
  ctr_client "$1"
  local id
  for id in $("${CTR[@]}" task ls -q 2>/dev/null); do
    "${CTR[@]}" task kill -s SIGKILL "$id" >/dev/null 2>&1
    sleep 0.2
    "${CTR[@]}" task rm -f "$id" >/dev/null 2>&1
  done
  for id in $("${CTR[@]}" container ls -q 2>/dev/null); do "${CTR[@]}" container rm "$id" >/dev/null 2>&1; done
  kill "${!pidvar}" 2>/dev/null; wait "${!pidvar}" 2>/dev/null
  # Shims outlive a killed containerd; ours are the ones serving our socket. In the rootless
  # case everything in rootlesskit's user namespace is ours too (containers without cgroups).
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "-address $sock" ||
       { [ "$1" = user ] && [ -n "$RCTD_USERNS" ] && [ "$(readlink "$p/ns/user" 2>/dev/null)" = "$RCTD_USERNS" ]; }; then
      kill -9 "${p#/proc/}" 2>/dev/null
    fi
  done
  printf -v "$pidvar" '%s' ""
  return 0
}

# ctr run flags: the runc v2 shim with our runtime, the native snapshotter, our cgroup (as root;
# rootless: `--cgroup ""`, no cgroupsPath, as containerd's docs/rootless.md says: on cgroup v1
# the user may write no cgroup, and ctr's default /NAMESPACE/ID fails with crun).
ctr_run() {   # ctr_run [flags] ID CMD...
  local flags=()
  while [ "${1#-}" != "$1" ]; do flags+=("$1"); shift; done
  local id=$1; shift
  if [ "$CTR_MODE" = user ]; then flags+=(--cgroup ""); else flags+=(--cgroup "/$TOP/ctr-$id"); fi
  "${CTR[@]}" run "${flags[@]}" --runtime io.containerd.runc.v2 --runc-binary "$RT" --snapshotter native \
    "$IMG" "$id" "$@"
}

ctr_task_status() { "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'; }

c_ctr_true() {
  capture ctr_run --rm id1 true
  [ "$RC" = 0 ] || { fail "ctr run --rm IMG id1 true exited $RC" "$(details ctr run --rm true)"; return; }
  pass
}

c_ctr_exit_code() {
  capture ctr_run --rm id3 sh -c 'exit 3'
  [ "$RC" = 3 ] || { fail "ctr run --rm IMG id3 sh -c 'exit 3' exited $RC, not 3" "$(details ctr run --rm exit 3)"; return; }
  pass
}

c_ctr_lifecycle() {
  local why=""
  capture ctr_run -d id2 sleep 100
  [ "$RC" = 0 ] || why="ctr run -d IMG id2 sleep 100 exited $RC"
  if [ -z "$why" ]; then
    local st; st=$(ctr_task_status id2)
    [ "$st" = RUNNING ] || why="ctr task ls shows id2 as '$st', not RUNNING"
  fi
  if [ -z "$why" ]; then
    capture "${CTR[@]}" task exec --exec-id e1 id2 echo hi
    [ "$RC" = 0 ] && [ "$OUT" = hi ] || why="ctr task exec --exec-id e1 id2 echo hi printed '$OUT' (exit $RC)"
  fi
  if [ -z "$why" ]; then
    capture "${CTR[@]}" task kill -s SIGKILL id2
    [ "$RC" = 0 ] || why="ctr task kill -s SIGKILL id2 exited $RC"
  fi
  if [ -z "$why" ]; then
    local i st=""; for i in $(seq 50); do st=$(ctr_task_status id2); [ "$st" = STOPPED ] && break; sleep 0.1; done
    [ "$st" = STOPPED ] || why="after kill the task is '$st', not STOPPED"
  fi
  if [ -z "$why" ]; then
    capture "${CTR[@]}" task rm id2
    [ "$RC" = 0 ] || why="ctr task rm id2 exited $RC"
  fi
  if [ -z "$why" ]; then
    capture "${CTR[@]}" container rm id2
    [ "$RC" = 0 ] || why="ctr container rm id2 exited $RC"
  fi
  if [ -n "$why" ]; then
    fail "$why" "$(details ctr)"
    "${CTR[@]}" task kill -s SIGKILL id2 >/dev/null 2>&1 || true; sleep 0.2
    "${CTR[@]}" task rm -f id2 >/dev/null 2>&1 || true; "${CTR[@]}" container rm id2 >/dev/null 2>&1 || true
    return
  fi
  pass
}

run_ctr_group() {   # run_ctr_group root|user CASES...
  local mode=$1; shift
  local prefix=""; [ "$mode" = user ] && prefix=rootless-
  if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
    for c in "$@"; do CASE=$prefix$c; skip "containerd/ctr are not installed"; done; return
  fi
  if [ "$mode" = user ]; then
    local why=""
    command -v rootlesskit >/dev/null || why="rootlesskit is not installed (Debian's rootlesskit package)"
    [ -n "$why" ] || id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/sh "$USER_NAME" >/dev/null 2>&1 || true
    [ -n "$why" ] || id "$USER_NAME" >/dev/null 2>&1 || why="no ordinary user $USER_NAME"
    [ -n "$why" ] || grep -q "^$USER_NAME:" /etc/subuid || why="$USER_NAME has no subordinate uids in /etc/subuid"
    if [ -n "$why" ]; then for c in "$@"; do CASE=$prefix$c; skip "$why"; done; return; fi
  fi
  section "${prefix}ctr-setup"
  if ! capture ctr_setup "$mode" || [ "$RC" != 0 ]; then
    for c in "$@"; do CASE=$prefix$c; fail "containerd setup failed" "$(details ctr setup)"; done; return
  fi
  HUNG=""
  for c in "$@"; do
    CASE=$prefix$c
    if [ -n "$HUNG" ]; then fail "not run: the runtime hung in $HUNG"; continue; fi
    section "$CASE"
    "c_${c//-/_}"
  done
}

# ---------------------------------------------------------------------------------------------
# CRI, as the kubelet (or crictl) uses containerd: its CRI plugin on, a containerd config whose
# runtime `envyro` is the runc shim with the runtime under test as its BinaryName (the runc
# options of the config, not a ctr flag), a pod (sandbox) and containers in it, driven through
# cri.py (a minimal CRI client). The pod's network is a CNI plugin that configures nothing
# (only the pod's loopback: no host interface is made).
CRI=() CRI_PID="" CRI_POD=""
PAUSE_IMG=localhost/envyro-pause:test
CRI_DIR=""

cri_setup() {
  local c=$D/cri-containerd
  CRI_DIR=$c
  mkdir -p "$c/cni/bin" "$c/cni/conf" "$c/logs"
  ln -s /usr/lib/cni/loopback "$c/cni/bin/loopback"
  cat > "$c/cni/bin/envyro-noop" <<'EOF'
#!/bin/sh
# A CNI plugin that configures nothing: containerd's CRI wants an eth0 address for the pod.
case "$CNI_COMMAND" in
  ADD) cat > /dev/null
       printf '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"version":"4","address":"10.255.255.2/32","interface":0}]}\n' "$CNI_NETNS" ;;
  VERSION) printf '{"cniVersion":"0.4.0","supportedVersions":["0.3.0","0.3.1","0.4.0"]}\n' ;;
  *) cat > /dev/null ;;
esac
EOF
  chmod 0755 "$c/cni/bin/envyro-noop"
  printf '{"cniVersion":"0.4.0","name":"envyro-noop","plugins":[{"type":"envyro-noop"}]}\n' > "$c/cni/conf/10-envyro-noop.conflist"
  CTR_CRI=1 ctr_config "$c" "[plugins.\"io.containerd.grpc.v1.cri\"]
  sandbox_image = \"$PAUSE_IMG\"
  stream_server_address = \"127.0.0.1\"
  stream_server_port = \"0\"
  disable_apparmor = true
  enable_selinux = false
  # The pod's sandbox asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE (root here
  # lacks it): no lower than containerd's own.
  restrict_oom_score_adj = true
  [plugins.\"io.containerd.grpc.v1.cri\".containerd]
    snapshotter = \"native\"
    default_runtime_name = \"envyro\"
    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.envyro]
      runtime_type = \"io.containerd.runc.v2\"
      [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.envyro.options]
        BinaryName = \"$RT\"
        SystemdCgroup = false
  [plugins.\"io.containerd.grpc.v1.cri\".cni]
    bin_dir = \"$c/cni/bin\"
    conf_dir = \"$c/cni/conf\""
  ENGINES_MARK=$D containerd --config "$c/config.toml" > "$c/log" 2>&1 &
  CRI_PID=$!
  CTR=(timeout -k 5 "$T" env "ENGINES_MARK=$D" ctr --address "$c/containerd.sock" --namespace k8s.io)
  CTR_MODE=cri
  ctr_wait "$c" "$CRI_PID" || return 1
  CRI=(timeout -k 5 "$T" env "ENGINES_MARK=$D" /usr/bin/python3 "$D/bin/cri.py" "$c/containerd.sock")
  # The images, in CRI's containerd namespace: busybox, and as the pod's sandbox ("pause")
  # image the same rootfs with a process that waits and exits on SIGTERM.
  ctr_image
  [ -s "$D/pause.oci.tar" ] || {
    "${P[@]}" import --quiet --change 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM; while :; do sleep 1; done"]' "$D/rootfs.tar" "$PAUSE_IMG" >/dev/null
    "${P[@]}" save --quiet --format oci-archive -o "$D/pause.oci.tar" "$PAUSE_IMG"; }
  "${CTR[@]}" image import --snapshotter native "$D/pause.oci.tar" >/dev/null
  "${CRI[@]}" version >/dev/null || return 1
  CRI_POD=$("${CRI[@]}" run-pod envyro-pod "/$TOP/cri" "$c/logs") || return 1
}

cleanup_cri() {
  [ -n "$CRI_PID" ] || return 0
  local pod
  for pod in $("${CRI[@]}" pods 2>/dev/null); do
    "${CRI[@]}" stop-pod "$pod" >/dev/null 2>&1
    "${CRI[@]}" rm-pod "$pod" >/dev/null 2>&1
  done
  kill "$CRI_PID" 2>/dev/null; wait "$CRI_PID" 2>/dev/null
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -q -- "-address $CRI_DIR/containerd.sock" && kill -9 "${p#/proc/}" 2>/dev/null
  done
  CRI_PID=""
  return 0
}

cri_create() {   # cri_create NAME CMD...: a container in the pod, started; sets CID
  local name=$1; shift
  capture "${CRI[@]}" create "$CRI_POD" envyro-pod "/$TOP/cri" "$CRI_DIR/logs" "$IMG" "$name.log" "$@"
  CID=$OUT
  [ "$RC" = 0 ] && [ -n "$CID" ] || { fail "CreateContainer ($*) failed (exit $RC)" "$(details cri.py create)"; return 1; }
  capture "${CRI[@]}" start "$CID"
  [ "$RC" = 0 ] || { fail "StartContainer failed (exit $RC)" "$(details cri.py start)"; "${CRI[@]}" rm "$CID" >/dev/null 2>&1 || true; return 1; }
}

cri_wait_exited() {   # prints "EXITED CODE" once the container has exited (or its last status)
  local i st=""
  for i in $(seq 100); do st=$("${CRI[@]}" status "$1" 2>/dev/null || true); [ "${st%% *}" = EXITED ] && break; sleep 0.1; done
  echo "$st"
}

c_cri_run() {   # a container runs in the pod (its hostname, its log), its exit code is reported
  cri_create run sh -c 'echo hi from $(hostname); exit 3' || return
  local st; st=$(cri_wait_exited "$CID")
  local log; log=$(cat "$CRI_DIR/logs/run.log" 2>/dev/null || true)
  "${CRI[@]}" rm "$CID" >/dev/null 2>&1 || true
  [ "$st" = "EXITED 3" ] || { fail "the container's status is '$st', not 'EXITED 3'"; return; }
  grep -q ' stdout F hi from envyro-pod$' <<< "$log" || { fail "the container's log does not have 'hi from envyro-pod'" "$log"; return; }
  pass
}

c_cri_exec() {   # ExecSync: output, error output and exit code of a command in a running container
  cri_create exec sleep 100 || return
  local st; st=$("${CRI[@]}" status "$CID" 2>/dev/null || true)
  [ "$st" = "RUNNING 0" ] || { fail "the started container's status is '$st', not 'RUNNING 0'"; "${CRI[@]}" rm "$CID" >/dev/null 2>&1 || true; return; }
  capture "${CRI[@]}" exec "$CID" 10 sh -c 'echo out; echo err >&2; exit 4'
  "${CRI[@]}" stop "$CID" 0 >/dev/null 2>&1 || true; "${CRI[@]}" rm "$CID" >/dev/null 2>&1 || true
  [ "$RC" = 4 ] && [ "$OUT" = out ] && [ "$ERR" = err ] || { fail "ExecSync sh -c 'echo out; echo err >&2; exit 4': exit $RC, stdout '$OUT', stderr '$ERR'" "$(details cri.py exec)"; return; }
  pass
}

c_cri_stop() {   # StopContainer: SIGTERM, then SIGKILL after the timeout; RemoveContainer
  cri_create stop sleep 100 || return
  capture "${CRI[@]}" stop "$CID" 1
  local st; st=$(cri_wait_exited "$CID")
  [ "$RC" = 0 ] && [ "$st" = "EXITED 137" ] || { fail "StopContainer with timeout 1 of sleep (ignores TERM as pid 1): exit $RC, status '$st', not 'EXITED 137'" "$(details cri.py stop)"; "${CRI[@]}" rm "$CID" >/dev/null 2>&1 || true; return; }
  capture "${CRI[@]}" rm "$CID"
  [ "$RC" = 0 ] || { fail "RemoveContainer failed (exit $RC)" "$(details cri.py rm)"; return; }
  capture "${CRI[@]}" status "$CID"
  [ "$RC" != 0 ] || { fail "the removed container still has a status: $OUT"; return; }
  pass
}

run_cri_group() {
  local why=""
  command -v containerd >/dev/null && command -v ctr >/dev/null || why="containerd/ctr are not installed"
  [ -n "$why" ] || /usr/bin/python3 -c 'import grpc' 2>/dev/null || why="python3-grpcio is not installed (cri.py's gRPC)"
  [ -n "$why" ] || [ -x /usr/lib/cni/loopback ] || why="the CNI loopback plugin (containernetworking-plugins) is not installed"
  if [ -n "$why" ]; then for c in "$@"; do CASE=$c; skip "$why"; done; return; fi
  section cri-setup
  if ! capture cri_setup || [ "$RC" != 0 ]; then
    for c in "$@"; do CASE=$c; fail "containerd (CRI) setup failed" "$(details cri setup)$(tail -5 "$D/cri-containerd/log" 2>/dev/null | sed 's/^/\n    /')"; done; return
  fi
  HUNG=""
  for c in "$@"; do
    CASE=$c
    if [ -n "$HUNG" ]; then fail "not run: the runtime hung in $HUNG"; continue; fi
    section "$CASE"
    "c_${c//-/_}"
  done
}

# ---------------------------------------------------------------------------------------------
# Which cases.
want_podman=() want_ctr=() want_user=() want_user_ctr=() want_cri=()
[ $# -gt 0 ] || set -- podman ctr cri rootless rootless-ctr
for a in "$@"; do
  case "$a" in
    podman) want_podman+=("${PODMAN_CASES[@]}") ;;
    ctr) want_ctr+=("${CTR_CASES[@]}") ;;
    rootless) want_user+=("${PODMAN_CASES[@]}") ;;
    rootless-ctr) want_user_ctr+=("${CTR_CASES[@]}") ;;
    cri) want_cri+=("${CRI_CASES[@]}") ;;
    cri-*) want_cri+=("$a") ;;
    podman-*) want_podman+=("${a#podman-}") ;;
    ctr-*) want_ctr+=("$a") ;;
    rootless-ctr-*) want_user_ctr+=("${a#rootless-}") ;;
    rootless-*) want_user+=("${a#rootless-}") ;;
    *) echo "unknown case: $a (see --list)" >&2; exit 2 ;;
  esac
done
for c in "${want_podman[@]}" "${want_user[@]}"; do
  [[ " ${PODMAN_CASES[*]} " == *" $c "* ]] || { echo "unknown case: $c (see --list)" >&2; exit 2; }
done
for c in "${want_cri[@]}"; do
  [[ " ${CRI_CASES[*]} " == *" $c "* ]] || { echo "unknown case: $c (see --list)" >&2; exit 2; }
done
for c in "${want_ctr[@]}" "${want_user_ctr[@]}"; do
  [[ " ${CTR_CASES[*]} " == *" $c "* ]] || { echo "unknown case: $c (see --list)" >&2; exit 2; }
done

echo "runtime: $RUNTIME${TRACE_OUT:+ (traced)}"
[ -x "$RUNTIME" ] || echo "note: $RUNTIME is not an executable file; every case will fail"
make_rootfs
[ ${#want_podman[@]} -eq 0 ] || run_podman_group root "${want_podman[@]}"
[ ${#want_ctr[@]} -eq 0 ] || run_ctr_group root "${want_ctr[@]}"
[ ${#want_cri[@]} -eq 0 ] || run_cri_group "${want_cri[@]}"
[ ${#want_user[@]} -eq 0 ] || run_podman_group user "${want_user[@]}"
[ ${#want_user_ctr[@]} -eq 0 ] || run_ctr_group user "${want_user_ctr[@]}"

if [ -n "$TRACE_OUT" ]; then
  mkdir -p "$TRACE_OUT"
  { echo "# Every call the engines made to the OCI runtime ($RUNTIME), by scenario, in order."
    echo "# Made by: tests/engines/engines.sh --trace DIR $RUNTIME $*"
    echo "# podman $(podman --version 2>/dev/null | awk '{print $3}'), conmon $(conmon --version 2>/dev/null | awk 'NR==1 {print $3}'), containerd $(containerd --version 2>/dev/null | awk '{print $3}')"
    echo "# Temp dir of this run: $D (replace it with your own)."
    cat "$D/calls.log"; } > "$TRACE_OUT/$(basename "$RUNTIME")-calls.txt"
  for pair in podman-true:podman-config.json ctr-true:ctr-config.json rootless-true:podman-rootless-config.json \
      rootless-ctr-true:ctr-rootless-config.json cri-run:cri-config.json; do
    src=${pair%%:*} dst=${pair#*:}
    [ -s "$D/configs/$src.json" ] && cp "$D/configs/$src.json" "$TRACE_OUT/$dst"
  done
  echo "trace: $TRACE_OUT"
fi

echo "engines.sh ($(basename "$RUNTIME")): passed $passed, failed $failed, skipped $skipped"
[ "$failed" = 0 ]
