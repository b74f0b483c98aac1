#!/usr/bin/python3
# A minimal CRI client (what the kubelet or crictl say to containerd's CRI plugin), for
# engines.sh: the runtime.v1 RuntimeService over gRPC on containerd's socket, with the few
# protobuf messages it needs encoded by hand (python3-grpcio carries the bytes; no generated
# code, no cri-api checkout). Field numbers: k8s.io/cri-api pkg/apis/runtime/v1/api.proto.
#
#   cri.py SOCK version
#   cri.py SOCK run-pod NAME CGROUP_PARENT LOG_DIR                   -> the sandbox id
#   cri.py SOCK create POD_ID NAME CGROUP_PARENT LOG_DIR IMAGE LOG_PATH CMD...   -> the container id
#   cri.py SOCK start|rm CID
#   cri.py SOCK stop CID TIMEOUT
#   cri.py SOCK status CID                                            -> "STATE EXIT_CODE"
#   cri.py SOCK exec CID TIMEOUT CMD...      (its stdout, stderr and exit code are the command's)
#   cri.py SOCK stop-pod|rm-pod POD_ID
#   cri.py SOCK pods                                                  -> the sandbox ids
#
# The pod's config is rebuilt from NAME, CGROUP_PARENT and LOG_DIR for `create` (CRI passes it
# again). Errors: the gRPC status on stderr, exit 1.
import sys

import grpc


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    """One field: an int (varint), a str/bytes (length-delimited) or an encoded message."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def decode(data):
    """{field number: [values]}: ints for varints, bytes for length-delimited fields."""
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = read_varint(data, i)
        elif wire == 2:
            n, i = read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wire == 1:
            v, i = data[i:i + 8], i + 8
        elif wire == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unknown wire type %d" % wire)
        out.setdefault(num, []).append(v)
    return out


def read_varint(data, i):
    n = shift = 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


NAMESPACE_POD, NAMESPACE_CONTAINER = 0, 1
STATES = {0: "CREATED", 1: "RUNNING", 2: "EXITED", 3: "UNKNOWN"}


def pod_config(name, cgroup_parent, log_dir):
    metadata = field(1, name) + field(2, "uid-" + name) + field(3, "envyro")
    # The pod's own network and ipc namespaces, a pid namespace per container (the kubelet's
    # default for pods).
    ns = field(1, NAMESPACE_POD) + field(2, NAMESPACE_CONTAINER) + field(3, NAMESPACE_POD)
    linux = field(1, cgroup_parent) + field(2, field(1, ns))
    return field(1, metadata) + field(2, name) + field(3, log_dir) + field(8, linux)


def call(channel, method, request):
    rpc = channel.unary_unary("/runtime.v1.RuntimeService/" + method,
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return decode(rpc(request, timeout=120))


def text(fields, num):
    return fields.get(num, [b""])[0].decode()


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__ or "usage: cri.py SOCK COMMAND ...\n")
        return 2
    sock, cmd, args = argv[1], argv[2], argv[3:]
    with grpc.insecure_channel("unix://" + sock) as ch:
        try:
            if cmd == "version":
                r = call(ch, "Version", field(1, "v1"))
                print(text(r, 2), text(r, 3), text(r, 4))
            elif cmd == "run-pod":
                name, parent, log_dir = args
                r = call(ch, "RunPodSandbox", field(1, pod_config(name, parent, log_dir)))
                print(text(r, 1))
            elif cmd == "create":
                pod, name, parent, log_dir, image, log_path, *command = args
                ns = field(2, NAMESPACE_CONTAINER)
                config = (field(1, field(1, "c-" + log_path.split(".")[0])) + field(2, field(1, image))
                          + b"".join(field(3, a) for a in command) + field(11, log_path)
                          + field(15, field(2, field(3, ns))))
                r = call(ch, "CreateContainer", field(1, pod) + field(2, config) + field(3, pod_config(name, parent, log_dir)))
                print(text(r, 1))
            elif cmd == "start":
                call(ch, "StartContainer", field(1, args[0]))
            elif cmd == "stop":
                call(ch, "StopContainer", field(1, args[0]) + field(2, int(args[1])))
            elif cmd == "rm":
                call(ch, "RemoveContainer", field(1, args[0]))
            elif cmd == "status":
                r = call(ch, "ContainerStatus", field(1, args[0]))
                st = decode(r[1][0])
                print(STATES.get(st.get(3, [0])[0], "?"), st.get(7, [0])[0])
            elif cmd == "exec":
                cid, timeout, *command = args
                r = call(ch, "ExecSync", field(1, cid) + b"".join(field(2, a) for a in command) + field(3, int(timeout)))
                sys.stdout.buffer.write(r.get(1, [b""])[0])
                sys.stderr.buffer.write(r.get(2, [b""])[0])
                code = r.get(3, [0])[0]
                return code - (1 << 64) if code >= 1 << 63 else code
            elif cmd == "stop-pod":
                call(ch, "StopPodSandbox", field(1, args[0]))
            elif cmd == "rm-pod":
                call(ch, "RemovePodSandbox", field(1, args[0]))
            elif cmd == "pods":
                r = call(ch, "ListPodSandbox", b"")
                for item in r.get(1, []):
                    print(text(decode(item), 1))
            else:
                sys.stderr.write("cri.py: unknown command %s\n" % cmd)
                return 2
        except grpc.RpcError as e:
            sys.stderr.write("cri.py %s: %s: %s\n" % (cmd, e.code().name, e.details()))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
