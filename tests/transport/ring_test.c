/*
 * tests/transport/ring_test.c - the shared-memory byte rings
 * (transport/ring.h): what goes in comes out byte for byte across every
 * wrap, a put is all or nothing, nothing is visible before its commit, a
 * peer's impossible position is an error and never a wild read or write,
 * a writer SIGKILLed at any moment leaves exactly the frames it committed,
 * and the doorbell pattern loses no wake-up between two processes.
 *
 * Forked children report through their exit status (CHILD_CHECK).
 */
#include "support/testutil.h"
#include "base/sanitizers.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <axon.h>

#include "transport/ring.h"

#define CAP AX_RING_MIN

/* The byte at stream position i of a test stream (not periodic in cap). */
static uint8_t
byte_at(uint64_t i)
{
    return (uint8_t)(i * 131u + (i >> 9) * 7u + 1u);
}

/* A fresh map and both sides of it: a = side 0, b = side 1. */
typedef struct pair {
    ax_ring_map *m;
    ax_ring atx, arx, btx, brx;
} pair;

static void
pair_open(pair *p, size_t cap)
{
    assert_int_equal(ax__ring_map_new(cap, &p->m), 0);
    ax__ring_open(p->m, 0, &p->atx, &p->arx);
    ax__ring_open(p->m, 1, &p->btx, &p->brx);
}

/* Puts one piece of n bytes, the test stream from *at on. */
static int
put_stream(ax_ring *tx, uint64_t *at, size_t n)
{
    uint8_t buf[CAP * 2];
    struct iovec v = {buf, n};
    int rc;

    for (size_t i = 0; i < n; i++) {
        buf[i] = byte_at(*at + i);
    }
    rc = ax__ring_put(tx, &v, 1);
    if (rc == 0) {
        *at += n;
    }
    return rc;
}

/* --- capacity and mapping ------------------------------------------------ */

static void
test_capacity_is_checked(void **state)
{
    ax_ring_map *m = NULL;

    (void)state;
    assert_int_equal(ax__ring_map_new(AX_RING_MIN - 1, &m), AX_EINVAL);
    assert_int_equal(ax__ring_map_new(AX_RING_MIN / 2, &m), AX_EINVAL);
    assert_int_equal(ax__ring_map_new(3 * AX_RING_MIN, &m), AX_EINVAL);
    assert_int_equal(ax__ring_map_new((size_t)AX_RING_MAX * 2, &m), AX_EINVAL);
    assert_null(m);
    assert_int_equal(ax__ring_map_new(AX_RING_MIN * 4, &m), 0);
    assert_true(ax__ring_map_size(m) >= 2 * AX_RING_MIN * 4);
    ax__ring_map_free(m);
    ax__ring_map_free(NULL);
}

/* --- one process: the stream, all or nothing, commit --------------------- */

static void
test_stream_is_exact_across_wraps(void **state)
{
    pair p;
    uint64_t wrote = 0, read = 0;
    uint8_t buf[CAP];
    unsigned seed = 12345;

    (void)state;
    pair_open(&p, CAP);
    /* 2 MiB through a 4 KiB ring: 500 wraps at uneven places. */
    while (read < 2u * 1024u * 1024u) {
        size_t n = 1 + (size_t)rand_r(&seed) % 1500;
        size_t want = 1 + (size_t)rand_r(&seed) % CAP;
        bool wake;
        long got;

        while (put_stream(&p.atx, &wrote, n) == 0) {
            n = 1 + (size_t)rand_r(&seed) % 1500;
        }
        ax__ring_commit(&p.atx);
        got = ax__ring_read(&p.brx, buf, want, &wake);
        assert_true(got > 0 && (size_t)got <= want);
        for (long i = 0; i < got; i++) {
            assert_int_equal(buf[i], byte_at(read + (uint64_t)i));
        }
        read += (uint64_t)got;
    }
    assert_true(wrote >= read);
    assert_int_equal(ax__ring_pending(&p.brx), wrote - read);
    ax__ring_map_free(p.m);
}

static void
test_put_is_all_or_nothing(void **state)
{
    pair p;
    uint64_t at = 0;
    uint8_t buf[CAP];
    struct iovec v[3];
    bool wake;

    (void)state;
    pair_open(&p, CAP);
    assert_int_equal(ax__ring_room(&p.atx), CAP);
    assert_int_equal(put_stream(&p.atx, &at, CAP - 10), 0);
    assert_int_equal(ax__ring_room(&p.atx), 10);
    /* Three pieces of 4 + 4 + 4 do not fit 10: none is written. */
    memset(buf, 0xEE, 12);
    for (int i = 0; i < 3; i++) {
        v[i].iov_base = buf + 4 * i;
        v[i].iov_len = 4;
    }
    assert_int_equal(ax__ring_put(&p.atx, v, 3), AX_EAGAIN);
    assert_int_equal(ax__ring_room(&p.atx), 10);
    /* Two fit exactly, then nothing does. */
    assert_int_equal(ax__ring_put(&p.atx, v, 2), 0);
    assert_int_equal(ax__ring_room(&p.atx), 2);
    assert_int_equal(ax__ring_put(&p.atx, v, 1), AX_EAGAIN);
    /* More than the ring holds is another error: waiting cannot help. */
    v[0].iov_len = CAP + 1;
    v[0].iov_base = buf;
    assert_int_equal(ax__ring_put(&p.atx, v, 1), AX_EMSGSIZE);
    ax__ring_commit(&p.atx);
    assert_int_equal(ax__ring_read(&p.brx, buf, sizeof(buf), &wake), CAP - 2);
    for (size_t i = 0; i < CAP - 10; i++) {
        assert_int_equal(buf[i], byte_at(i));
    }
    for (size_t i = CAP - 10; i < CAP - 2; i++) {
        assert_int_equal(buf[i], 0xEE);
    }
    assert_int_equal(ax__ring_room(&p.atx), CAP);
    ax__ring_map_free(p.m);
}

static void
test_nothing_is_visible_before_commit(void **state)
{
    pair p;
    uint64_t at = 0;
    uint8_t buf[64];
    bool wake;

    (void)state;
    pair_open(&p, CAP);
    assert_int_equal(put_stream(&p.atx, &at, 40), 0);
    assert_int_equal(ax__ring_pending(&p.brx), 0);
    assert_int_equal(ax__ring_read(&p.brx, buf, sizeof(buf), &wake), 0);
    assert_true(ax__ring_commit(&p.atx));  /* a new map's reader sleeps */
    assert_false(ax__ring_commit(&p.atx)); /* nothing new, rung once */
    assert_int_equal(ax__ring_pending(&p.brx), 40);
    /* The two directions are two rings. */
    assert_int_equal(ax__ring_pending(&p.arx), 0);
    assert_int_equal(ax__ring_read(&p.brx, buf, 25, &wake), 25);
    assert_false(wake);
    assert_int_equal(ax__ring_read(&p.brx, buf + 25, 64, &wake), 15);
    for (int i = 0; i < 40; i++) {
        assert_int_equal(buf[i], byte_at((uint64_t)i));
    }
    ax__ring_map_free(p.m);
}

static void
test_reopen_continues(void **state)
{
    pair p;
    uint64_t at = 0;
    uint8_t buf[CAP];
    ax_ring tx, rx;
    bool wake;

    (void)state;
    pair_open(&p, CAP);
    assert_int_equal(put_stream(&p.atx, &at, 3000), 0);
    ax__ring_commit(&p.atx);
    assert_int_equal(ax__ring_read(&p.brx, buf, 1000, &wake), 1000);
    /* A side opened again (a reader after exec, say) goes on from where
     * the published positions are. */
    ax__ring_open(p.m, 1, &tx, &rx);
    assert_int_equal(ax__ring_read(&rx, buf, sizeof(buf), &wake), 2000);
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(buf[i], byte_at(1000 + (uint64_t)i));
    }
    ax__ring_map_free(p.m);
}

/* --- a hostile peer ------------------------------------------------------ */

static void
test_impossible_positions_are_errors(void **state)
{
    pair p;
    uint64_t at = 0;
    uint8_t buf[CAP];
    bool wake;

    (void)state;
    pair_open(&p, CAP);
    assert_int_equal(put_stream(&p.atx, &at, 100), 0);
    ax__ring_commit(&p.atx);

    /* The writer says it committed more than the ring holds. */
    atomic_store(&p.atx.sh->head, CAP + 101);
    assert_int_equal(ax__ring_read(&p.brx, buf, sizeof(buf), &wake), AX_EPROTO);
    assert_int_equal(ax__ring_pending(&p.brx), 0);
    /* Or less than was read. */
    atomic_store(&p.atx.sh->head, 100);
    assert_int_equal(ax__ring_read(&p.brx, buf, 50, &wake), 50);
    atomic_store(&p.atx.sh->head, 10);
    assert_int_equal(ax__ring_read(&p.brx, buf, sizeof(buf), &wake), AX_EPROTO);
    /* A position that cannot be true makes sleep return at once. */
    assert_false(ax__ring_sleep(&p.brx));

    /* The reader says it read what was never written. */
    atomic_store(&p.atx.sh->tail, 101);
    assert_true(ax__ring_room(&p.atx) < 0);
    assert_int_equal(put_stream(&p.atx, &at, 1), AX_EPROTO);
    /* Or so little that the writer would overwrite unread bytes. */
    atomic_store(&p.atx.sh->tail, 0);
    p.atx.pos = p.atx.committed = 2 * CAP; /* as if 8 KiB were written */
    assert_true(ax__ring_room(&p.atx) < 0);
    assert_false(ax__ring_wait_room(&p.atx, 1));
    /* Positions near the top of uint64_t wrap like any other. */
    atomic_store(&p.atx.sh->tail, UINT64_MAX - 5);
    p.atx.pos = p.atx.committed = UINT64_MAX - 5;
    p.brx.pos = UINT64_MAX - 5;
    at = 0;
    assert_int_equal(put_stream(&p.atx, &at, 20), 0);
    ax__ring_commit(&p.atx);
    assert_int_equal(ax__ring_read(&p.brx, buf, sizeof(buf), &wake), 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(buf[i], byte_at((uint64_t)i));
    }
    ax__ring_map_free(p.m);
}

/* --- doorbells ----------------------------------------------------------- */

static void
test_doorbells_are_asked_once(void **state)
{
    pair p;
    uint64_t at = 0;
    uint8_t buf[CAP];
    bool wake;

    (void)state;
    pair_open(&p, CAP);
    /* A new map's readers sleep: the first commit each way rings. */
    assert_int_equal(put_stream(&p.btx, &at, 8), 0);
    assert_true(ax__ring_commit(&p.btx));
    assert_int_equal(ax__ring_read(&p.arx, buf, sizeof(buf), &wake), 8);
    at = 0;
    /* A reader that sleeps on an empty ring is woken by the next commit,
     * once. */
    assert_true(ax__ring_sleep(&p.brx));
    assert_int_equal(put_stream(&p.atx, &at, 8), 0);
    assert_true(ax__ring_commit(&p.atx));
    assert_int_equal(put_stream(&p.atx, &at, 8), 0);
    assert_false(ax__ring_commit(&p.atx));
    /* Bytes waiting: the reader must not sleep. */
    assert_false(ax__ring_sleep(&p.brx));
    assert_false(ax__ring_commit(&p.atx));
    /* A reader awake again needs no doorbell. */
    assert_true(ax__ring_read(&p.brx, buf, sizeof(buf), &wake) == 16);
    assert_true(ax__ring_sleep(&p.brx));
    ax__ring_awake(&p.brx);
    assert_int_equal(put_stream(&p.atx, &at, 8), 0);
    assert_false(ax__ring_commit(&p.atx));
    assert_int_equal(ax__ring_read(&p.brx, buf, sizeof(buf), &wake), 8);

    /* A writer waiting for room is woken by the read that makes it. */
    while (put_stream(&p.atx, &at, 100) == 0) {
    }
    ax__ring_commit(&p.atx);
    assert_true(ax__ring_wait_room(&p.atx, 100));
    assert_int_equal(ax__ring_read(&p.brx, buf, 10, &wake), 10);
    assert_true(wake);
    assert_int_equal(ax__ring_read(&p.brx, buf, 10, &wake), 10);
    assert_false(wake);
    /* Room for what it needs already: no waiting. */
    assert_false(ax__ring_wait_room(&p.atx, 20));
    ax__ring_map_free(p.m);
}

/* --- two processes -------------------------------------------------------- */

/* Frames of the crash test: a 4-byte length, a 4-byte number, then
 * bytes that depend on both. */
#define FRAMES 10000

static size_t
frame_len(uint32_t seq)
{
    return 8 + (seq * 37u) % 700u;
}

static void
frame_fill(uint8_t *f, uint32_t seq)
{
    uint32_t len = (uint32_t)frame_len(seq);

    memcpy(f, &len, 4);
    memcpy(f + 4, &seq, 4);
    for (uint32_t i = 8; i < len; i++) {
        f[i] = (uint8_t)(seq + i);
    }
}

static ax_ring_map *g_map;

/* The child: writes FRAMES frames, in one or two pieces, and commits each
 * (so a kill can fall between put and commit), waiting when full. */
static int
child_writer(void *arg)
{
    ax_ring tx, rx;
    uint8_t f[1024];

    (void)arg;
    ax__ring_open(g_map, 1, &tx, &rx);
    for (uint32_t seq = 0; seq < FRAMES; seq++) {
        size_t len = frame_len(seq), cut = seq % 3 ? len : 5;
        struct iovec v[2] = {{f, cut}, {f + cut, len - cut}};
        int rc;

        frame_fill(f, seq);
        while ((rc = ax__ring_put(&tx, v, 2)) == AX_EAGAIN) {
            sched_yield();
        }
        CHILD_CHECK(rc == 0, 2);
        ax__ring_commit(&tx);
    }
    return 0;
}

/* Reads what is there into buf[*have..]; returns false on an error. */
static bool
drain(ax_ring *rx, uint8_t *buf, size_t size, size_t *have)
{
    bool wake;
    long n;

    while ((n = ax__ring_read(rx, buf + *have, size - *have, &wake)) > 0) {
        *have += (size_t)n;
    }
    return n == 0;
}

/* Checks and drops the whole frames at buf's start; returns false if one
 * is not the next frame. */
static bool
take_frames(uint8_t *buf, size_t *have, uint32_t *next)
{
    size_t off = 0;

    while (*have - off >= 8) {
        uint32_t len, seq;
        uint8_t want[1024];

        memcpy(&len, buf + off, 4);
        memcpy(&seq, buf + off + 4, 4);
        if (seq != *next || len != frame_len(seq)) {
            return false;
        }
        if (*have - off < len) {
            break;
        }
        frame_fill(want, seq);
        if (memcmp(buf + off, want, len) != 0) {
            return false;
        }
        off += len;
        (*next)++;
    }
    memmove(buf, buf + off, *have - off);
    *have -= off;
    return true;
}

static void
test_killed_writer_leaves_exact_prefix(void **state)
{
    int rounds = RUNNING_ON_VALGRIND ? 10 : 100;
    unsigned seed = 99;

    (void)state;
    for (int r = 0; r < rounds; r++) {
        static uint8_t buf[64 * 1024];
        ax_ring tx, rx;
        size_t have = 0;
        uint32_t next = 0;
        pid_t pid;
        int status;
        /* Some rounds read while the child writes, some only after. */
        bool read_live = r % 2 == 0;
        uint64_t until = t_now_ns() + (uint64_t)(rand_r(&seed) % 3000) * 1000;

        assert_int_equal(ax__ring_map_new(16 * 1024, &g_map), 0);
        ax__ring_open(g_map, 0, &tx, &rx);
        pid = t_fork(child_writer, NULL);
        while (t_now_ns() < until) {
            if (read_live) {
                assert_true(drain(&rx, buf, sizeof(buf), &have));
                assert_true(take_frames(buf, &have, &next));
            }
        }
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status)) { /* finished before the kill */
            assert_int_equal(WEXITSTATUS(status), 0);
        } else {
            assert_int_equal(WTERMSIG(status), SIGKILL);
        }
        /* Everything committed is there, and nothing else. The ring is
         * smaller than the stream, so a child that was not read from
         * stopped at a full ring; read on, as its parent would not. */
        assert_true(drain(&rx, buf, sizeof(buf), &have));
        assert_true(take_frames(buf, &have, &next));
        assert_int_equal(have, 0);
        if (WIFEXITED(status)) {
            assert_int_equal(next, FRAMES);
        }
        assert_int_equal(ax__ring_pending(&rx), 0);
        ax__ring_map_free(g_map);
        g_map = NULL;
    }
}

/* The ping-pong: the child echoes each byte count back; both sides sleep
 * on their doorbell pipe when their ring is empty, and ring the other's
 * only when the ring says it sleeps. A lost wake-up stalls both: the
 * parent's poll times out and the test fails. */
#define PINGS 20000

typedef struct bells {
    int to_child[2];  /* the parent rings the child */
    int to_parent[2]; /* the child rings the parent */
} bells;

static bells g_bells;
static int g_pings; /* round trips: fewer under valgrind */

/* Waits for n bytes on rx, sleeping on fd; returns false on a stall. */
static bool
await(ax_ring *rx, int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        bool wake;
        long k = ax__ring_read(rx, buf + got, n - got, &wake);
        struct pollfd pfd = {fd, POLLIN, 0};
        char c;

        if (k < 0) {
            return false;
        }
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        if (!ax__ring_sleep(rx)) {
            continue;
        }
        if (poll(&pfd, 1, 10000) != 1 || read(fd, &c, 1) != 1) {
            return false;
        }
        ax__ring_awake(rx);
    }
    return true;
}

static bool
send_ring(ax_ring *tx, int fd, const uint8_t *p, size_t n)
{
    struct iovec v = {(void *)p, n};
    char c = 1;

    if (ax__ring_put(tx, &v, 1) != 0) {
        return false;
    }
    return !ax__ring_commit(tx) || write(fd, &c, 1) == 1;
}

static int
child_echo(void *arg)
{
    ax_ring tx, rx;
    uint8_t b[8];

    (void)arg;
    close(g_bells.to_child[1]);
    close(g_bells.to_parent[0]);
    ax__ring_open(g_map, 1, &tx, &rx);
    for (int i = 0; i < g_pings; i++) {
        CHILD_CHECK(await(&rx, g_bells.to_child[0], b, 8), 2);
        CHILD_CHECK(send_ring(&tx, g_bells.to_parent[1], b, 8), 3);
    }
    return 0;
}

static void
test_doorbells_lose_no_wakeup(void **state)
{
    ax_ring tx, rx;
    pid_t pid;

    (void)state;
    g_pings = RUNNING_ON_VALGRIND ? PINGS / 10 : PINGS;
    assert_int_equal(ax__ring_map_new(CAP, &g_map), 0);
    assert_int_equal(pipe(g_bells.to_child), 0);
    assert_int_equal(pipe(g_bells.to_parent), 0);
    ax__ring_open(g_map, 0, &tx, &rx);
    pid = t_fork(child_echo, NULL);
    close(g_bells.to_child[0]);
    close(g_bells.to_parent[1]);
    for (uint64_t i = 0; i < (uint64_t)g_pings; i++) {
        uint8_t b[8];

        assert_true(send_ring(&tx, g_bells.to_child[1], (uint8_t *)&i, 8));
        assert_true(await(&rx, g_bells.to_parent[0], b, 8));
        assert_memory_equal(b, &i, 8);
    }
    assert_int_equal(t_wait(pid), 0);
    close(g_bells.to_child[1]);
    close(g_bells.to_parent[0]);
    ax__ring_map_free(g_map);
    g_map = NULL;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, t_setup, t_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_capacity_is_checked),
        T(test_stream_is_exact_across_wraps),
        T(test_put_is_all_or_nothing),
        T(test_nothing_is_visible_before_commit),
        T(test_reopen_continues),
        T(test_impossible_positions_are_errors),
        T(test_doorbells_are_asked_once),
        T(test_killed_writer_leaves_exact_prefix),
        T(test_doorbells_lose_no_wakeup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
