// EmbeddedSupervisor's setup: a run's context, its helper and its plan made ready (PreparedRun), warm or concurrently.

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
    /// A run whose setup is done: planned, its helper ready, its context taken.
    public struct PreparedRun: @unchecked Sendable {
        let request: RunSpec
        let create: CreateRequest
        let helper: HelperProcess
        let ownHelper: Bool
        let context: ExecutionContext
        let setup: SetupResult
    }

    /// A pooled context holding this run's argv, environment flags and working directory.
    private func acquireContext(for request: RunSpec) -> ExecutionContext {
        let context = engine.contexts.acquire()
        context.argv = request.argv
        context.env = request.env
        context.cwd = request.cwd
        context.policyName = policyReference
        return context
    }

    /// Setup with a warm helper (the daemon): planning only, on the calling thread.
    public func prepareWarm(_ request: RunSpec, helper: HelperProcess) throws(SupervisorError) -> PreparedRun {
        let context = acquireContext(for: request)
        let t0 = Clock.monotonicNanoseconds()
        let create: CreateRequest
        do { create = try plan(request) } catch {
            engine.contexts.release(context)
            throw error
        }
        let took = max(1, Clock.monotonicNanoseconds() - t0)
        let setup = SetupResult(steps: [SetupStepTiming(name: "helper (warm)", durationNs: 1, ok: true),
                                        SetupStepTiming(name: "plan", durationNs: took, ok: true)], totalNs: took)
        return PreparedRun(request: request, create: create, helper: helper, ownHelper: false, context: context, setup: setup)
    }

    /// The setup steps, concurrently: `helper` (start and greet it, unless one is given) and
    /// `plan` (policy, template, environment, executor, limits).
    public func prepare(_ request: RunSpec, helper given: HelperProcess? = nil) async throws(SupervisorError) -> PreparedRun {
        let context = acquireContext(for: request)

        let planned = Mutex<CreateRequest?>(nil)
        let setup: SetupResult
        do {
            setup = try await ParallelSetup.run([
                SetupStep("helper") { [helper] in if given == nil { _ = try helper.get() } },
                SetupStep("plan") { [self] in
                    let create = try self.plan(request)
                    planned.withLock { $0 = create }
                },
            ])
        } catch let failure as SetupStepFailure {
            engine.contexts.release(context)
            if failure.step == "helper" { _ = helper.reset() }
            throw Self.wrap(failure.underlying)
        } catch {
            engine.contexts.release(context)
            throw Self.wrap(error)
        }
        guard let create = planned.withLock({ $0 }) else {
            engine.contexts.release(context)
            throw .invalidRequest("planning produced no request")
        }
        let h: HelperProcess
        if let given { h = given } else {
            do { h = try helper.get() } catch {
                engine.contexts.release(context)
                throw Self.wrap(error)
            }
        }
        return PreparedRun(request: request, create: create, helper: h, ownHelper: given == nil, context: context, setup: setup)
    }
}
