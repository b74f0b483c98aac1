#!/bin/sh
# Builds and runs the trampoline's OCI smoke test (as root). The headers use clang's
# nullability qualifiers: use the Swift toolchain's clang when cc is gcc.
set -e
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then echo "run as root" >&2; exit 2; fi
[ -x /bin/busybox ] || apt-get install -y busybox-static
CC=${CC:-cc}
if ! $CC --version 2>/dev/null | grep -q clang; then
    if [ -x /opt/swift/usr/bin/clang ]; then CC=/opt/swift/usr/bin/clang
    else CC="$CC -D_Nonnull= -D_Nullable= -Wno-unknown-pragmas"; fi
fi
out=$(mktemp -d /tmp/envyro-ctramp.XXXXXX)
trap 'rm -rf "$out"' EXIT
$CC -D_GNU_SOURCE -Wall -ISources/CEnvyro/include -ISources/CEnvyro -o "$out/oci_smoke" \
    Tests/ctrampoline/oci_smoke.c Sources/CEnvyro/trampoline_util.c Sources/CEnvyro/process_steps.c \
    Sources/CEnvyro/rootfs.c Sources/CEnvyro/run_child.c Sources/CEnvyro/oci_child.c \
    Sources/CEnvyro/tiny_init.c Sources/CEnvyro/container_exec.c Sources/CEnvyro/process_env.c Sources/CEnvyro/oci_mount_extra.c \
    Sources/CEnvyro/remount.c \
    Sources/CEnvyro/shim.c -lmd
"$out/oci_smoke"
