/*
 * bench/chan_workloads.c - channel workloads between two processes, each
 * next to its raw-pipe floor.
 *
 *   chan_pingpong    round trip of a 16-byte frame; floor: blocking
 *                    write/read of the same 56 bytes on raw pipes
 *   chan_stream_32   one-way 32-byte frames; floor: one write(2) of 32
 *                    bytes per message, reader reads 256 KiB at a time
 *   chan_stream_64k  one-way 64 KiB frames; floor: 64 KiB write(2)s
 *   chan_ring_*      the same three with the frames in shared-memory rings
 *                    and the pipes as doorbells, as between process actors
 *
 * Every run forks a fresh child, synchronises once, then times only the
 * transfer. The child is reaped before the run returns.
 */
#include <axon.h>
#include <ev.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "transport/chan_internal.h"

#define PING_BODY 16
#define PING_COUNT 200000
#define STREAM32_COUNT 5000000
#define STREAM64K_COUNT 20000
#define BIG_BODY 65536
#define FLOOR_READ (256 * 1024)

/*
 * Pipe capacity of the floor. A channel grows a pipe it finds full to
 * 1 MiB, so the floor gets a 1 MiB pipe too: the ratio then measures what
 * the channel adds, not the pipe size. AXON_BENCH_PIPE_SIZE overrides it
 * for both (0: system default for the floor, growth for the channel).
 */
static int
pipe_size(void)
{
    const char *s = getenv("AXON_BENCH_PIPE_SIZE");

    return s ? atoi(s) : 1 << 20;
}

static void
set_pipe_size(int fd)
{
    if (pipe_size() > 0) {
        fcntl(fd, F_SETPIPE_SZ, pipe_size());
    }
}

/* --- plumbing shared by every workload ---------------------------------- */

/* The rings of the run of a chan_ring_* workload (NULL: pipes only),
 * mapped before the fork; each side's channel holds it once. */
static ax_ring_map *ring_map;
#define RING_CAP (512u << 10) /* as a process actor's channel */

struct peer {
    struct ev_loop *loop;
    ax_chan *ch;
    uint64_t count;  /* frames received */
    uint64_t target; /* frames expected */
    int done;        /* parent: the child answered */
    int drained;     /* producer: on_drain fired */
    size_t body;     /* body size of this workload */
};

static const ax_frame_hdr hdr = {1, 0, {1, 1}, {2, 2}};

static void
must(int rc, const char *what)
{
    if (rc < 0) {
        bench_die("%s: %s (%s)", what, ax_strerror(rc), ax_error_detail());
    }
}

static void
on_error_stop(ax_chan *ch, int err, void *ud)
{
    struct peer *p = ud;

    (void)ch;
    if (err != AX_EOF) {
        bench_die("channel error %s (%s)", ax_strerror(err), ax_error_detail());
    }
    p->done = 1;
    ev_break(p->loop, EVBREAK_ALL);
}

static void
on_drain(ax_chan *ch, void *ud)
{
    struct peer *p = ud;

    (void)ch;
    p->drained = 1;
}

/* side: 0 in the parent, 1 in the child (which ring it writes). */
static void
peer_open(struct peer *p, int rfd, int wfd, int side,
          void (*on_frame)(ax_chan *, ax_frame *, void *))
{
    ax_chan_cbs cbs = {on_frame, on_error_stop, on_drain};
    ax_chan_opts o = {0};

    o.pipe_size = getenv("AXON_BENCH_PIPE_SIZE") ? (size_t)pipe_size() : 0;
    p->loop = ev_loop_new(EVFLAG_AUTO);
    must(ax_chan_new(p->loop, rfd, wfd, &o, &cbs, p, &p->ch), "chan");
    if (ring_map != NULL) {
        ax__chan_use_ring(p->ch, ax__ring_map_hold(ring_map), side);
    }
}

static void
peer_close(struct peer *p)
{
    ax_chan_close(p->ch);
    ev_loop_destroy(p->loop);
}

/* Fork a child that runs fn on its own channel ends, then _exit(0); with
 * ring_cap, the channel's frames go through rings of that size. */
static size_t ring_cap;

static pid_t
spawn_chan_child(int parent[2], int child[2], void (*fn)(int rfd, int wfd))
{
    pid_t pid;

    must(ax_chan_pipes(parent, child), "pipes");
    if (ring_map != NULL) {
        ax__ring_map_free(ring_map); /* of a run that failed */
        ring_map = NULL;
    }
    if (ring_cap > 0) {
        must(ax__ring_map_new(ring_cap, &ring_map), "rings");
    }
    pid = fork();
    if (pid < 0) {
        bench_die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(parent[0]);
        close(parent[1]);
        fn(child[0], child[1]);
        _exit(0);
    }
    close(child[0]);
    close(child[1]);
    return pid;
}

/* After peer_open in the parent: the channel holds the rings now. */
static void
rings_held(void)
{
    ax__ring_map_free(ring_map);
    ring_map = NULL;
}

void
bench_reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        bench_die("child failed (status %d)", status);
    }
}

static void
release_nothing(void *ud, int status)
{
    (void)ud;
    (void)status;
}

/*
 * Send one frame, running the loop while the queue is full. Bodies of
 * 16 KiB or more go by ax_chan_send_owned, written from where they are
 * (the workload's body never changes), as large bodies should.
 */
static void
send_waiting(struct peer *p, const void *body, size_t len)
{
    int rc;

    while ((rc = len < 16384 ? ax_chan_send(p->ch, &hdr, body, len)
                             : ax_chan_send_owned(p->ch, &hdr, body, len,
                                                  release_nothing, NULL)) ==
           AX_EAGAIN) {
        p->drained = 0;
        while (!p->drained) {
            ev_run(p->loop, EVRUN_ONCE);
        }
    }
    must(rc, "send");
}

static void
run_until_done(struct peer *p)
{
    p->done = 0;
    while (!p->done) {
        ev_run(p->loop, EVRUN_ONCE);
    }
}

/* --- chan_pingpong ---------------------------------------------------- */

static void
echo_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    ax_frame_hdr back = {f->hdr.kind, 0, f->hdr.src, f->hdr.dst};

    (void)ud;
    must(ax_chan_send(ch, &back, f->body, f->len), "echo");
}

static void
echo_child(int rfd, int wfd)
{
    struct peer p = {0};

    peer_open(&p, rfd, wfd, 1, echo_frame);
    ev_run(p.loop, 0);
    peer_close(&p);
}

static void
ping_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    struct peer *p = ud;

    if (++p->count < p->target) {
        must(ax_chan_send(ch, &hdr, f->body, f->len), "ping");
    } else {
        p->done = 1;
    }
}

static double
chan_pingpong(void)
{
    int parent[2], child[2];
    pid_t pid = spawn_chan_child(parent, child, echo_child);
    struct peer p = {0};
    char body[PING_BODY] = "ping";
    double t0, t;

    peer_open(&p, parent[0], parent[1], 0, ping_frame);
    rings_held();
    p.target = 1; /* warm up: one round trip */
    must(ax_chan_send(p.ch, &hdr, body, sizeof(body)), "ping");
    run_until_done(&p);
    p.count = 0;
    p.target = bench_count(PING_COUNT);
    t0 = bench_now();
    must(ax_chan_send(p.ch, &hdr, body, sizeof(body)), "ping");
    run_until_done(&p);
    t = bench_now() - t0;
    peer_close(&p);
    bench_reap(pid);
    return t / (double)p.target * 1e6;
}

/* Raw floor: blocking pipes, one write and one read per message. */
static void
full_io(ssize_t (*io)(int, void *, size_t), int fd, void *buf, size_t n)
{
    size_t done = 0;

    while (done < n) {
        ssize_t r = io(fd, (char *)buf + done, n - done);

        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            bench_die("raw pipe I/O failed");
        }
        done += (size_t)r;
    }
}

static ssize_t
write_adapter(int fd, void *buf, size_t n)
{
    return write(fd, buf, n);
}

static pid_t
spawn_raw_child(int up[2], int down[2], void (*fn)(int rfd, int wfd))
{
    pid_t pid;

    if (pipe(up) < 0 || pipe(down) < 0) {
        bench_die("pipe: %s", strerror(errno));
    }
    set_pipe_size(up[0]);
    set_pipe_size(down[0]);
    pid = fork();
    if (pid < 0) {
        bench_die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        fn(down[0], up[1]);
        _exit(0);
    }
    close(up[1]);
    close(down[0]);
    return pid;
}

static void
raw_echo_child(int rfd, int wfd)
{
    char buf[AX_FRAME_OVERHEAD + PING_BODY];

    for (;;) {
        ssize_t r = read(rfd, buf, sizeof(buf));

        if (r <= 0) {
            break;
        }
        full_io(read, rfd, buf + r, sizeof(buf) - (size_t)r);
        full_io(write_adapter, wfd, buf, sizeof(buf));
    }
}

double
bench_floor_pingpong(void)
{
    int up[2], down[2];
    pid_t pid = spawn_raw_child(up, down, raw_echo_child);
    char buf[AX_FRAME_OVERHEAD + PING_BODY] = {0};
    uint64_t n = bench_count(PING_COUNT);
    double t0, t;

    full_io(write_adapter, down[1], buf, sizeof(buf)); /* warm up */
    full_io(read, up[0], buf, sizeof(buf));
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        full_io(write_adapter, down[1], buf, sizeof(buf));
        full_io(read, up[0], buf, sizeof(buf));
    }
    t = bench_now() - t0;
    close(down[1]);
    close(up[0]);
    bench_reap(pid);
    return t / (double)n * 1e6;
}

/* --- chan_stream_32 and chan_stream_64k -------------------------------- */

static uint64_t stream_target; /* set before fork: the child inherits it */

static void
count_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    struct peer *p = ud;

    (void)f;
    if (++p->count == p->target) {
        must(ax_chan_send(ch, &hdr, "ok", 2), "ack");
    }
}

static void
sink_child(int rfd, int wfd)
{
    struct peer p = {0};

    p.target = stream_target;
    peer_open(&p, rfd, wfd, 1, count_frame);
    ev_run(p.loop, 0);
    peer_close(&p);
}

static void
ack_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    struct peer *p = ud;

    (void)ch;
    (void)f;
    p->done = 1;
}

/* Seconds to stream n frames of len bytes to a child that counts them. */
static double
stream(uint64_t n, size_t len)
{
    int parent[2], child[2];
    pid_t pid;
    struct peer p = {0};
    char *body = calloc(1, len);
    double t0, t;

    stream_target = n + 1; /* one warm-up frame */
    pid = spawn_chan_child(parent, child, sink_child);
    peer_open(&p, parent[0], parent[1], 0, ack_frame);
    rings_held();
    send_waiting(&p, body, len);
    ev_run(p.loop, EVRUN_NOWAIT);
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        send_waiting(&p, body, len);
    }
    run_until_done(&p);
    t = bench_now() - t0;
    peer_close(&p);
    bench_reap(pid);
    free(body);
    return t;
}

static double
chan_stream_32(void)
{
    uint64_t n = bench_count(STREAM32_COUNT);

    return (double)n / stream(n, 32);
}

static double
chan_stream_64k(void)
{
    uint64_t n = bench_count(STREAM64K_COUNT);

    return (double)n * BIG_BODY / stream(n, BIG_BODY) / 1e6;
}

/* The same through rings: ring_cap is set for the run only. */
static double
on_rings(double (*fn)(void))
{
    double r;

    ring_cap = RING_CAP;
    r = fn();
    ring_cap = 0;
    return r;
}

static double
chan_ring_pingpong(void)
{
    return on_rings(chan_pingpong);
}

static double
chan_ring_stream_32(void)
{
    return on_rings(chan_stream_32);
}

static double
chan_ring_stream_64k(void)
{
    return on_rings(chan_stream_64k);
}

static uint64_t raw_total; /* bytes the raw sink child expects */

static void
raw_sink_child(int rfd, int wfd)
{
    char *buf = malloc(FLOOR_READ);
    uint64_t got = 0;

    while (got < raw_total) {
        ssize_t r = read(rfd, buf, FLOOR_READ);

        if (r <= 0) {
            _exit(3);
        }
        got += (uint64_t)r;
    }
    full_io(write_adapter, wfd, buf, 1);
    free(buf);
}

/* Seconds to write n messages of len bytes with one write(2) each. */
double
bench_raw_stream(uint64_t n, size_t len)
{
    int up[2], down[2];
    pid_t pid;
    char *buf = calloc(1, len);
    char ack;
    double t0, t;

    raw_total = (n + 1) * len;
    pid = spawn_raw_child(up, down, raw_sink_child);
    full_io(write_adapter, down[1], buf, len); /* warm up */
    t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        full_io(write_adapter, down[1], buf, len);
    }
    full_io(read, up[0], &ack, 1);
    t = bench_now() - t0;
    close(down[1]);
    close(up[0]);
    bench_reap(pid);
    free(buf);
    return t;
}

double
bench_floor_stream_32(void)
{
    uint64_t n = bench_count(STREAM32_COUNT);

    return (double)n / bench_raw_stream(n, 32);
}

double
bench_floor_stream_64k(void)
{
    uint64_t n = bench_count(STREAM64K_COUNT);

    return (double)n * BIG_BODY / bench_raw_stream(n, BIG_BODY) / 1e6;
}

const bench_workload bench_chan_workloads[] = {
    {"chan_pingpong", "us",
     "round trip of a 16-byte frame between two processes", chan_pingpong,
     bench_floor_pingpong},
    {"chan_stream_32", "msg/s", "one-way 32-byte frames to another process",
     chan_stream_32, bench_floor_stream_32},
    {"chan_stream_64k", "MB/s", "one-way 64 KiB frames to another process",
     chan_stream_64k, bench_floor_stream_64k},
    {"chan_ring_pingpong", "us",
     "round trip of a 16-byte frame through shared-memory rings",
     chan_ring_pingpong, bench_floor_pingpong},
    {"chan_ring_stream_32", "msg/s",
     "one-way 32-byte frames through shared-memory rings", chan_ring_stream_32,
     bench_floor_stream_32},
    {"chan_ring_stream_64k", "MB/s",
     "one-way 64 KiB frames through shared-memory rings", chan_ring_stream_64k,
     bench_floor_stream_64k},
    {NULL, NULL, NULL, NULL, NULL},
};
