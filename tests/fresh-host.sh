#!/usr/bin/env bash
# Puts the host back in the state of one where envyro never ran, as far as cgroups go: removes
# the `envyro` cgroup subtree from every hierarchy, deepest first. Only empty cgroups can be
# removed (the kernel refuses rmdir of one with processes), so nothing running is touched; a
# subtree still in use is reported and left. Used by .ci/run before `make demo`, to prove the
# README's first command on a fresh host (issue 14).
set -u
left=0
for top in /sys/fs/cgroup/*/envyro /sys/fs/cgroup/envyro; do
  [ -d "$top" ] || continue
  # Deepest first: find's -depth lists children before their parent.
  while IFS= read -r dir; do
    rmdir "$dir" 2>/dev/null || { echo "fresh-host: $dir is in use; left as it is" >&2; left=1; }
  done < <(find "$top" -depth -mindepth 0 -type d)
done
exit $left
