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

    /// A pooled context holding this run's argv, environment flags and working directory (`given`:
    /// the one the daemon parsed the request into), and the request with its argv and env made the
    /// context's lists: from here on the run's secrets exist once, in memory the pool zeroes.
    private func acquireContext(for request: inout RunSpec, given: ExecutionContext?) -> ExecutionContext {
        let context = given ?? engine.contexts.acquire()
        // Copies only what is not in the context yet (the embedded path: the command line's).
        context.argv = request.argv
        context.env = request.env
        request.argv = context.argv
        request.env = context.env
        context.cwd = request.cwd
        context.policyName = policyReference
        return context
    }

    /// A context for the daemon to parse a client's request into (``RunSpec/capturing(argv:env:)``);
    /// hand it to ``prepareWarm(_:helper:context:)``, or to ``releaseContext(_:)`` when the request is refused first.
    public func acquireContext() -> ExecutionContext { engine.contexts.acquire() }

    /// Zeroes a context's secrets and returns it to the pool.
    public func releaseContext(_ context: ExecutionContext) { engine.contexts.release(context) }

    /// Setup with a warm helper (the daemon): planning only, on the calling thread. `context`:
    /// the one the request was parsed into (released with the run, or here on failure).
    public func prepareWarm(_ request: RunSpec, helper: HelperProcess, context given: ExecutionContext? = nil) throws(SupervisorError) -> PreparedRun {
        var request = request
        let context = acquireContext(for: &request, given: given)
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
        var request = request
        let context = acquireContext(for: &request, given: nil)

        let planned = Mutex<CreateRequest?>(nil)
        let setup: SetupResult
        do {
            setup = try await ParallelSetup.run([
                SetupStep("helper") { [helper] in if given == nil { _ = try helper.get() } },
                SetupStep("plan") { [self, request] in
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
