# podman's scenarios for engines.sh (sourced by it; the functions run inside its private mount
# namespace and use its helpers: capture, pass/fail/skip, details, section, $D, $T, $TOP).
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
p_exited() { [ "$(p_status "$1")" = exited ]; }
p_ready() { "${P[@]}" logs "$1" 2>/dev/null | grep -q ready; }   # the container printed "ready"

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
  poll 50 p_exited "$cid" || true
  st=$(p_status "$cid")
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

p_listed() { "${P[@]}" ps -a --filter "name=^$1\$" --format '{{.Names}}' 2>/dev/null | grep -q .; }
p_unlisted() { ! p_listed "$1"; }

p_rm() {   # --rm: the container is gone from `ps -a` once it exits, in the foreground or detached
  local name=envyro-rm-$MODE
  capture "${P[@]}" run --rm --name "$name" "${RUNF[@]}" "$IMG" true
  [ "$RC" = 0 ] || { fail "run --rm --name $name IMG true exited $RC" "$(details run --rm true)"; return; }
  capture "${P[@]}" ps -a --filter "name=^$name\$" --format '{{.Names}}'
  [ -z "$OUT" ] || { fail "after run --rm the container is still listed" "$(details ps -a)"; p_gone "$name"; return; }
  # Detached: conmon runs `podman container cleanup --rm` when the container exits.
  capture "${P[@]}" run -d --rm --name "$name" "${RUNF[@]}" "$IMG" sleep 100
  [ "$RC" = 0 ] || { fail "run -d --rm --name $name IMG sleep 100 exited $RC" "$(details run -d --rm)"; p_gone "$name"; return; }
  capture "${P[@]}" stop -t 0 "$name"
  [ "$RC" = 0 ] || { fail "stop -t 0 of a detached --rm container exited $RC" "$(details stop -t 0)"; p_gone "$name"; return; }
  poll 50 p_unlisted "$name" || true
  ! p_listed "$name" || { fail "5 s after stop the detached --rm container is still listed"; p_gone "$name"; return; }
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
    # -t: the runtime gets --tty --console-socket and hands the pty master to conmon.
    capture "${P[@]}" exec -t "$CID" sh -c 'tty; echo ok'
    OUT=${OUT//$'\r'/}
    [ "$RC" = 0 ] && [[ "$OUT" =~ ^/dev/pts/[0-9]+$'\n'ok$ ]] || why="exec -t sh -c 'tty; echo ok' printed '$OUT' (exit $RC)"
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
  local cid=$OUT
  poll 50 p_ready "$cid" || true
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
  local cid=$OUT st code
  poll 50 p_ready "$cid" || true
  capture "${P[@]}" kill -s USR1 "$cid"
  [ "$RC" = 0 ] || { fail "kill -s USR1 exited $RC" "$(details kill -s USR1)"; p_gone "$cid"; return; }
  poll 50 p_exited "$cid" || true
  st=$(p_status "$cid")
  code=$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$cid" 2>/dev/null || echo "?")
  [ "$st" = exited ] && [ "$code" = 7 ] || { fail "after kill -s USR1: status '$st', exit code '$code' (the trap exits 7)"; p_gone "$cid"; return; }
  capture "${P[@]}" kill "$cid"
  [ "$RC" != 0 ] || { fail "kill of an exited container succeeded" "$(details kill)"; p_gone "$cid"; return; }
  p_gone "$cid"
  pass
}

p_pause() {   # pause freezes every process (exec is refused), unpause thaws them
  rootless_v1_skip "rootless podman has no cgroup to freeze on cgroup v1 (it says: can not pause containers on rootless containers with cgroup V1)" && return
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
