# Envyro. `make demo` and `make test` work on a fresh Debian machine: they install what they
# need first (as root, or through sudo).
SWIFT ?= swift
DEBS  := liburing-dev libseccomp-dev libcap-dev libcap2-bin libmd-dev gcc podman conmon containerd crun uidmap busybox-static golang-go rootlesskit python3-grpcio
BIN   := .build/debug

.PHONY: all deps build release static demo test test-load clean bench bench-compare install uninstall

all: build

# Installs the Debian packages the build and the tests need, if any is missing.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# Runs one command in a container under the strict policy, on the built-in default rootfs.
demo: build
	$(BIN)/envyro run --policy strict -- sh -c 'echo "hello from $$(cat /proc/sys/kernel/hostname): uid $$(id -u), pid $$$$, $$(ls /proc | grep -c "^[0-9]") processes visible"; echo "root:" $$(ls /); touch /usr/x 2>&1 | sed "s/^/expected: /"'

# The hostile suite (Tests/EnvyroHostileTests) runs in a process of its own, after the rest:
# its attacks must not overlap the integration tests' leak checks.
test: build
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip EnvyroHostileTests
	$(SWIFT) test --skip-build --filter EnvyroHostileTests

# The load and fault test (issue 14), full form: two ordinary users (created and removed) and root,
# each with their own supervisor and 100 runs with limits in flight for 3 minutes, while a helper,
# the I/O worker and each supervisor are killed -9 once; then every leak check and audit chain.
# Prints runs/s, p50/p99 start latency, failures by cause and peak RSS. Root (or sudo) needed.
# A short form (2 users x 20 runs, a helper kill) runs in `make test` (Tests/.../LoadTests.swift).
LOAD_CONCURRENCY ?= 100
LOAD_SECONDS ?= 180
test-load: static
	@SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$$SUDO tests/load/run-load.sh $(STATIC) $(LOAD_CONCURRENCY) $(LOAD_SECONDS)

clean:
	rm -rf .build .build-*

# Release build (Swift stdlib linked statically: measured faster to start), then the engine's
# figures and the side-by-side start-up comparison with crun and bubblewrap.
STATIC := .build-static/release
static: deps
	@# Fully static executables (-static-executable: Swift stdlib, Foundation, glibc, libseccomp,
	@# libmd, liburing all linked in): no dynamic loader, no symbol lookups. Measured side by
	@# side against --static-swift-stdlib alone: envyro-cli start 2.6-3.4 -> 1.2-1.5 ms, a helper
	@# round trip (`envyro kill`) 6.8-7.5 -> 4.2 ms, an OCI `envyro run` 24-27 -> 16-17 ms.
	@# glibc's NSS (getpwnam_r, for user names) then needs the same glibc at run time: build
	@# where you install, as `make install` does.
	$(SWIFT) build -c release -Xswiftc -static-executable --scratch-path .build-static
	@# The C front again, linked by the C compiler: SwiftPM links every executable with the
	@# Swift runtime, which is what the front exists to avoid (measured: 3.5 ms -> 2.5 ms a run).
	@# Linked statically too: no dynamic loader at all (measured side by side, 100 runs each
	@# through a supervisor: 4.0 ms -> 3.5 ms a whole `envyro run`). It needs no NSS.
	@# With spawn_helper.c and remount.c: it starts the helper of a run no supervisor serves.
	$(CC) -O2 -Wall -Wextra -static -D_GNU_SOURCE -ISources/CEnvyro/include -o $(STATIC)/envyro \
	  Sources/envyro-front/front.c Sources/CEnvyro/spawn_helper.c Sources/CEnvyro/remount.c -lpthread

bench: static
	$(STATIC)/envyro-cli bench --io

bench-compare: static
	ENVYRO_BIN=$(STATIC) bench/compare.sh 100

# Installs the binaries (Swift stdlib linked statically: a binary with file capabilities can't
# use $ORIGIN run paths), the policies (root-owned, as a privileged helper requires), and gives
# envyro-nshelper cap_setuid,cap_setgid+ep -- never setuid, never CAP_SYS_ADMIN.
PREFIX ?= /usr/local
install: static
	install -D -s -m 0755 $(STATIC)/envyro $(DESTDIR)$(PREFIX)/bin/envyro
	install -D -s -m 0755 $(STATIC)/envyro-cli $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-cli
	@# The name engines are given: runc's command line only. The front execs envyro-cli with
	@# argv[0] kept, after starting the helper of a create or run (Sources/envyro-front/front.c).
	ln -sf envyro $(DESTDIR)$(PREFIX)/bin/envyro-runc
	@# The same under the opt-in oci-restricted policy, for engines that take a runtime path.
	install -D -m 0755 contrib/oci/envyro-runc-restricted $(DESTDIR)$(PREFIX)/bin/envyro-runc-restricted
	install -D -s -m 0755 $(STATIC)/envyro-supervisor $(DESTDIR)$(PREFIX)/bin/envyro-supervisor
	install -D -s -m 0755 $(STATIC)/envyro-nshelper $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-nshelper
	install -D -s -m 0755 $(STATIC)/envyro-ioworker $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-ioworker
	@# The helper's bench and fuzz drivers: unprivileged, never given capabilities.
	install -D -s -m 0755 $(STATIC)/envyro-helper-bench $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-helper-bench
	install -D -m 0644 contrib/systemd/envyro-supervisor.service $(DESTDIR)$(PREFIX)/lib/systemd/user/envyro-supervisor.service
	install -D -m 0644 contrib/systemd/envyro-supervisor.socket $(DESTDIR)$(PREFIX)/lib/systemd/user/envyro-supervisor.socket
	sed -i 's|/usr/local/bin/envyro-supervisor|$(PREFIX)/bin/envyro-supervisor|' $(DESTDIR)$(PREFIX)/lib/systemd/user/envyro-supervisor.service
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/envyro/policy/seccomp
	install -m 0644 policy/*.json $(DESTDIR)$(PREFIX)/share/envyro/policy/
	install -m 0644 policy/seccomp/*.json $(DESTDIR)$(PREFIX)/share/envyro/policy/seccomp/
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/envyro/policy/executors
	install -m 0644 policy/executors/*.json $(DESTDIR)$(PREFIX)/share/envyro/policy/executors/
	setcap cap_setuid,cap_setgid+ep $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-nshelper
	@getcap $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-nshelper

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/envyro $(DESTDIR)$(PREFIX)/bin/envyro-runc $(DESTDIR)$(PREFIX)/bin/envyro-runc-restricted $(DESTDIR)$(PREFIX)/bin/envyro-supervisor $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-cli $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-nshelper $(DESTDIR)$(PREFIX)/libexec/envyro/envyro-ioworker
	rm -f $(DESTDIR)$(PREFIX)/lib/systemd/user/envyro-supervisor.service $(DESTDIR)$(PREFIX)/lib/systemd/user/envyro-supervisor.socket
	rm -rf $(DESTDIR)$(PREFIX)/share/envyro
