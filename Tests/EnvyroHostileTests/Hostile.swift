import Foundation
import Testing

/// Every attack that once worked against envyro (issue 13), performed for real against the built
/// binaries, as root and as an ordinary user. Each test fails if its attack works again.
///
/// The suite runs in a `swift test` process of its own (see the Makefile), serialized, so that
/// no attack overlaps another test's leak checks. Each case's file names the CVE class it
/// belongs to; the README's security section lists them.
@Suite("hostile workloads and neighbours", .serialized,
       .enabled(if: Harness.userNamespacesWork, "user namespaces can't be created on this machine (unshare --user fails)"))
struct Hostile {
    static let identities = Harness.Identity.allCases.filter(\.available)
}
