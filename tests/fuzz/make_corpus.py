#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py - write the seed corpora of the fuzz targets.

    python3 tests/fuzz/make_corpus.py

Writes tests/fuzz/corpus/frame/* (for fuzz_frame.c), corpus/msg/* (for
fuzz_msg.c) and corpus/ring/* (for fuzz_ring.c), and removes files there that it no longer writes, except
inputs added by hand: regress-* (regressions of fixed bugs) and crash-*.
The seeds are committed; run this again after changing it. Plain Python 3,
no packages: the msgpack bytes are spelled out, so non-minimal and hostile
encodings are easy to write.

Input layouts (see the comments at the top of each target):
  frame: 4 control bytes (chunking/buffer/EAGAIN/EINTR/direct_min, max_frame
         selector, take/pause/direct_min, seed), then the stream of frames;
  msg:   a control byte (0x80: limits byte follows; 0x40: allocation
         failures), then the message bytes;
  ring:  a script of operations (opcode byte, then its little-endian
         arguments) on one 4 KiB ring's writer and reader.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
KEEP_PREFIXES = ("regress-", "crash-")

# --- frames -----------------------------------------------------------------

# fuzz_frame.c's max_frame table: selector -> bytes (beyond it: sel * 4111).
MAX_0, MAX_100, MAX_32767, MAX_1M = 0, 5, 8, 15
CAP_256K = 0x08
EINTR = 0x40
# fuzz_frame.c's lowered direct_min: selector -> bytes.
DIRECT_1, DIRECT_40, DIRECT_100, DIRECT_1024 = 0, 2, 3, 5


def ctl(chunking=0, cap=0, eagain=0, eintr=0, max_sel=MAX_1M, take=0,
        pause=0, resume_direct=0, seed=0, direct=None):
    """The 4 control bytes of fuzz_frame.c."""
    b0 = chunking | cap | eagain << 4 | eintr
    b2 = take | pause << 2 | resume_direct << 4
    if direct is not None:
        b0 |= 0x80
        b2 |= direct << 5
    return bytes([b0, max_sel, b2, seed])


def frame(body, kind=1, flags=0, dst=(1, 2), src=(3, 4), version=1,
          reserved=0, length=None):
    """One frame as docs/wire.md lays it out."""
    if length is None:
        length = 36 + len(body)
    return struct.pack(">IBBBBQQQQ", length, version, kind, flags, reserved,
                       dst[0], dst[1], src[0], src[1]) + body


HELLO = bytes.fromhex("92a568656c6c6f01")  # ["hello", 1]
PID = bytes.fromhex("d801") + struct.pack(">QQ", 7, 42)
MSG = bytes.fromhex("93a3746167") + PID + \
    bytes.fromhex("81a161cb3ff8000000000000")
THREE = frame(HELLO) + frame(b"", kind=2) + frame(MSG, kind=3, flags=9)
BODY = bytes(range(256)) * 12  # 3072 bytes
BIG = bytes(range(256)) * 128  # 32768: direct_min of a 64 KiB buffer


def frame_seeds():
    s = {}
    s["empty-stream"] = ctl()
    s["one-small"] = ctl() + frame(HELLO)
    s["empty-body"] = ctl() + frame(b"")
    s["three-whole"] = ctl() + THREE
    s["three-bytewise-eagain-take"] = ctl(chunking=1, eagain=1, take=1) + THREE
    s["three-random-pause"] = ctl(chunking=3, eagain=2, take=2, pause=2,
                                  seed=7) + THREE
    s["three-header-chunks-resume-pump"] = ctl(chunking=4, pause=1,
                                               resume_direct=1) + THREE
    s["three-eintr"] = ctl(chunking=5, eintr=EINTR, eagain=3, seed=3) + THREE
    s["three-fixed-17"] = ctl(chunking=2, seed=16) + THREE
    s["three-buf256k"] = ctl(chunking=7, cap=CAP_256K, seed=99) + THREE
    # The direct path at the reader's own direct_min (32 KiB), once.
    s["direct-32k"] = ctl(chunking=6, take=2, seed=5) + frame(BIG)
    s["direct-header-only-1mib"] = ctl() + frame(b"", length=36 + (1 << 20))
    # The direct path with a lowered direct_min: small inputs.
    s["direct-small"] = ctl(chunking=6, take=2, seed=5,
                            direct=DIRECT_1024) + frame(BODY)
    s["direct-small-whole-take"] = ctl(take=1, direct=DIRECT_1024) + \
        frame(BODY)
    s["direct-all-bytewise"] = ctl(chunking=1, eagain=2, pause=2,
                                   direct=DIRECT_1) + THREE
    s["direct-then-small-pause"] = ctl(chunking=5, pause=2, seed=11,
                                       direct=DIRECT_40) + \
        frame(BODY + b"\x00" * 1000) + frame(HELLO) + frame(b"")
    s["direct-truncated"] = ctl(chunking=6, direct=DIRECT_1024) + \
        frame(BODY)[:2000]
    s["direct-at-max-then-over"] = ctl(max_sel=MAX_100, direct=DIRECT_100) + \
        frame(b"\xc0" * 100) + frame(b"\xc0" * 99) + frame(b"\xc0" * 101)
    # 256-byte reads fill the 64 KiB buffer past 3/4 behind a delivered
    # frame: the partial one after it is moved to the front.
    s["buffer-compaction"] = ctl(chunking=2, seed=255) + \
        frame(b"\xa5" * 25000) + frame(b"\x5a" * 25000)
    s["buf256k-body-3k"] = ctl(chunking=4, cap=CAP_256K) + frame(BODY)
    s["max-32767-header-32768"] = ctl(max_sel=MAX_32767) + \
        frame(b"", length=36 + 32768)
    s["max-100-body-100-then-101"] = ctl(max_sel=MAX_100) + \
        frame(b"\xc0" * 100) + frame(b"\xc0" * 101)
    s["max-0-empty-then-1"] = ctl(max_sel=MAX_0) + frame(b"") + \
        frame(b"\xc0")
    s["truncated-header"] = ctl() + frame(HELLO)[:20]
    s["truncated-body"] = ctl(chunking=1) + frame(HELLO) + frame(MSG)[:50]
    s["length-35"] = ctl() + frame(b"", length=35)
    s["length-0"] = ctl() + frame(HELLO) + frame(b"", length=0)
    s["length-ffffffff"] = ctl() + frame(b"", length=0xffffffff)
    s["bad-version-2"] = ctl() + frame(HELLO) + frame(HELLO, version=2)
    s["bad-version-0"] = ctl(chunking=3) + frame(HELLO, version=0)
    s["reserved-nonzero"] = ctl() + frame(HELLO, reserved=1)
    s["good-then-garbage"] = ctl(chunking=7, seed=1) + THREE + b"\xff" * 45
    return s

# --- messages ---------------------------------------------------------------


def h(text):
    return bytes.fromhex(text.replace(" ", ""))


def fixstr(text):
    b = text.encode()
    return bytes([0xa0 | len(b)]) + b


def nest(levels, inner=b"\xc0"):
    """levels arrays of one element around inner."""
    return b"\x91" * levels + inner


def array(*items):
    assert len(items) < 16
    return bytes([0x90 | len(items)]) + b"".join(items)


def msg_seeds():
    plain = {
        # Top-level scalars: every unpack code meets each kind.
        "nil": h("c0"), "true": h("c3"), "false": h("c2"),
        "fixint": h("7f"), "negfixint": h("e0"),
        "uint64-over-int64": h("cf 8000000000000000"),
        "uint32-over-int": h("ce 80000000"),
        "int32-min": h("d2 80000000"),
        "int64-below-int": h("d3 ffffffff7fffffff"),
        "float32": h("ca 3fc00000"), "fixstr": fixstr("hello"),
        "bin8": h("c403 010203"), "pid": PID,
        # Every encoding of each kind, in arrays.
        "ints": array(h("ccff"), h("cdffff"), h("ceffffffff"),
                      h("cf ffffffffffffffff"), h("d080"), h("d005"),
                      h("d18000"), h("d3 8000000000000000")),
        "floats": array(h("ca 7f800001"), h("cb 3ff8000000000000"),
                        h("cb fff0000000000000")),
        "strs": array(h("d920") + b"s" * 32, h("da0100") + b"t" * 256,
                      h("db00000003") + b"abc", h("a0")),
        "bins": array(h("c50001 ff"), h("c600000002 0000"), h("c400")),
        "exts": array(h("d405 aa"), h("d5ff aabb"), h("d680 00000000"),
                      h("d705") + b"\x01" * 8, h("d805") + b"\x02" * 16,
                      h("c70307 616263"), h("c70009"), h("c8000207 0102"),
                      h("c90000000107 ff")),
        "arrays": array(h("93 010203"), h("90"), h("dc0003 c0c2c3"),
                        h("dd00000002 a0 a0")),
        "maps": array(h("81") + fixstr("a") + h("01"), h("80"),
                      h("de0001") + fixstr("a") + h("90"),
                      h("df00000001 c0 c0")),
        "pid-as-ext8": h("c71001") + struct.pack(">QQ", 1, 2),
        "pid-8-bytes": h("d701") + b"\x00" * 8,
        "pid-in-array": array(PID, PID),
        "fixmap": h("81") + fixstr("a") + h("01"), "empty-map": h("80"),
        "empty-array": h("90"),
        # Shapes the unpack formats of fuzz_msg.c match.
        "map-duplicate-key": h("82") + fixstr("a") + h("01") + fixstr("a") +
        h("c3"),
        "record": h("97") + fixstr("tag") + h("d3 0000000000000005 81") +
        fixstr("a") + h("cb 3ff8000000000000 c3 c0 c402 abcd") + PID,
        "record-int-as-float": h("97") + fixstr("t") + h("01 81") +
        fixstr("a") + h("05 c2 c0 c400") + PID,
        "map-array-and-raw": h("82") + fixstr("a") + h("92 01 02") +
        fixstr("b") + h("81") + fixstr("c") + fixstr("d"),
        "ints-and-raw": h("93 01 02 91 03"),
        "nested-typical": h("93") + fixstr("call") + h("82") + fixstr("id") +
        h("cd 1234") + fixstr("args") + h("93 c0 c3 cb 0000000000000000") +
        PID,
        # Depth: msgpack-c's unpacker holds 32 levels; the default max is 64.
        "deep-32": nest(32), "deep-33": nest(33),
        "deep-64": nest(64), "deep-65": nest(65),
        # Hostile and malformed.
        "hostile-map32": h("df ffffffff ffffff0a"),
        "hostile-array32": h("dd ffffffff"),
        "hostile-map16": h("de ffff"), "hostile-bin32": h("c6 ffffffff"),
        "hostile-str32": h("db ffffffff 61"),
        "hostile-ext32": h("c9 ffffffff 01"),
        "count-over-bytes": h("dc 0005 01 02 03 04"),
        "invalid-c1": h("c1"), "c1-in-array": h("92 01 c1"),
        "truncated-uint16": h("cd 01"), "truncated-str": h("a5 6865"),
        "trailing-bytes": h("c0 c0"), "empty-message": b"",
    }
    s = {name: b"\x00" + body for name, body in plain.items()}
    # Limits: control 0x80 | depth code, then elements (low) / size (high).
    s["limit-depth-1024"] = h("bf 00") + nest(1024)
    s["limit-depth-1024-over"] = h("bf 00") + nest(1025)
    s["limit-depth-96"] = h("a2 00") + nest(96)
    s["limit-depth-1-nested"] = h("80 00") + h("9190")
    s["limit-elements-1"] = h("8f 01") + h("92 01 02")
    s["limit-elements-2-ok"] = h("8f 02") + h("92 01 02")
    s["limit-size-8"] = h("8f 10") + h("cf 0000000000000001")
    s["limit-size-8-ok"] = h("8f 10") + fixstr("abcdefg")
    # Allocation failures on the accepting path.
    s["alloc-failures-record"] = b"\x40" + plain["record"]
    s["alloc-failures-deep-limit"] = h("ff 00") + nest(200)
    return s

# --- rings ------------------------------------------------------------------

RING_CAP = 4096


def put(n, pieces=0):
    return struct.pack("<BHB", 0, n, pieces)


COMMIT = b"\x01"


def read(n):
    return struct.pack("<BH", 2, n)


def head(v):
    return struct.pack("<BQ", 3, v)


def tail(v):
    return struct.pack("<BQ", 4, v)


def sleep(keep=0):
    return struct.pack("<BB", 5, keep)


def wait(n):
    return struct.pack("<BH", 6, n)


ROOM = b"\x07"


def ring_seeds():
    wraps = b"".join(put(1000 + i * 7, i) + COMMIT + read(900 + i * 5)
                     for i in range(40))
    return {
        "put-commit-read": put(100) + COMMIT + read(100),
        "uncommitted": put(50) + read(50) + COMMIT + read(50),
        "wraps": wraps,
        "full-then-eagain": put(4000) + put(200, 3) + ROOM + COMMIT +
        read(4000) + put(200, 3),
        "exact-fill": put(RING_CAP, 2) + ROOM + COMMIT + read(RING_CAP),
        "too-big": put(RING_CAP + 1) + put(65535, 3),
        "sleep-then-commit": sleep(1) + put(8) + COMMIT + put(8) + COMMIT +
        read(16),
        "sleep-with-bytes": put(8) + COMMIT + sleep(1) + read(8),
        "wait-room": put(4000) + COMMIT + wait(500) + read(10) + read(10) +
        wait(20),
        "hostile-head-far": put(10) + COMMIT + head(RING_CAP + 11) +
        read(65535) + sleep(0),
        "hostile-head-back": put(10) + COMMIT + read(5) + head(1) + read(10),
        "hostile-head-inside": head(RING_CAP) + read(65535) + read(65535),
        "hostile-tail-ahead": put(10) + COMMIT + tail(11) + ROOM + put(1) +
        wait(1),
        "hostile-tail-behind": put(4000) + COMMIT + read(4000) + put(4000) +
        tail(0) + put(100) + ROOM,
        "hostile-near-max": tail(2**64 - 5) + head(2**64 - 5) + put(20) +
        COMMIT + read(20) + ROOM,
    }

# --- output -----------------------------------------------------------------


def write(kind, seeds):
    d = os.path.join(CORPUS, kind)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name not in seeds and not name.startswith(KEEP_PREFIXES):
            os.remove(os.path.join(d, name))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    total = sum(len(v) for v in seeds.values())
    print(f"{kind}: {len(seeds)} seeds, {total} bytes")


def main():
    write("frame", frame_seeds())
    write("msg", msg_seeds())
    write("ring", ring_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
