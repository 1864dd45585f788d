#!/usr/bin/python3
"""tests/transport/peer.py - an axon peer written from docs/wire.md alone.

It speaks axon's wire format on stdin (frames in) and stdout (frames out)
with nothing but the standard library and the msgpack package (Debian:
python3-msgpack). tests/transport/python_peer_*_test.c run it; the part
between the "wire.md example" markers is printed verbatim in docs/wire.md
and python_peer_doc_test.c checks that the two copies match.

Usage: peer.py [MODE]

  echo (default)  For every frame, reply to its source with
                  ["echo", <the message>, <the frame's src address>, count]
                  (count: frames received so far, this one included), kind
                  and flags copied. On the message ["stop"] reply
                  ["bye", count], then expect the end of the stream and
                  exit 0.
  garbage-long    Write a good frame ["before"], a header whose length is
                  0xffffffff, and a good frame ["after"]; then read until
                  the end of stdin and exit 0.
  garbage-short   The same with a length of 5 (shorter than a header).
  truncate        Write ["before"] and half of a frame, close stdout, read
                  until the end of stdin and exit 0.

Exit status: 0 success, 1 the stream ended before ["stop"] (or Python
failed), 2 the other side broke the wire format (the reason is printed on
stderr), 3 the msgpack module is missing, 4 bad usage.
"""
import os
import sys

try:
    import msgpack  # noqa: F401 (imported again by the example below)
except ImportError:
    sys.stderr.write("peer.py: the Python msgpack module is missing; "
                     "install the Debian package python3-msgpack\n")
    sys.exit(3)

# wire.md example: begin
import dataclasses
import struct

import msgpack

LENGTH = struct.Struct(">I")           # L: header bytes + body bytes
HEADER = struct.Struct(">BBBBQQQQ")    # version kind flags 0 dst src
VERSION = 1
MAX_BODY = 64 << 20                    # the receiver's max_frame
ADDRESS_EXT = 1                        # msgpack ext type of an address


class ProtocolError(Exception):
    """The other side broke the wire format: close the channel."""


@dataclasses.dataclass(frozen=True)
class Address:
    """An actor address: node (process) and id (actor), both u64."""
    node: int
    id: int


def ext_hook(code, data):
    if code != ADDRESS_EXT:
        return msgpack.ExtType(code, data)   # passed through unchanged
    if len(data) != 16:
        raise ProtocolError(f"address of {len(data)} bytes, not 16")
    return Address(*struct.unpack(">QQ", data))


def default(obj):
    if isinstance(obj, Address):
        return msgpack.ExtType(ADDRESS_EXT,
                               struct.pack(">QQ", obj.node, obj.id))
    raise TypeError(f"cannot encode {obj!r}")


def read_exact(f, n):
    """n bytes from f; fewer only if the stream ends first."""
    chunks = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(f):
    """The next frame as (kind, flags, dst, src, message), or None if the
    stream ended cleanly between frames. Raises ProtocolError."""
    prefix = read_exact(f, LENGTH.size)
    if not prefix:
        return None
    if len(prefix) < LENGTH.size:
        raise ProtocolError("stream ended inside a length prefix")
    (length,) = LENGTH.unpack(prefix)
    if length < HEADER.size:
        raise ProtocolError(f"frame length {length} shorter than a header")
    head = read_exact(f, HEADER.size)
    if len(head) < HEADER.size:
        raise ProtocolError("stream ended inside a header")
    version, kind, flags, zero, dnode, did, snode, sid = HEADER.unpack(head)
    if version != VERSION or zero != 0:
        raise ProtocolError(f"bad header: version {version}, reserved {zero}")
    if length - HEADER.size > MAX_BODY:
        raise ProtocolError(f"body of {length - HEADER.size} bytes too large")
    body = read_exact(f, length - HEADER.size)
    if len(body) < length - HEADER.size:
        raise ProtocolError("stream ended inside a body")
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False,
                                  ext_hook=ext_hook)
    except ProtocolError:
        raise
    except Exception as e:  # not exactly one well-formed msgpack value
        raise ProtocolError(f"malformed message: {e!r}") from e
    return kind, flags, Address(dnode, did), Address(snode, sid), message


def write_frame(f, kind, flags, dst, src, message):
    """Encode message and write it as one frame from src to dst."""
    body = msgpack.packb(message, use_bin_type=True, default=default)
    if len(body) > MAX_BODY:
        raise ValueError(f"message of {len(body)} bytes too large")
    data = memoryview(LENGTH.pack(HEADER.size + len(body))
                      + HEADER.pack(VERSION, kind, flags, 0, dst.node, dst.id,
                                    src.node, src.id)
                      + body)
    while data:
        data = data[f.write(data):]


def serve(inp, out):
    """Echo every message back to its sender until ["stop"]."""
    count = 0
    while True:
        frame = read_frame(inp)
        if frame is None:
            return 1                         # ended before ["stop"]
        kind, flags, dst, src, message = frame
        count += 1
        if message == ["stop"]:
            write_frame(out, kind, flags, src, dst, ["bye", count])
            break
        write_frame(out, kind, flags, src, dst,
                    ["echo", message, src, count])
    if read_frame(inp) is not None:
        raise ProtocolError('a frame after ["stop"]')
    return 0
# wire.md example: end


def frame_bytes(message, length=None):
    """The bytes of one frame from Address(9, 1) to Address(1, 1)."""
    body = msgpack.packb(message, use_bin_type=True, default=default)
    if length is None:
        length = HEADER.size + len(body)
    return (LENGTH.pack(length)
            + HEADER.pack(VERSION, 0x42, 0, 0, 1, 1, 9, 1) + body)


def misbehave(mode, inp, out):
    """Write what mode says, then wait for the other side to hang up."""
    before = frame_bytes(["before"])
    after = frame_bytes(["after"])
    if mode == "garbage-long":
        data = before + frame_bytes(["bad"], 0xFFFFFFFF) + after
    elif mode == "garbage-short":
        data = before + frame_bytes(["bad"], 5) + after
    else:
        data = before + after[:len(after) // 2]
    view = memoryview(data)
    while view:
        view = view[out.write(view):]
    if mode == "truncate":
        out.close()
    while inp.read(65536):
        pass
    return 0


def main(argv):
    mode = argv[1] if len(argv) > 1 else "echo"
    modes = ("echo", "garbage-long", "garbage-short", "truncate")
    if len(argv) > 2 or mode not in modes:
        sys.stderr.write(f"usage: peer.py [{'|'.join(modes)}]\n")
        return 4
    # Unbuffered binary I/O straight on fds 0 and 1.
    inp = os.fdopen(0, "rb", buffering=0)
    out = os.fdopen(1, "wb", buffering=0)
    try:
        if mode == "echo":
            rc = serve(inp, out)
            if rc == 1:
                sys.stderr.write('peer.py: the stream ended before ["stop"]\n')
            return rc
        return misbehave(mode, inp, out)
    except ProtocolError as e:
        sys.stderr.write(f"peer.py: protocol error: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
