// swift-tools-version: 6.1
//
// Envyro: a rootless-first, privilege-separated container runtime.
//
// The package graph enforces the privilege boundary (see shared/DESIGN.md):
//   helpers/           EnvyroHelper (the helper's logic) and envyro-nshelper (its main) may
//                      depend on CEnvyro, EnvyroSystem, EnvyroJSON, EnvyroProtocol, EnvyroPolicy,
//                      EnvyroAudit, EnvyroSeccomp, EnvyroCgroup -- never on the supervisor or
//                      Foundation.
//   EnvyroSupervisor   the unprivileged engine; the CLI embeds it.
//   EnvyroOCIRuntime   envyro as an OCI runtime (runc's command line); envyro-cli's main calls it.
//   Benchmarks/        EnvyroBenchmarks (envyro bench), envyro-helper-bench, envyro-load: never
//                      on a run path, never given capabilities.
import PackageDescription

let strictSwift: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "envyro",
    products: [
        .executable(name: "envyro", targets: ["envyro"]),
        .executable(name: "envyro-cli", targets: ["envyro-cli"]),
        .executable(name: "envyro-nshelper", targets: ["envyro-nshelper"]),
        .executable(name: "envyro-supervisor", targets: ["envyro-supervisor"]),
        .executable(name: "envyro-ioworker", targets: ["envyro-ioworker"]),
        .executable(name: "envyro-helper-bench", targets: ["envyro-helper-bench"]),
        .executable(name: "envyro-load", targets: ["envyro-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // C only where Swift can't go: variadic syscalls, macros, and the code that runs
        // between clone and execve (async-signal-safe, no malloc).
        .target(
            name: "CEnvyro",
            path: "Sources/CEnvyro",
            cSettings: [.define("_GNU_SOURCE")],
            // libmd: SHA-256 for the audit chain.
            linkerSettings: [.linkedLibrary("md")]
        ),
        // libseccomp, for compiling OCI/moby seccomp profiles to BPF.
        .systemLibrary(name: "CSeccomp", path: "Sources/CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        // Seccomp profiles (OCI/moby JSON) compiled to BPF. No Foundation: the helper uses it.
        .target(name: "EnvyroSeccomp", dependencies: ["CSeccomp", "CEnvyro", "EnvyroJSON", "EnvyroSystem"], swiftSettings: strictSwift),
        // cgroup v1 and v2 drivers, used by the helper. No Foundation.
        .target(name: "EnvyroCgroup", dependencies: ["CEnvyro", "EnvyroSystem"], swiftSettings: strictSwift),
        // Linked only into the CLI: blocks job-control signals before any thread starts.
        .target(name: "CEnvyroCLI", path: "Sources/CEnvyroCLI"),
        // Thin syscall layer: errors that name the call and its subject.
        .target(name: "EnvyroSystem", dependencies: ["CEnvyro"], swiftSettings: strictSwift),
        // Foundation-free JSON (policies, audit lines, CLI --json).
        .target(name: "EnvyroJSON", swiftSettings: strictSwift),
        // The one wire protocol module both sides import (and the run description, RunField).
        .target(name: "EnvyroProtocol", dependencies: ["EnvyroJSON"], swiftSettings: strictSwift),
        // Policy files: schema, loading, validation.
        .target(name: "EnvyroPolicy", dependencies: ["EnvyroJSON", "EnvyroSystem"], swiftSettings: strictSwift),
        // Audit log: one JSON line per helper call, SHA-256 chained.
        .target(name: "EnvyroAudit", dependencies: ["CEnvyro", "EnvyroJSON", "EnvyroSystem"], swiftSettings: strictSwift),
        // The engine: pools, caches, lazy resources, limit batches, executor registry.
        .target(
            name: "EnvyroEngine",
            dependencies: [
                // EnvyroProtocol: SecretStrings, the run's argv and env a context holds.
                "CEnvyro", "EnvyroSystem", "EnvyroProtocol",
                .product(name: "Collections", package: "swift-collections"),
            ],
            swiftSettings: strictSwift
        ),
        // OCI runtime-spec documents: config.json (strict reader), state, features, `spec`.
        // Pure Swift, no Foundation, unprivileged (issue 8).
        .target(name: "EnvyroOCI", dependencies: ["EnvyroJSON", "EnvyroSystem", "CEnvyro"], swiftSettings: strictSwift),
        // envyro as an OCI runtime: runc's command line (OCIMain), the commands (OCIRuntime),
        // config.json lowered to the helper's oci_create request (OCILowering). Unprivileged: every
        // privileged step is a helper verb. envyro-cli's main calls it (also as `envyro-runc`).
        .target(
            name: "EnvyroOCIRuntime",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroJSON", "EnvyroOCI", "EnvyroProtocol", "EnvyroPolicy",
                           "EnvyroSeccomp", "EnvyroCgroup", "EnvyroEngine", "EnvyroSupervisor"],
            swiftSettings: strictSwift
        ),
        // The unprivileged supervisor, embedded by the CLI.
        .target(
            name: "EnvyroSupervisor",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroJSON", "EnvyroProtocol", "EnvyroPolicy", "EnvyroEngine", "EnvyroSeccomp", "EnvyroIO", "EnvyroClient"],
            swiftSettings: strictSwift
        ),
        // The client protocol, and `envyro run` through a running supervisor (small: no engine).
        .target(name: "EnvyroClient", dependencies: ["CEnvyro", "EnvyroJSON", "EnvyroProtocol", "EnvyroSystem"],
                swiftSettings: strictSwift),
        // `envyro`: the front, in C (a Swift binary spends ~1.3 ms starting its runtime; this
        // path is the product's hot path). Serves `envyro run` through a running supervisor;
        // execs envyro-cli for everything else.
        // It links CEnvyro for spawn_helper.c: it starts the helper of a run no supervisor serves.
        .executableTarget(name: "envyro", dependencies: ["CEnvyro"], path: "Sources/envyro-front"),
        .executableTarget(
            name: "envyro-cli",
            dependencies: [
                "EnvyroSupervisor", "EnvyroPolicy", "EnvyroJSON", "EnvyroSystem", "EnvyroAudit", "CEnvyro", "CEnvyroCLI", "EnvyroEngine", "EnvyroIO", "EnvyroClient",
                "EnvyroOCI", "EnvyroOCIRuntime", "EnvyroProtocol", "EnvyroSeccomp", "EnvyroCgroup", "EnvyroBenchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/envyro-cli",
            swiftSettings: strictSwift
        ),
        // The long-running supervisor daemon.
        .executableTarget(
            name: "envyro-supervisor",
            dependencies: ["EnvyroSupervisor", "EnvyroClient"],
            path: "Sources/envyro-supervisor",
            swiftSettings: strictSwift
        ),
        // Everything that holds a privilege lives under helpers/. The helper's logic (verb
        // handlers, policy checks, the create sequence, pools) is a library with a syscall seam,
        // unit-tested without root (Tests/EnvyroHelperTests); envyro-nshelper is its thin main.
        .target(
            name: "EnvyroHelper",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroJSON", "EnvyroProtocol", "EnvyroPolicy", "EnvyroAudit",
                           "EnvyroSeccomp", "EnvyroCgroup"],
            path: "helpers/EnvyroHelper",
            swiftSettings: strictSwift
        ),
        .executableTarget(
            name: "envyro-nshelper",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroProtocol", "EnvyroPolicy", "EnvyroAudit", "EnvyroCgroup", "EnvyroHelper"],
            path: "helpers/nshelper",
            swiftSettings: strictSwift
        ),
        // The benchmarks of the engine, the I/O worker, seccomp compilation and cgroups, for
        // `envyro bench` (make bench), envyro-helper-bench and their tests. Never on a run path.
        .target(
            name: "EnvyroBenchmarks",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroEngine", "EnvyroIO", "EnvyroProtocol", "EnvyroSeccomp", "EnvyroCgroup"],
            path: "Benchmarks/EnvyroBenchmarks",
            swiftSettings: strictSwift
        ),
        // The helper's benchmark and fuzz drivers: an unprivileged program that drives a real
        // envyro-nshelper over its socket. Never in the privileged binary, never given
        // capabilities (it refuses to run with them) (issue 13, item 9).
        .executableTarget(
            name: "envyro-helper-bench",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroProtocol", "EnvyroPolicy", "EnvyroSeccomp", "EnvyroCgroup", "EnvyroBenchmarks"],
            path: "Benchmarks/helper-bench",
            swiftSettings: strictSwift
        ),
        // The load and fault driver (issue 14): an ordinary client of one supervisor that keeps N
        // runs in flight, kills a helper, the I/O worker and the supervisor, and checks for leaks.
        // Unprivileged; it starts the supervisor it drives as its own child.
        .executableTarget(
            name: "envyro-load",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroJSON", "EnvyroClient", "EnvyroProtocol"],
            path: "Benchmarks/load",
            swiftSettings: strictSwift
        ),
        // The I/O worker (io_uring, in its own process) and the supervisor's client for it.
        // `ENVYRO_NO_URING=1 swift build` compiles io_uring out: every I/O operation then fails
        // with an error naming the switch, and liburing is not linked.
        .systemLibrary(name: "CURing", path: "Sources/CURing", pkgConfig: "liburing",
                       providers: [.apt(["liburing-dev"])]),
        .target(
            name: "EnvyroIO",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroProtocol", "EnvyroEngine"],
            swiftSettings: strictSwift + (Context.environment["ENVYRO_NO_URING"].map { _ in [.define("ENVYRO_NO_URING")] } ?? [])
        ),
        .executableTarget(
            name: "envyro-ioworker",
            dependencies: ["CEnvyro", "EnvyroSystem", "EnvyroProtocol", "CSeccomp"]
                + (Context.environment["ENVYRO_NO_URING"] == nil ? ["CURing"] : []),
            path: "helpers/ioworker",
            swiftSettings: strictSwift + (Context.environment["ENVYRO_NO_URING"].map { _ in [.define("ENVYRO_NO_URING")] } ?? [])
        ),
        .testTarget(name: "EnvyroIOTests", dependencies: ["EnvyroIO", "EnvyroProtocol", "EnvyroEngine", "EnvyroSystem", "CEnvyro"]),
        .testTarget(name: "EnvyroJSONTests", dependencies: ["EnvyroJSON"]),
        .testTarget(name: "EnvyroOCITests", dependencies: ["EnvyroOCI", "EnvyroJSON"]),
        .testTarget(name: "EnvyroOCIRuntimeTests", dependencies: ["EnvyroOCIRuntime", "EnvyroOCI", "EnvyroProtocol", "EnvyroSystem"]),
        .testTarget(name: "EnvyroAuditTests", dependencies: ["EnvyroAudit"]),
        .testTarget(name: "EnvyroProtocolTests", dependencies: ["EnvyroProtocol", "EnvyroJSON"]),
        .testTarget(name: "EnvyroPolicyTests", dependencies: ["EnvyroPolicy", "EnvyroJSON"]),
        .testTarget(name: "EnvyroEngineTests", dependencies: ["EnvyroEngine", "EnvyroProtocol"]),
        .testTarget(name: "EnvyroSupervisorTests", dependencies: ["EnvyroSupervisor", "EnvyroEngine", "EnvyroJSON", "EnvyroProtocol"]),
        .testTarget(name: "EnvyroSeccompTests", dependencies: ["EnvyroSeccomp", "EnvyroJSON", "EnvyroSystem", "CEnvyro"]),
        .testTarget(name: "EnvyroCgroupTests", dependencies: ["EnvyroCgroup", "EnvyroSystem", "CEnvyro", "EnvyroBenchmarks"]),
        .testTarget(name: "EnvyroBenchmarksTests", dependencies: ["EnvyroBenchmarks", "EnvyroIO", "EnvyroSeccomp", "EnvyroSystem"]),
        .testTarget(name: "EnvyroSystemTests", dependencies: ["EnvyroSystem"]),
        .testTarget(name: "EnvyroHelperTests",
                    dependencies: ["EnvyroHelper", "EnvyroProtocol", "EnvyroPolicy", "EnvyroAudit", "EnvyroSystem", "EnvyroCgroup", "CEnvyro"]),
        .testTarget(
            name: "EnvyroIntegrationTests",
            dependencies: ["EnvyroSystem", "EnvyroJSON", "EnvyroAudit", "EnvyroProtocol", "CEnvyro"]
        ),
        // Every attack that once worked, performed for real against the built binaries (issue 13).
        // Its Harness.swift, Fixtures.swift and OCIBundle.swift are links to the integration
        // tests' files. `make test` runs it in a second `swift test` process, so that its
        // attacks never overlap the integration tests' leak checks.
        .testTarget(
            name: "EnvyroHostileTests",
            dependencies: ["EnvyroSystem", "EnvyroJSON", "EnvyroAudit", "EnvyroProtocol", "CEnvyro"]
        ),
    ]
)
