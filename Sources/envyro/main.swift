// envyro: small on purpose. A run through a running supervisor is served here, in a binary
// without the argument-parsing library, the engine or libseccomp (it starts in about half the
// time, measured); everything else is handed to envyro-cli (beside this binary, or in
// ../libexec/envyro/) by exec, with the same arguments.
import EnvyroClient
import EnvyroSystem
import Glibc

FastRun.attempt(CommandLine.arguments)

let exe = Files.executablePath()
let dir = Files.directory(of: exe)
let candidates = [Environment.get("ENVYRO_CLI") ?? "", dir + "/envyro-cli", Files.directory(of: dir) + "/libexec/envyro/envyro-cli"]
for path in candidates where !path.isEmpty && access(path, X_OK) == 0 {
    var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) }
    argv[0] = strdup(path)
    argv.append(nil)
    execv(path, &argv)
}
complain("envyro-cli is missing beside \(exe) (or in ../libexec/envyro/); reinstall envyro")
exit(125)
