/*
 * actors/process/forkserver.c - the fork server: a small process forked at
 * ax_init (ax_runtime_opts.forkserver) that forks process actors on
 * request, so that a child costs what a fork of a small program costs,
 * however large this process has grown.
 *
 * Why: a process actor forked from this process shares its memory, and
 * every page this process writes after the fork (its channels, tables and
 * buffers, which grow with the number of children) becomes the child's
 * own copy, so memory per child and the time of a fork grow with the
 * number of children. The server's memory is this process as it was at
 * ax_init, and it does not change.
 *
 * The protocol, over one SOCK_SEQPACKET socket pair (this program on both
 * ends, so the messages are plain structs):
 * - a request (fs_req, then arg_size bytes of arg) carries the child's
 *   channel fds and its ring's memfd (SCM_RIGHTS) and everything
 *   ax__child_main needs; the child's address and channel exist in this
 *   process before the request is sent, as for a fork from here;
 * - the server answers each request with STARTED (the OS pid) or FAILED
 *   (-errno), and reports each child's end with EXITED (its wait status):
 *   it reaps its children (they are its own), this process forwards
 *   nothing but uses the pid for kill(2) until EXITED arrives;
 * - a child runs nothing of its own before its STARTED is in this
 *   process's socket (it waits at the server's start gate): whatever it
 *   does, even answering a message, comes after, so a server that dies
 *   at any moment leaves no child that ran but is reported as never
 *   started;
 * - neither side ever blocks on the socket: each queues what the other is
 *   not ready for (a burst of ten thousand spawns fills both buffers).
 *
 * The server dies with this process (PR_SET_PDEATHSIG), and its children
 * die with it: if it ends first (it crashed, or was killed), its children
 * are reported killed by SIGKILL and later spawns through it fail with
 * AX_ECHILD.
 */
#include "actors/process/process.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"
#include "transport/chan_internal.h"

static ax_rt *const rt = &ax__rt;

#define FS_MAGIC 0x61786673u /* "axfs" */
#define FS_PIPES 1u          /* two channel fds (else one socket) */
#define FS_RING 2u           /* a ring memfd follows the channel fds */
#define FS_MAX_FDS 3

/* A request: what ax__child_main needs, then arg_size bytes. */
typedef struct fs_req {
    uint32_t magic;
    uint32_t flags;
    ax_actor_fn fn;
    void *token; /* this process's ax_child, echoed in the answers */
    uint64_t parent_node;
    ax_pid pid;
    ax_pid spawner;
    uint64_t mref;
    size_t stack_size;
    size_t mailbox_capacity;
    size_t arg_size;
    size_t ring_cap;
    bool link;
    bool monitor;
} fs_req;

enum { FS_STARTED = 1, FS_FAILED, FS_EXITED };

/* An answer of the server. */
typedef struct fs_rep {
    uint32_t kind;
    int32_t value; /* FAILED: -errno; EXITED: the wait status */
    int32_t os_pid;
    void *token;
} fs_rep;

/* --- this process's side -------------------------------------------------- */

/* A request that waits for room in the socket; it owns its fds. */
typedef struct fs_out {
    struct fs_out *next;
    int fds[FS_MAX_FDS];
    int nfds;
    size_t len;
    unsigned char bytes[]; /* fs_req, then the arg */
} fs_out;

static struct {
    pid_t pid; /* the server's OS pid; 0: none */
    int fd;    /* this process's end of the socket */
    ev_io rw;  /* answers to read */
    ev_io ww;  /* room for the requests that wait */
    fs_out *head;
    fs_out **tail;
    size_t nout; /* requests in head: each holds two or three fds */
    size_t kids; /* children asked for and not yet EXITED or FAILED */
    bool gone;   /* it ended before ax_fini */
} fs = {.fd = -1};

bool
ax__forkserver_up(void)
{
    return fs.pid > 0;
}

bool
ax__forkserver_gone(void)
{
    return fs.gone;
}

size_t
ax__forkserver_waiting(void)
{
    return fs.nout;
}

unsigned
ax__forkserver_refs(void)
{
    return fs.kids > 0 ? 1u : 0u; /* kids_add's */
}

static void
out_free(fs_out *o)
{
    fs.nout--;
    for (int i = 0; i < o->nfds; i++) {
        close(o->fds[i]);
    }
    ax__free(o);
}

/* Send o now: 1 sent (o is freed), 0 no room, < 0 the server is gone. */
static int
out_send(fs_out *o)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * FS_MAX_FDS)];
    } ctl;
    struct iovec iov = {o->bytes, o->len};
    struct msghdr mh = {0};
    struct cmsghdr *c;

    memset(&ctl, 0, sizeof(ctl));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.space;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)o->nfds);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)o->nfds);
    memcpy(CMSG_DATA(c), o->fds, sizeof(int) * (size_t)o->nfds);
    if (sendmsg(fs.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    out_free(o);
    return 1;
}

static void server_gone(void);

/*
 * A child asked for (+1) or ended (-1). The answers keep the loop alive
 * while children wait for theirs, as an ev_child watcher does for a
 * forked one: a child's end of stream may come before its EXITED, and
 * nothing else would be left to wait for it.
 */
static void
kids_add(int d)
{
    if (d > 0 && fs.kids++ == 0) {
        ev_ref(rt->loop);
    } else if (d < 0 && fs.kids > 0 && --fs.kids == 0) {
        ev_unref(rt->loop);
    }
}

/* Send what waits, in order, while there is room. */
static void
flush_out(void)
{
    int rc = 1;

    while (fs.head != NULL) {
        fs_out *next = fs.head->next;

        if ((rc = out_send(fs.head)) != 1) {
            break;
        }
        fs.head = next; /* out_send freed the old head */
    }
    if (rc < 0) {
        server_gone();
    } else if (fs.head != NULL) {
        ev_io_start(rt->loop, &fs.ww);
    } else {
        ev_io_stop(rt->loop, &fs.ww);
        fs.tail = &fs.head;
    }
}

static void
on_room(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    flush_out();
}

/* A child that will not start: its spawn fails as a failed fork would. */
static void
child_failed(ax_child *c, int err)
{
    ax_exit_info i = {AX_EXIT_ERROR, err, 0, false};

    ax__fail(err, "fork server: fork failed: %s", ax_strerror(err));
    ax__node_down(c->peer->node, NULL, &i);
    ax__child_abort(c);
}

static void
on_answer(const fs_rep *a)
{
    ax_child *c = a->token;

    switch (a->kind) {
    case FS_STARTED:
        c->os_pid = a->os_pid;
        break;
    case FS_FAILED:
        kids_add(-1);
        child_failed(c, a->value);
        break;
    case FS_EXITED:
        kids_add(-1);
        ax__child_reaped(c, a->value);
        break;
    default:
        break;
    }
}

static void
on_answers(struct ev_loop *loop, ev_io *w, int revents)
{
    fs_rep a;
    ssize_t n;

    (void)loop;
    (void)w;
    (void)revents;
    for (bool reset = false;;) {
        n = recv(fs.fd, &a, sizeof(a), MSG_DONTWAIT);
        if (n == sizeof(a)) {
            on_answer(&a);
        } else if (n < 0 && errno == ECONNRESET && !reset) {
            reset = true; /* it died with requests unread: said before the
                             answers it sent, which are read first */
        } else {
            break;
        }
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
        (n > 0 && n != sizeof(a))) {
        server_gone();
    }
}

/* Stop the watchers, drop what waits, close the socket, reap the server. */
static void
server_close(void)
{
    fs_out *o;

    if (ev_is_active(&fs.rw)) {
        if (fs.kids == 0) {
            ev_ref(rt->loop); /* it was unref'd when started */
        }
        ev_io_stop(rt->loop, &fs.rw);
    }
    fs.kids = 0;
    ev_io_stop(rt->loop, &fs.ww);
    while ((o = fs.head) != NULL) {
        fs.head = o->next;
        out_free(o);
    }
    fs.tail = &fs.head;
    close(fs.fd);
    fs.fd = -1;
    kill(fs.pid, SIGKILL); /* gone already, or its children are */
    while (waitpid(fs.pid, NULL, 0) < 0 && errno == EINTR) {
    }
    fs.pid = 0;
}

/*
 * The server ended before ax_fini: its children died with it (their death
 * signal). Each one not started yet fails as a failed fork; each started
 * one ends as killed by SIGKILL once its channel ends.
 */
static void
server_gone(void)
{
    ax_peer *next;

    server_close();
    fs.gone = true;
    for (ax_peer *p = ax__net.peers; p != NULL; p = next) {
        ax_child *c = p->child;

        next = p->next; /* child_failed may unlink p */
        if (c == NULL || !c->via_server || c->reaped) {
            continue;
        }
        if (c->os_pid == 0) {
            child_failed(c, AX_ECHILD);
        } else {
            ax__child_reaped(c, SIGKILL); /* a wait status: killed by 9 */
        }
    }
}

int
ax__forkserver_spawn(fork_req *r)
{
    fs_req q;
    fs_out *o;

    memset(&q, 0, sizeof(q)); /* its padding goes out too */
    q.magic = FS_MAGIC;
    q.fn = r->fn;
    q.token = r->peer->child;
    q.parent_node = rt->node;
    q.pid = r->pid;
    q.spawner = r->spawner;
    q.mref = r->mref;
    q.stack_size = r->stack_size;
    q.mailbox_capacity = r->mailbox_capacity;
    q.arg_size = r->arg_size;
    q.ring_cap = AX_PROC_RING;
    q.link = r->link;
    q.monitor = r->monitor;

    if (fs.pid <= 0) {
        return ax__fail(AX_ECHILD, "ax_spawn: the fork server %s",
                        fs.gone ? "has died" : "is not running");
    }
    o = ax__alloc(sizeof(*o) + sizeof(q) + r->arg_size);
    if (o == NULL) {
        return AX_ENOMEM;
    }
    o->next = NULL;
    o->nfds = 0;
    o->fds[o->nfds++] = r->child_fds[0];
    if (r->child_fds[1] != r->child_fds[0]) {
        q.flags |= FS_PIPES;
        o->fds[o->nfds++] = r->child_fds[1];
    }
    if (r->ring_fd >= 0) {
        q.flags |= FS_RING;
        o->fds[o->nfds++] = r->ring_fd;
    }
    r->child_fds[0] = r->child_fds[1] = r->ring_fd = -1; /* o's now */
    o->len = sizeof(q) + r->arg_size;
    memcpy(o->bytes, &q, sizeof(q));
    if (r->arg_size > 0) {
        memcpy(o->bytes + sizeof(q), r->arg, r->arg_size);
    }
    ((ax_child *)r->peer->child)->via_server = true;
    kids_add(1);
    *fs.tail = o;
    fs.tail = &o->next;
    fs.nout++;
    flush_out();
    return 0;
}

/* --- the server ----------------------------------------------------------- */

/*
 * The server's own memory (its children's list, its answers, the request
 * it reads) is not inherited by its children (MADV_DONTFORK): a page the
 * server writes after a fork that its last child shares becomes that
 * child's own copy, so whatever the server writes for each request would
 * cost each child a page. It neither mallocs nor writes a page it shares
 * with its children but the arg it passes (arg_pass) and its stack:
 * its state is one block of it (srv).
 */
static void *
server_mem(void *old, size_t old_len, size_t len)
{
    void *p = old != NULL ? mremap(old, old_len, len, MREMAP_MAYMOVE)
                          : mmap(NULL, len, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        _exit(75); /* this process is lost: its parent sees EOF */
    }
    madvise(p, len, MADV_DONTFORK);
    return p;
}

/* Grow a server_mem array of *cap elements of size each (x2). */
static void *
server_grow(void *a, size_t *cap, size_t size)
{
    size_t n = *cap ? 2 * *cap : 4096 / size;

    a = server_mem(a, *cap * size, n * size);
    *cap = n;
    return a;
}

/* The server's children, to find the token of the one that ended. */
typedef struct kid {
    pid_t os;
    void *token;
} kid;

/* What the server writes as it serves, in server_mem (so are the arrays):
 * not a static, which would share a page with what its children write. */
typedef struct server_state {
    kid *kids;
    size_t nkids, capkids;
    fs_rep *answers; /* waiting for room in the socket */
    size_t head, nanswers, capanswers;
    uint32_t forked;     /* children forked so far */
    uint32_t started;    /* STARTED answers sent so far */
    unsigned char req[]; /* the request read */
} server_state;

static server_state *srv;

/* The start gate: how many STARTED answers are in the parent's socket, in
 * memory shared with every child (MAP_SHARED: the server's writes to it
 * copy no page). Child n (1-based) waits until it reads n; it dies with
 * the server if the server dies first (PR_SET_PDEATHSIG). */
static _Atomic uint32_t *gate;
static pid_t server_os; /* the server's pid, set before its first fork */

static void
gate_open(void)
{
    atomic_store_explicit(gate, srv->started, memory_order_release);
    syscall(SYS_futex, gate, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void
gate_wait(uint32_t n, pid_t server)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != server) {
        _exit(71); /* the server died between fork and prctl */
    }
    for (;;) {
        uint32_t now = atomic_load_explicit(gate, memory_order_acquire);

        if ((int32_t)(now - n) >= 0) {
            break; /* its STARTED is sent (the count wraps: a difference) */
        }
        syscall(SYS_futex, gate, FUTEX_WAIT, now, NULL, NULL, 0);
    }
    munmap((void *)gate, sizeof(*gate));
    gate = NULL;
}
#define REQ_MAX (sizeof(fs_req) + AX_ARG_MAX)

/* The copy of a request's arg the next child inherits: a mapping of its
 * own, written only for a spawn with an arg. */
static unsigned char *arg_pass;

static void
answer(uint32_t kind, int32_t value, pid_t os, void *token)
{
    if (srv->head > 0 && srv->head == srv->nanswers) {
        srv->head = srv->nanswers = 0;
    }
    if (srv->nanswers == srv->capanswers) {
        srv->answers =
            server_grow(srv->answers, &srv->capanswers, sizeof(fs_rep));
    }
    srv->answers[srv->nanswers++] = (fs_rep){kind, value, os, token};
}

static void
send_answers(int sock)
{
    uint32_t started = srv->started;

    while (srv->head < srv->nanswers) {
        ssize_t n = send(sock, &srv->answers[srv->head], sizeof(fs_rep),
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            _exit(0); /* the parent is gone */
        }
        srv->started += srv->answers[srv->head].kind == FS_STARTED;
        srv->head++;
    }
    if (srv->started != started) {
        gate_open(); /* those children may run */
    }
}

static void
kid_add(pid_t os, void *token)
{
    if (srv->nkids == srv->capkids) {
        srv->kids = server_grow(srv->kids, &srv->capkids, sizeof(kid));
    }
    srv->kids[srv->nkids++] = (kid){os, token};
}

/* Reap every child that ended and say so. */
static void
reap_kids(void)
{
    pid_t os;
    int st;

    while ((os = waitpid(-1, &st, WNOHANG)) > 0) {
        for (size_t i = 0; i < srv->nkids; i++) {
            if (srv->kids[i].os == os) {
                answer(FS_EXITED, st, os, srv->kids[i].token);
                srv->kids[i] = srv->kids[--srv->nkids];
                break;
            }
        }
    }
}

/* In the new child: its fork request, from the server's request q. */
/* libev's allocations, into the own heap too. */
static void *
ev_alloc(void *p, long size)
{
    if (size == 0) {
        ax__free(p);
        return NULL;
    }
    return ax__realloc(p, (size_t)size);
}

static _Noreturn void
become_kid(const fs_req *q, const int *fds, int nfds, uint32_t n, pid_t server)
{
    fork_req *r;

    gate_wait(n, server);
    if (ax__own_heap() == 0) { /* not on the pages it inherited */
        ev_set_allocator(ev_alloc);
    }
    r = ax__calloc(1, sizeof(*r));

    if (r == NULL || (q->arg_size > 0 && !(r->arg = ax__alloc(q->arg_size)))) {
        _exit(72);
    }
    if (q->arg_size > 0) {
        memcpy(r->arg, arg_pass, q->arg_size);
    }
    r->fn = q->fn;
    r->arg_size = q->arg_size;
    r->stack_size = q->stack_size;
    r->mailbox_capacity = q->mailbox_capacity;
    r->pid = q->pid;
    r->spawner = q->spawner;
    r->link = q->link;
    r->monitor = q->monitor;
    r->mref = q->mref;
    r->child_fds[0] = fds[0];
    r->child_fds[1] = (q->flags & FS_PIPES) ? fds[1] : fds[0];
    r->ring_fd = -1;
    if (q->flags & FS_RING) {
        if (ax__ring_map_from_fd(fds[nfds - 1], q->ring_cap, &r->ring) < 0) {
            _exit(72);
        }
        close(fds[nfds - 1]);
    }
    ax__child_main_clean(r, q->parent_node);
}

/* Fork the child a request asks for. */
static void
start_kid(const fs_req *q, const int *fds, int nfds, int sock, int sfd)
{
    pid_t os;
    uint32_t n = srv->forked + 1;

    if (q->arg_size > 0) {
        memcpy(arg_pass, srv->req + sizeof(*q), q->arg_size);
    }
    os = fork();
    if (os == 0) {
        close(sock);
        close(sfd);
        become_kid(q, fds, nfds, n, server_os);
    }
    if (os < 0) {
        answer(FS_FAILED, -errno, 0, q->token);
    } else {
        srv->forked = n;
        kid_add(os, q->token);
        answer(FS_STARTED, 0, os, q->token);
    }
}

/* Take one request: false at the end of the stream (the parent is gone,
 * or ax_fini). */
static bool
take_request(int sock, int sfd)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * FS_MAX_FDS)];
    } ctl;
    struct iovec iov = {srv->req, REQ_MAX};
    struct msghdr mh = {0};
    int fds[FS_MAX_FDS], nfds = 0;
    fs_req q;
    ssize_t n;

    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.space;
    mh.msg_controllen = sizeof(ctl.space);
    n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR;
    }
    if (n == 0) {
        return false;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL;
         c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)nfds);
        }
    }
    memcpy(&q, srv->req, sizeof(q) < (size_t)n ? sizeof(q) : (size_t)n);
    if ((size_t)n >= sizeof(q) && q.magic == FS_MAGIC &&
        (size_t)n == sizeof(q) + q.arg_size &&
        nfds == 1 + !!(q.flags & FS_PIPES) + !!(q.flags & FS_RING)) {
        start_kid(&q, fds, nfds, sock, sfd);
    }
    for (int i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    return true;
}

/* The server's loop: requests in, answers out, children reaped. */
static _Noreturn void
serve(int sock, int sfd)
{
    for (;;) {
        struct pollfd pf[2] = {
            {sock, POLLIN | (srv->head < srv->nanswers ? POLLOUT : 0), 0},
            {sfd, POLLIN, 0}};
        struct signalfd_siginfo si;

        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            _exit(74);
        }
        if (pf[1].revents & POLLIN) {
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
            }
            reap_kids();
        }
        if ((pf[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
            !take_request(sock, sfd)) {
            _exit(0); /* its children die with it */
        }
        send_answers(sock);
    }
}

/* The server's clean start: the runtime it inherited let go of, every fd
 * but 0, 1, 2 and its socket closed, SIGCHLD read from a signalfd. */
static _Noreturn void
server_main(int sock, pid_t parent)
{
    sigset_t chld;
    int sfd;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(71);
    }
    server_os = getpid();
    ax__child_forget_all();
    if (sock != 3) {
        if (dup3(sock, 3, O_CLOEXEC) < 0) {
            _exit(73);
        }
        if (sock < 3) {
            close(sock); /* above 3: close_range's */
        }
    }
    close_range(4, ~0u, 0);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        _exit(73);
    }
    srv = server_mem(NULL, 0, sizeof(*srv) + REQ_MAX);
    arg_pass = mmap(NULL, AX_ARG_MAX, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    gate = mmap(NULL, sizeof(*gate), PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (arg_pass == MAP_FAILED || gate == MAP_FAILED) {
        _exit(75);
    }
    serve(3, sfd);
}

int
ax__forkserver_start(void)
{
    int sv[2], err;
    pid_t os, me = getpid();

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        err = -errno;
        return ax__fail(err, "ax_init: fork server: socketpair: %s",
                        ax_strerror(err));
    }
    fflush(NULL); /* nothing buffered may come out twice */
    os = fork();
    if (os == 0) {
        close(sv[0]);
        server_main(sv[1], me);
    }
    err = -errno;
    close(sv[1]);
    if (os < 0) {
        close(sv[0]);
        return ax__fail(err, "ax_init: fork server: fork: %s",
                        ax_strerror(err));
    }
    fs.pid = os;
    fs.fd = sv[0];
    fs.gone = false;
    fs.kids = 0;
    fs.head = NULL;
    fs.tail = &fs.head;
    ev_io_init(&fs.rw, on_answers, fs.fd, EV_READ);
    ev_io_init(&fs.ww, on_room, fs.fd, EV_WRITE);
    ev_io_start(rt->loop, &fs.rw);
    ev_unref(rt->loop); /* the server alone keeps no loop alive */
    return 0;
}

void
ax__forkserver_stop(void)
{
    if (fs.pid > 0) {
        server_close();
    }
    fs.gone = false;
}

void
ax__forkserver_forget(void)
{
    if (fs.fd >= 0) {
        close(fs.fd);
    }
    memset(&fs, 0, sizeof(fs));
    fs.fd = -1;
    fs.tail = &fs.head;
}
