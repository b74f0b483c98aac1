# containerd's scenarios for engines.sh (sourced by it; the functions run inside its private
# mount namespace and use its helpers: capture, pass/fail/skip, details, section, $D, $T, $TOP):
# ctr with the runc shim as root and rootless (rootlesskit), and the CRI plugin.
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
  local i end=$((SECONDS + T))
  for i in $(seq 100); do
    [ -S "$1/containerd.sock" ] && "${CTR[@]}" version >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { echo "containerd exited: $(tail -5 "$1/log")" >&2; return 1; }
    [ $SECONDS -lt $end ] || break
    sleep 0.1
  done
  echo "containerd did not answer: $(tail -5 "$1/log")" >&2; return 1
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
ctr_task_is() { [ "$(ctr_task_status "$1")" = "$2" ]; }

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
    # The short sleep is for ctr 1.6: it cancels copying the exec's output when the exit event
    # arrives, so a process that exits at once can lose it on a loaded machine (seen with crun).
    capture "${CTR[@]}" task exec --exec-id e1 id2 sh -c 'echo hi; sleep 0.3'
    [ "$RC" = 0 ] && [ "$OUT" = hi ] || why="ctr task exec --exec-id e1 id2 sh -c 'echo hi; sleep 0.3' printed '$OUT' (exit $RC)"
  fi
  if [ -z "$why" ]; then
    capture "${CTR[@]}" task kill -s SIGKILL id2
    [ "$RC" = 0 ] || why="ctr task kill -s SIGKILL id2 exited $RC"
  fi
  if [ -z "$why" ]; then
    poll 50 ctr_task_is id2 STOPPED || true
    local st; st=$(ctr_task_status id2)
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

cri_exited() { local st; st=$("${CRI[@]}" status "$1" 2>/dev/null) && [ "${st%% *}" = EXITED ]; }
cri_wait_exited() {   # prints "EXITED CODE" once the container has exited (or its last status)
  poll 100 cri_exited "$1" || true
  "${CRI[@]}" status "$1" 2>/dev/null || true
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
