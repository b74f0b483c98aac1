// Issue 17's process settings lowered into the C configs (ENVYRO_PROCESS_EXTRAS in
// cenvyro.h): ioprio, personality, kept groups and preserved fds, the same for a bundle's first
// process and an exec'd one.
import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// The process extras both C configs carry (the OCI child's and exec's), set in one place.
protocol ProcessExtrasFields {
    var ioprio: UInt32 { get set }
    var has_personality: Int32 { get set }
    var personality: UInt32 { get set }
    var keep_groups: Int32 { get set }
    var preserved_fds: UnsafePointer<Int32>? { get set }
    var preserved_fd_count: Int32 { get set }
}

extension ProcessExtrasFields {
    /// The extras of `x`, with `preserved` as the process's fds 3, 4, ...
    mutating func setExtras(_ x: WireProcessExtras, preserved: [Int32], memory: ConfigMemory) {
        ioprio = x.ioPriority < 0 ? 0 : UInt32(x.ioPriority)
        has_personality = x.personality == nil ? 0 : 1
        personality = x.personality ?? 0
        keep_groups = x.keepGroups ? 1 : 0
        preserved_fds = memory.values(preserved)
        preserved_fd_count = Int32(preserved.count)
    }
}

extension envyro_oci_config: ProcessExtrasFields {}
extension envyro_exec_config: ProcessExtrasFields {}

extension HelperServer {
    /// Whether process `pid` is in another time namespace than this helper (a container with
    /// `linux.timeOffsets`): an exec'd process must join it as well.
    static func differentTimeNamespace(pid: Int32) -> Bool {
        var theirs = stat(), ours = stat()
        guard stat("/proc/\(pid)/ns/time", &theirs) == 0, stat("/proc/self/ns/time", &ours) == 0 else { return false }
        return theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev
    }
}

extension HelperServer {
    /// Moves each `linux.netDevices` interface into the network namespace of `pid`, renamed;
    /// nil when all moved, else the errno and a message naming the device.
    func moveNetDevices(_ devices: [WireNetDevice], into pid: Int32) -> (errno: Int32, message: String)? {
        for d in devices where envyro_netdev_move(d.hostName, d.name, pid) != 0 {
            let e = errno
            let why = e == ENODEV ? "no such interface on the host" : Errno.describe(e)
            return (e, "linux.netDevices: cannot move \(d.hostName) into the container as \(d.name): \(why)")
        }
        return nil
    }
}
