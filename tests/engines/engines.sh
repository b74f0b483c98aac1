#!/bin/bash
# Drives a runc-compatible OCI runtime through the real engines: podman (+ conmon), rootful and
# rootless (podman.sh), and containerd (containerd.sh): ctr + the io.containerd.runc.v2 shim as
# root and rootless (rootlesskit), and its CRI plugin with the runtime as the shim's BinaryName.
#
#   tests/engines/engines.sh [--trace DIR] RUNTIME_PATH [case|group ...]
#
# Groups: podman, ctr, cri, rootless, rootless-ctr (default: all five). Cases: see `--list`.
# Prints `PASS name`, `FAIL name: why` (details indented below) or `SKIP name: reason`, and exits 1
# if any case failed. Needs root (it runs the rootless cases through `runuser`).
#
# Everything lives under one private directory (removed at the end): the podman stores, private
# containerd daemons (their own configs, roots, states and sockets), the busybox image, the
# runtime's state directories. The whole run is in a private mount namespace, in which:
#   - an empty file is bound over /sys/fs/cgroup/unified/cgroup.controllers (crun 1.8 refuses
#     this host's hybrid cgroup layout otherwise; the v1 hierarchies are used),
#   - /dev/shm (podman's lock file), /run (the shims' sockets under /run/containerd, the
#     runtimes' default --root: /run/crun, /run/containerd/runc/NS), /tmp (conmon's console
#     sockets; a runtime installed under /tmp is bound back) and /var/lib/containers (podman's
#     blob-info cache) are private tmpfs, and TMPDIR is private too,
# so nothing lands on the host but the containers' cgroups, which are all under one top-level
# name of this run (/envyro-engines-PID) and removed at the end. Processes are ended by pid:
# those with this run's marker in their environment, root or command line, those in its cgroups,
# and (rootless containerd) those in rootlesskit's user namespace.
#
# --trace DIR runs the runtime through a wrapper that logs every call (argv, cwd, uid map, stdio)
# and writes DIR/<runtime>-calls.txt plus the first config.json each engine passed:
# DIR/podman-config.json, DIR/podman-rootless-config.json, DIR/ctr-config.json,
# DIR/ctr-rootless-config.json, DIR/cri-config.json.
set -euo pipefail

usage() { echo "usage: $0 [--trace DIR] RUNTIME_PATH [podman|ctr|cri|rootless|rootless-ctr|CASE ...]" >&2; exit 2; }

PODMAN_CASES=(true exit-code missing-command stdin tty hostname lifecycle limits rm exec stop kill pause stats top cp)
CTR_CASES=(ctr-true ctr-exit-code ctr-lifecycle)
CRI_CASES=(cri-run cri-exec cri-stop)

# The scenarios: read now, while the checkout is reachable (it may be under /tmp, which is
# made private below).
HERE=$(dirname "$(realpath "$0")")
# shellcheck source=podman.sh
. "$HERE/podman.sh"
# shellcheck source=containerd.sh
. "$HERE/containerd.sh"

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
mkdir -p "$D/bin"; cp "$HERE/cri.py" "$D/bin/cri.py"; chmod 0755 "$D/bin" "$D/bin/cri.py"
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
# Runs CMD... until it succeeds: at most N tries 0.1 s apart, and never past ENGINES_TIMEOUT.
poll() { local n=$1 end=$((SECONDS + T)) i; shift; for i in $(seq "$n"); do "$@" && return 0; [ $SECONDS -lt $end ] || return 1; sleep 0.1; done; return 1; }

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
