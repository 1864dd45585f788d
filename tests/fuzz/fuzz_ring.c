/*
 * tests/fuzz/fuzz_ring.c - libFuzzer target for the shared-memory byte
 * rings (transport/ring.c): the code that reads positions a peer wrote.
 *
 * Input: a script of operations, each an opcode byte and its arguments,
 * on one ring of 4 KiB seen by its writer (tx) and its reader (rx), both
 * in this process:
 *   0 put    [n16][pieces8]  n bytes of the test stream, in 1-4 pieces
 *   1 commit
 *   2 read   [n16]           up to n bytes
 *   3 head   [v64]           the writer's shared position becomes v (a
 *                            hostile writer)
 *   4 tail   [v64]           the reader's shared position becomes v (a
 *                            hostile reader)
 *   5 sleep  [keep8]        the reader is about to sleep; unless keep's
 *                            bit 0 is set, it is awake again at once
 *   6 wait   [n16]           the writer waits for room for n bytes
 *   7 room
 * (opcodes are taken modulo 8; a script that ends inside an argument
 * stops there).
 *
 * A model predicts every result while nobody has written a shared position
 * by hand: the bytes read are the stream in order, a put fits exactly when
 * the model says so, commit and read ring exactly when the model's flags
 * say so. After a hostile write the model stops predicting, and the run
 * checks only that every result is in its domain (a read returns at most
 * what was asked or AX_EPROTO, the room is at most the capacity) while
 * ASan watches every byte the ring touches.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <axon.h>

#include "transport/ring.h"

#define CAP AX_RING_MIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz_ring: check failed: %s\n", __FILE__,  \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

static uint8_t
byte_at(uint64_t i)
{
    return (uint8_t)(i * 131u + (i >> 9) * 7u + 1u);
}

/* The script's bytes. */
typedef struct script {
    const uint8_t *p;
    size_t left;
} script;

static bool
take(script *s, void *out, size_t n)
{
    if (s->left < n) {
        return false;
    }
    memcpy(out, s->p, n);
    s->p += n;
    s->left -= n;
    return true;
}

/* What the model knows while both sides are honest. */
typedef struct model {
    bool honest;
    uint64_t put, committed, read; /* stream positions */
    bool sleeps, waits;
} model;

static void
op_put(ax_ring *tx, model *m, uint16_t n, uint8_t pieces)
{
    static uint8_t buf[CAP * 16 + 1];
    struct iovec v[4];
    size_t len = n % (sizeof(buf) - 1), off = 0;
    int k = 1 + pieces % 4, rc;

    for (size_t i = 0; i < len; i++) {
        buf[i] = byte_at(m->put + i);
    }
    for (int i = 0; i < k; i++) {
        size_t piece = i == k - 1 ? len - off : (len - off) / 2;

        v[i].iov_base = buf + off;
        v[i].iov_len = piece;
        off += piece;
    }
    rc = ax__ring_put(tx, v, k);
    if (!m->honest) {
        CHECK(rc == 0 || rc == AX_EAGAIN || rc == AX_EMSGSIZE ||
              rc == AX_EPROTO);
        return;
    }
    if (len > CAP) {
        CHECK(rc == AX_EMSGSIZE);
    } else if (m->put + len - m->read > CAP) {
        CHECK(rc == AX_EAGAIN);
    } else {
        CHECK(rc == 0);
        m->put += len;
    }
}

static void
op_read(ax_ring *rx, model *m, uint16_t n)
{
    static uint8_t buf[1u << 16];
    bool wake;
    long got = ax__ring_read(rx, buf, n, &wake);

    if (!m->honest) {
        CHECK(got == AX_EPROTO || (got >= 0 && got <= (long)n));
        return;
    }
    CHECK(got >= 0);
    CHECK((uint64_t)got ==
          (m->committed - m->read < n ? m->committed - m->read : n));
    for (long i = 0; i < got; i++) {
        CHECK(buf[i] == byte_at(m->read + (uint64_t)i));
    }
    m->read += (uint64_t)got;
    CHECK(wake == (got > 0 && m->waits));
    if (wake) {
        m->waits = false;
    }
}

static void
run(script *s, ax_ring *tx, ax_ring *rx, model *m)
{
    uint8_t op;

    while (take(s, &op, 1)) {
        uint16_t n;
        uint8_t pieces;
        uint64_t v;
        bool r;
        long room;

        switch (op % 8) {
        case 0:
            if (!take(s, &n, 2) || !take(s, &pieces, 1)) {
                return;
            }
            op_put(tx, m, n, pieces);
            break;
        case 1:
            r = ax__ring_commit(tx);
            if (m->honest) {
                bool fresh = m->put != m->committed;

                CHECK(r == (fresh && m->sleeps));
                m->committed = m->put;
                m->sleeps = m->sleeps && !r;
            }
            break;
        case 2:
            if (!take(s, &n, 2)) {
                return;
            }
            op_read(rx, m, n);
            break;
        case 3:
        case 4:
            if (!take(s, &v, 8)) {
                return;
            }
            atomic_store(op % 8 == 3 ? &tx->sh->head : &tx->sh->tail, v);
            m->honest = false;
            break;
        case 5:
            if (!take(s, &pieces, 1)) {
                return;
            }
            r = ax__ring_sleep(rx);
            if (m->honest) {
                CHECK(r == (m->committed == m->read));
            }
            if (r && !(pieces & 1)) {
                ax__ring_awake(rx);
                r = false;
            }
            m->sleeps = r;
            break;
        case 6:
            if (!take(s, &n, 2)) {
                return;
            }
            r = ax__ring_wait_room(tx, n);
            if (m->honest) {
                CHECK(r == (CAP - (m->put - m->read) < n));
                m->waits = r;
            }
            break;
        default:
            room = ax__ring_room(tx);
            CHECK(room == AX_EPROTO || (room >= 0 && room <= CAP));
            if (m->honest) {
                CHECK(room == (long)(CAP - (m->put - m->read)));
            }
            break;
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ax_ring_map *map;
    ax_ring tx, rx, peer_tx, peer_rx;
    script s = {data, size};
    model m = {.honest = true, .sleeps = true}; /* a new map's reader sleeps */

    CHECK(ax__ring_map_new(CAP, &map) == 0);
    ax__ring_open(map, 0, &tx, &peer_rx); /* ring 0: tx writes it */
    ax__ring_open(map, 1, &peer_tx, &rx); /* rx reads ring 0 */
    run(&s, &tx, &rx, &m);
    ax__ring_map_free(map);
    return 0;
}
