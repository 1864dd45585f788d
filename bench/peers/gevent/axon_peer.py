#!/usr/bin/python3
"""bench/peers/gevent/axon_peer.py - axon-bench's cross-process workloads in
gipc's model, for side-by-side comparison (bench/peers/README.md).

    /usr/bin/python3 axon_peer.py WORKLOAD RUNS SCALE

WORKLOAD: proc_pingpong | proc_stream_32 | proc_spawn

gipc itself is not packaged for Debian, so this is the same pattern written
directly on what gipc is built from: gevent greenlets, os.fork (a child
starts a fresh hub and never runs what it inherited, as gipc's children do),
nonblocking pipes read and written with gevent.os.nb_read/nb_write, and
gipc's framing (a 4-byte big-endian length, then the body; one write per
message; the reader reads the header, then the body). Bodies are msgpack
(gipc pickles). Children are reaped cooperatively (gevent's SIGCHLD child
watcher, gevent.os.waitpid), never with a blocking waitpid.

Prints one JSON object on one line, the fields of the other peers: peer,
workload, variant, unit, count, threads, values (one per run), check.
"""
import json
import os
import struct
import sys
import time

import gevent
import gevent.os
import msgpack

PING_N = 100000       # axon-bench proc_pingpong
STREAM32_N = 5000000  # axon-bench proc_stream_32
SPAWN_N = 500         # axon-bench proc_spawn
HEADER = struct.Struct("!I")


class Pipe:
    """A gipc-style duplex handle: framed msgpack, read from rfd, written
    to wfd."""

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd
        os.set_blocking(rfd, False)
        os.set_blocking(wfd, False)

    def put(self, obj):
        body = msgpack.packb(obj)
        data = memoryview(HEADER.pack(len(body)) + body)
        while data:  # nb_write waits for POLLOUT when the pipe is full
            data = data[gevent.os.nb_write(self.wfd, data):]

    def _read(self, n):
        buf = b""
        while len(buf) < n:  # nb_read waits for POLLIN when it is empty
            chunk = gevent.os.nb_read(self.rfd, n - len(buf))
            if not chunk:
                raise EOFError("pipe closed")
            buf += chunk
        return buf

    def get(self):
        (size,) = HEADER.unpack(self._read(4))
        return msgpack.unpackb(self._read(size))


def start_process(target, *args):
    """Fork a child that runs target(*args) on a fresh hub, then _exits, as
    gipc.start_process does. Returns the child's pid (reap it with join)."""
    pid = gevent.os.fork_and_watch()  # fork + a libev child watcher
    if pid == 0:
        # gipc's child set-up: no inherited greenlet may run here.
        gevent.reinit()
        hub = gevent.get_hub()
        hub.destroy(destroy_loop=True)
        gevent.get_hub(default=True)
        code = 0
        try:
            target(*args)
        except BaseException as e:
            print("gevent peer: child:", repr(e), file=sys.stderr)
            code = 1
        os._exit(code)
    return pid


def join(pid):
    _, status = gevent.os.waitpid(pid, 0)  # cooperative: the child watcher
    if status != 0:
        sys.exit("gevent peer: child exited with status %d" % status)


def two_pipes():
    """Parent->child and child->parent pipes; returns the four fds."""
    return os.pipe() + os.pipe()


# --- proc_pingpong: round trip of ["ping", 1] between two processes --------


def echo(rfd, wfd, unused):
    for fd in unused:
        os.close(fd)
    p = Pipe(rfd, wfd)
    while True:
        m = p.get()
        if m == ["stop"]:
            return
        p.put(m)  # the same message back


def pingpong(n):
    a_r, a_w, b_r, b_w = two_pipes()
    pid = start_process(echo, a_r, b_w, (a_w, b_r))
    os.close(a_r)
    os.close(b_w)
    p = Pipe(b_r, a_w)
    msg = ["ping", 1]
    p.put(msg)  # warm-up, as axon-bench does
    msg = p.get()
    t0 = time.monotonic()
    for _ in range(n):
        p.put(msg)
        msg = p.get()
    t = time.monotonic() - t0
    p.put(["stop"])
    join(pid)
    os.close(b_r)
    os.close(a_w)
    return t / n * 1e6, "%d round trips" % n


# --- proc_stream_32: one-way 32-byte payloads to a child -------------------


def sink(rfd, wfd, unused, n):
    for fd in unused:
        os.close(fd)
    p = Pipe(rfd, wfd)
    got = nbytes = 0
    for _ in range(n):
        nbytes += len(p.get())
        got += 1
    p.put(["done", got, nbytes])


def stream(n):
    a_r, a_w, b_r, b_w = two_pipes()
    pid = start_process(sink, a_r, b_w, (a_w, b_r), n)
    os.close(a_r)
    os.close(b_w)
    p = Pipe(b_r, a_w)
    payload = bytes(32)  # msgpack bin 8, as axon packs "B"
    t0 = time.monotonic()
    for _ in range(n):
        p.put(payload)
    done = p.get()
    t = time.monotonic() - t0
    join(pid)
    os.close(b_r)
    os.close(a_w)
    if done != ["done", n, 32 * n]:
        sys.exit("gevent peer: stream: %r" % (done,))
    return n / t, "%d messages, %d bytes" % (done[1], done[2])


# --- proc_spawn: spawn + exit + reap of a child process ----------------------


def nothing():
    pass


def spawn(n):
    t0 = time.monotonic()
    for _ in range(n):
        join(start_process(nothing))
    t = time.monotonic() - t0
    return t / n * 1e6, "%d children spawned and reaped" % n


WORKLOADS = {  # name: (unit, axon-bench's count, function)
    "proc_pingpong": ("us", PING_N, pingpong),
    "proc_stream_32": ("msg/s", STREAM32_N, stream),
    "proc_spawn": ("us", SPAWN_N, spawn),
}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in WORKLOADS:
        sys.exit("usage: axon_peer.py {%s} RUNS SCALE" % "|".join(WORKLOADS))
    name, runs, scale = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    unit, count, fn = WORKLOADS[name]
    n = max(1, round(count * scale))
    values, check = [], ""
    # libev's SIGCHLD handler, before the first fork (gipc does the same):
    # gevent installs it lazily with the first child watcher, and a child
    # that exits before that is never reaped.
    gevent.get_hub().loop.install_sigchld()
    for _ in range(runs):
        v, check = fn(n)  # in the main greenlet, like a gipc script
        values.append(v)
    print(json.dumps({"peer": "gevent", "workload": name,
                      "variant": "gevent %s, msgpack %s" % (
                          gevent.__version__,
                          ".".join(map(str, msgpack.version))),
                      "unit": unit, "count": n, "threads": 1,
                      "values": values, "check": check}))


if __name__ == "__main__":
    main()
