import EnvyroProtocol
import Testing

@Suite("The verb table")
struct VerbTableTests {
    @Test("every verb has exactly one row, and no two rows share a name")
    func oneRowPerVerb() {
        #expect(VerbTable.rows.map(\.verb) == Verb.allCases)
        #expect(Set(VerbTable.rows.map(\.row.name)).count == Verb.allCases.count)
        for (verb, row) in VerbTable.rows { #expect(verb.row == row) }
    }

    @Test("a row's flow agrees with its wire code: requests below 0x8000, replies 0x8xxx, events 0x9xxx",
          arguments: Verb.allCases)
    func flowMatchesCode(_ verb: Verb) {
        switch verb.row.flow {
        case .request: #expect(verb.rawValue & 0x8000 == 0)
        case .reply: #expect(verb.rawValue & 0xF000 == 0x8000)
        case .event: #expect(verb.rawValue & 0xF000 == 0x9000)
        }
        // Only requests are permitted anywhere: replies and events never reach the permit check.
        #expect(verb.row.phases.isEmpty == (verb.row.flow != .request))
        #expect(!verb.row.once || verb.row.flow == .request)
    }

    /// The README's rules: `hello` first and once; every other request only after it, and only
    /// when the policy lists it; fds travel with create (stdio), oci_create (stdio, start
    /// socket, console) and oci_exec (stdio, console).
    @Test("the phase rules are the README's", arguments: [
        (Verb.hello, HelperPhases.greeting, true, false, 0),
        (.create, .ready, false, true, 3),
        (.signal, .ready, false, true, 0),
        (.collect, .ready, false, true, 0),
        (.ociCreate, .ready, false, true, 5),
        (.ociControl, .ready, false, true, 0),
        (.ociExec, .ready, false, true, 4),
    ] as [(Verb, HelperPhases, Bool, Bool, Int)])
    func phaseRules(_ verb: Verb, _ phases: HelperPhases, _ once: Bool, _ listed: Bool, _ fds: Int) {
        #expect(verb.row.phases == phases)
        #expect(verb.row.once == once)
        #expect(verb.row.policyListed == listed)
        #expect(verb.row.fileDescriptors == fds)
    }

    @Test("the permit check: hello first and once, the rest after it and only when the policy lists them")
    func permits() {
        let all = Verb.allCases.filter(\.isRequest).map(\.name)
        func refusal(_ v: Verb, _ p: HelperPhases, served: Set<Verb> = [], listed: [String] = all) -> String? {
            VerbTable.refusal(v, phase: p, served: served, policyVerbs: listed, policyName: "t")
        }
        #expect(refusal(.hello, .greeting) == nil)
        #expect(refusal(.hello, .greeting, listed: []) == nil)
        #expect(refusal(.create, .greeting) == "not permitted before hello")
        #expect(refusal(.hello, .ready, served: [.hello]) == "hello is permitted once")
        #expect(refusal(.create, .ready, served: [.hello]) == nil)
        #expect(refusal(.ociExec, .ready, served: [.hello], listed: ["create"]) == "verb not permitted by policy t")
        #expect(refusal(.created, .ready) == "not a request")
    }

    @Test("a child's step number becomes its typed step; unknown and non-failure records are `setup`")
    func childSteps() {
        #expect(FailureStep(childStep: 19) == .exec)
        #expect(FailureStep(childStep: 14) == .cwd)
        #expect(FailureStep(childStep: 120) == .session)
        #expect(FailureStep(childStep: 100) == .setup)
        #expect(FailureStep(childStep: 0x200) == .setup)
        #expect(FailureStep(childStep: -1) == .setup)
        #expect(Set(FailureStep.allCases.map(\.name)).count == FailureStep.allCases.count)
    }
}
