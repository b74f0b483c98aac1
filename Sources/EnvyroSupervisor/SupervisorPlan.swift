// EmbeddedSupervisor's plan: a RunSpec and the policy lowered once into the CreateRequest the helper receives.

import CEnvyro
import EnvyroEngine
import EnvyroIO
import EnvyroJSON
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSeccomp
import EnvyroSystem
import Glibc
import Synchronization

extension EmbeddedSupervisor {
    /// Everything that depends only on the policy and the request: environment built once
    /// (from the policy's shared template, read without a copy), validated, templated, executor
    /// applied, limits batched. The product is the `CreateRequest` the helper lowers; its argv
    /// and env are views of the request's own (the context's) bytes.
    func plan(_ request: RunSpec) throws(SupervisorError) -> CreateRequest {
        let loaded = try policy()
        // The environment, built here and only here: the policy's shared template (not
        // cloned: only read) and HOSTNAME before the run's own entries, in the run's arena.
        let base: CowResource<[String]>
        do { base = try engine.shared.share(loaded.environmentResource, as: [String].self) } catch {
            throw .invalidRequest("\(error)")
        }
        let env = RunPlanner.environment(base: base.value, hostname: request.hostname, extra: request.env)
        var create = try RunPlanner.plan(request, policy: loaded.policy, environment: env)

        // The template for this request shape: a hit skips seccomp compilation and the profile's
        // limit batch. An extra seccomp profile is compiled once and kept in the template (its
        // key carries the profile's digest, so an edited file compiles again).
        var extraProfile: SeccompProfile? = nil
        if let path = request.seccompProfile {
            do { extraProfile = try SeccompProfile.load(path: path) } catch {
                throw .invalidRequest("--seccomp \(path): \(error)")
            }
        }
        let key = TemplateKey(
            policyName: loaded.policy.name,
            policyDigest: loaded.key + "|profile:" + (request.profile ?? "") + "|seccomp:" + (extraProfile?.digest ?? ""),
            namespaces: UInt64(create.namespaces.rawValue),
            networkMode: request.network ?? loaded.policy.network.default.rawValue,
            rootfsKind: request.rootfs == nil ? "default" : "directory", writable: request.rootfsWritable,
            runsInit: request.useInit)
        let template: NamespaceTemplate
        do {
            template = try engine.templates.getOrCreate(key) { () throws -> NamespaceTemplate in
                NamespaceTemplate(
                    cloneFlags: UInt64(create.namespaces.rawValue),
                    seccompProgram: try extraProfile.map { (p) throws -> [UInt8] in
                        // Compiled for the capabilities the container keeps under this policy.
                        try SeccompCompiler.compile(p, capabilities: Set(loaded.policy.capabilities.keep)).bpf
                    },
                    limitBatch: try LimitPlanner.base(profile: request.profile, policy: loaded.policy))
            }
        } catch {
            throw Self.wrap(error)
        }
        create.namespaces = NamespaceSet(rawValue: UInt32(truncatingIfNeeded: template.cloneFlags))

        create.seccomp = template.seccompProgram ?? []

        // Limits: the template's profile batch, the run's flags, the policy's defaults and maxima.
        let batch = try LimitPlanner.batch(base: template.limitBatch ?? ResourceLimitBatch(), flags: request, policy: loaded.policy)
        create.limits = LimitPlanner.wire(batch)

        guard loaded.policy.executors.allows(request.executor) else {
            let allowed = (loaded.policy.executors.allowed ?? []).joined(separator: ", ")
            throw .notAllowed("--executor \(request.executor) is not allowed by policy \(loaded.policy.name) (allowed: \(allowed))")
        }
        let spec = ExecutorSpec(argv: request.argv, env: env, cwd: request.cwd, rootfs: request.rootfs)
        let execPlan: ExecPlan
        do { execPlan = try engine.executors.prepare(type: request.executor, spec) } catch {
            throw .invalidRequest(Self.describe(error))
        }
        create.argv = execPlan.argv
        create.env = execPlan.env
        create.cwd = execPlan.cwd
        // The policy's environment limit, checked once, on the environment the container gets.
        if create.env.count > loaded.policy.process.maxEnv {
            throw .notAllowed("\(create.env.count) environment variables exceed policy \(loaded.policy.name)'s limit of \(loaded.policy.process.maxEnv)")
        }
        return create
    }
}
