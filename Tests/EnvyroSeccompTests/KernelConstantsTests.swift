import CEnvyro
import EnvyroSeccomp
import EnvyroSystem
import Foundation
import Testing

/// Every capability member with its kernel name and `cenvyro.h` number.
private let members: [(CapabilitySet, String, Int32)] = [
    (.chown, "CAP_CHOWN", ENVYRO_CAP_CHOWN),
    (.dacOverride, "CAP_DAC_OVERRIDE", ENVYRO_CAP_DAC_OVERRIDE),
    (.dacReadSearch, "CAP_DAC_READ_SEARCH", ENVYRO_CAP_DAC_READ_SEARCH),
    (.fowner, "CAP_FOWNER", ENVYRO_CAP_FOWNER),
    (.fsetid, "CAP_FSETID", ENVYRO_CAP_FSETID),
    (.kill, "CAP_KILL", ENVYRO_CAP_KILL),
    (.setgid, "CAP_SETGID", ENVYRO_CAP_SETGID),
    (.setuid, "CAP_SETUID", ENVYRO_CAP_SETUID),
    (.setpcap, "CAP_SETPCAP", ENVYRO_CAP_SETPCAP),
    (.linuxImmutable, "CAP_LINUX_IMMUTABLE", ENVYRO_CAP_LINUX_IMMUTABLE),
    (.netBindService, "CAP_NET_BIND_SERVICE", ENVYRO_CAP_NET_BIND_SERVICE),
    (.netBroadcast, "CAP_NET_BROADCAST", ENVYRO_CAP_NET_BROADCAST),
    (.netAdmin, "CAP_NET_ADMIN", ENVYRO_CAP_NET_ADMIN),
    (.netRaw, "CAP_NET_RAW", ENVYRO_CAP_NET_RAW),
    (.ipcLock, "CAP_IPC_LOCK", ENVYRO_CAP_IPC_LOCK),
    (.ipcOwner, "CAP_IPC_OWNER", ENVYRO_CAP_IPC_OWNER),
    (.sysModule, "CAP_SYS_MODULE", ENVYRO_CAP_SYS_MODULE),
    (.sysRawio, "CAP_SYS_RAWIO", ENVYRO_CAP_SYS_RAWIO),
    (.sysChroot, "CAP_SYS_CHROOT", ENVYRO_CAP_SYS_CHROOT),
    (.sysPtrace, "CAP_SYS_PTRACE", ENVYRO_CAP_SYS_PTRACE),
    (.sysPacct, "CAP_SYS_PACCT", ENVYRO_CAP_SYS_PACCT),
    (.sysAdmin, "CAP_SYS_ADMIN", ENVYRO_CAP_SYS_ADMIN),
    (.sysBoot, "CAP_SYS_BOOT", ENVYRO_CAP_SYS_BOOT),
    (.sysNice, "CAP_SYS_NICE", ENVYRO_CAP_SYS_NICE),
    (.sysResource, "CAP_SYS_RESOURCE", ENVYRO_CAP_SYS_RESOURCE),
    (.sysTime, "CAP_SYS_TIME", ENVYRO_CAP_SYS_TIME),
    (.sysTtyConfig, "CAP_SYS_TTY_CONFIG", ENVYRO_CAP_SYS_TTY_CONFIG),
    (.mknod, "CAP_MKNOD", ENVYRO_CAP_MKNOD),
    (.lease, "CAP_LEASE", ENVYRO_CAP_LEASE),
    (.auditWrite, "CAP_AUDIT_WRITE", ENVYRO_CAP_AUDIT_WRITE),
    (.auditControl, "CAP_AUDIT_CONTROL", ENVYRO_CAP_AUDIT_CONTROL),
    (.setfcap, "CAP_SETFCAP", ENVYRO_CAP_SETFCAP),
    (.macOverride, "CAP_MAC_OVERRIDE", ENVYRO_CAP_MAC_OVERRIDE),
    (.macAdmin, "CAP_MAC_ADMIN", ENVYRO_CAP_MAC_ADMIN),
    (.syslog, "CAP_SYSLOG", ENVYRO_CAP_SYSLOG),
    (.wakeAlarm, "CAP_WAKE_ALARM", ENVYRO_CAP_WAKE_ALARM),
    (.blockSuspend, "CAP_BLOCK_SUSPEND", ENVYRO_CAP_BLOCK_SUSPEND),
    (.auditRead, "CAP_AUDIT_READ", ENVYRO_CAP_AUDIT_READ),
    (.perfmon, "CAP_PERFMON", ENVYRO_CAP_PERFMON),
    (.bpf, "CAP_BPF", ENVYRO_CAP_BPF),
    (.checkpointRestore, "CAP_CHECKPOINT_RESTORE", ENVYRO_CAP_CHECKPOINT_RESTORE),
]

/// cenvyro.h's clone flags, by the kernel's name.
private let cloneFlags: [(String, UInt64)] = [
    ("CLONE_NEWNS", ENVYRO_CLONE_NEWNS), ("CLONE_NEWCGROUP", ENVYRO_CLONE_NEWCGROUP),
    ("CLONE_NEWUTS", ENVYRO_CLONE_NEWUTS), ("CLONE_NEWIPC", ENVYRO_CLONE_NEWIPC),
    ("CLONE_NEWUSER", ENVYRO_CLONE_NEWUSER), ("CLONE_NEWPID", ENVYRO_CLONE_NEWPID),
    ("CLONE_NEWNET", ENVYRO_CLONE_NEWNET),
]

/// A C program, compiled at test time, that prints the kernel headers' values as NAME=value.
private let printerSource = #"""
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <linux/capability.h>
#define CAP(n) printf("%s=%d\n", #n, n);
int main(void) {
"""# + "\n" + cloneFlags.map { #"    printf("\#($0.0)=%llu\n", (unsigned long long)\#($0.0));"# }.joined(separator: "\n")
    + "\n" + CapabilitySet.allNames.map { "    CAP(\($0))" }.joined(separator: "\n")
    + "\n    CAP(CAP_LAST_CAP)\n    return 0;\n}\n"

/// The kernel headers' values, from the printer; nil (with a reason) when it can't be built.
private let kernelValues: (values: [String: UInt64], skip: String?) = {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") else {
        return ([:], "/usr/bin/gcc is missing: can't read the kernel headers")
    }
    let dir = NSTemporaryDirectory() + "envyro-kconst-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try printerSource.write(toFile: dir + "/p.c", atomically: false, encoding: .utf8)
        let gcc = Process()
        gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        gcc.arguments = ["-o", dir + "/p", dir + "/p.c"]
        try gcc.run()
        gcc.waitUntilExit()
        guard gcc.terminationStatus == 0 else { return ([:], "gcc failed on the kernel headers") }
        let run = Process()
        let out = Pipe()
        run.executableURL = URL(fileURLWithPath: dir + "/p")
        run.standardOutput = out
        try run.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        run.waitUntilExit()
        var values: [String: UInt64] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let kv = line.split(separator: "=")
            if kv.count == 2, let v = UInt64(kv[1]) { values[String(kv[0])] = v }
        }
        return (values, nil)
    } catch {
        return ([:], "cannot build or run the header printer: \(error)")
    }
}()

@Suite("Kernel constants exported by cenvyro.h, and typed capability sets")
struct KernelConstantsTests {
    @Test("cenvyro.h's clone flags are the kernel headers' (linux/sched.h)", arguments: cloneFlags.map(\.0))
    func cloneFlagMatchesKernel(name: String) throws {
        if let reason = kernelValues.skip { print("skipped: \(reason)"); return }
        let ours = try #require(cloneFlags.first { $0.0 == name }?.1)
        #expect(kernelValues.values[name] == ours)
    }

    @Test("cenvyro.h's capability numbers are the kernel headers' (linux/capability.h)")
    func capabilityNumbersMatchKernel() {
        if let reason = kernelValues.skip { print("skipped: \(reason)"); return }
        for (_, name, number) in members {
            #expect(kernelValues.values[name] == UInt64(number), "\(name)")
        }
        #expect(kernelValues.values["CAP_LAST_CAP"] == UInt64(CapabilitySet.lastNumber))
    }

    @Test("The running kernel knows every capability named here")
    func runningKernelKnowsThem() throws {
        let text = try String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8)
        let last = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(last >= CapabilitySet.lastNumber)
    }

    @Test("Each CapabilitySet member is its header number's bit and round-trips through its name", arguments: members.indices)
    func memberRoundTrips(index: Int) {
        let (set, name, number) = members[index]
        #expect(set == CapabilitySet(number: number))
        #expect(set.rawValue == 1 << UInt64(number))
        #expect(set.names == [name])
        #expect(CapabilitySet(names: [name]) == set)
        #expect(CapabilitySet.number(of: name) == number)
        #expect(CapabilitySet.name(of: number) == name)
        #expect(Capabilities.number(of: name) == number)
    }

    @Test("Every capability has a member, a name and a distinct bit")
    func tableIsComplete() {
        #expect(members.count == Int(CapabilitySet.lastNumber) + 1)
        #expect(CapabilitySet.allNames.count == members.count)
        #expect(Set(members.map(\.1)).count == members.count)
        #expect(members.reduce(CapabilitySet()) { $0.union($1.0) } == .all)
        #expect(CapabilitySet.all.names == CapabilitySet.allNames)
    }

    @Test("Names that are not capabilities are left out of a set, and sets keep number order")
    func namesToSets() {
        #expect(CapabilitySet(names: ["CAP_NOPE", "cap_chown"]).isEmpty)
        let set = CapabilitySet(names: ["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_NET_RAW"])
        #expect(set == [.chown, .netRaw, .sysAdmin])
        #expect(set.names == ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"])
        #expect(CapabilitySet.name(of: CapabilitySet.lastNumber + 1) == nil)
        #expect(CapabilitySet.name(of: -1) == nil)
    }
}
