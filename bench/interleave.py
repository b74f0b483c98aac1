#!/usr/bin/env python3
"""Runs commands side by side: round by round, each row once per round, so a noisy machine (2
shared cores) slows every row alike and the ratios between rows stay meaningful.

    interleave.py ROUNDS OUT.json NAME CMD [NAME CMD ...]

CMD is split like a shell word list. A CMD starting with `@USER ` runs as that user, through
setpriv(1) (so it costs one more exec: measure `@USER /bin/true` beside it and subtract it, as
compare.sh does), with HOME and XDG_RUNTIME_DIR from the environment's ENVYRO_BENCH_HOME_<USER>
and ENVYRO_BENCH_XDG_<USER>. Every row is started by posix_spawn (vfork: a Python fork() of
this process would add a millisecond to every row), stdout and stderr to /dev/null, and timed
from spawn to reaped exit.
A row whose command fails is reported as failed, not timed: a failing start is not a fast one.
Writes {name: {"median": ms, "p25": ms, "p75": ms, "failures": n}} to OUT.json.
"""
import json, os, pwd, shlex, statistics, sys, time

rounds, out = int(sys.argv[1]), sys.argv[2]
rows = list(zip(sys.argv[3::2], sys.argv[4::2]))
devnull = os.open("/dev/null", os.O_RDWR)

def plan(cmd):
    user = None
    if cmd.startswith("@"):
        user, cmd = cmd[1:].split(" ", 1)
    argv = shlex.split(cmd)
    env = dict(os.environ)
    ids = None
    if user:
        pw = pwd.getpwnam(user)
        argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", "--"] + argv
        env["HOME"] = os.environ.get(f"ENVYRO_BENCH_HOME_{user}", pw.pw_dir)
        env["USER"] = env["LOGNAME"] = user
        xdg = os.environ.get(f"ENVYRO_BENCH_XDG_{user}")
        if xdg: env["XDG_RUNTIME_DIR"] = xdg
    return argv, env, ids

plans = [(name, *plan(cmd)) for name, cmd in rows]
times = {name: [] for name, _ in rows}
failures = {name: 0 for name, _ in rows}
actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
for _ in range(rounds):
    for name, argv, env, ids in plans:
        t = time.perf_counter()
        try:
            pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions)
        except OSError:
            failures[name] += 1
            continue
        _, status = os.waitpid(pid, 0)
        elapsed = (time.perf_counter() - t) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            failures[name] += 1
        else:
            times[name].append(elapsed)

result = {}
for name, v in times.items():
    v.sort()
    result[name] = {"median": statistics.median(v) if v else None,
                    "p25": v[len(v) // 4] if v else None, "p75": v[3 * len(v) // 4] if v else None,
                    "failures": failures[name]}
json.dump(result, open(out, "w"), indent=1)
