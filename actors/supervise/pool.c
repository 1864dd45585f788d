/*
 * actors/supervise/pool.c - pools (include/axon/pool.h).
 *
 * The pool actor keeps each caller's request (to answer it with
 * ax_reply) and hands the worker ["$job", id, request]; the worker
 * answers ["$done", id, reply]. So the pool knows what every worker has
 * in hand, and when a worker ends it answers those callers with
 * ["$error", code, detail], which ax_pool_call turns into the error.
 */
#include <axon/pool.h>

#include <stdio.h>
#include <string.h>

#include <axon/supervisor.h>

#include "actors/supervise/supervise.h"
#include "base/alloc.h"
#include "base/error.h"

#define STOP_WAIT_MS 5000

/* What the pool actor is spawned with (a copy; init's arg after it). */
typedef struct pool_boot {
    AX_ALIGNAS(16) ax_pid caller; /* a size of 16s: init's arg aligned */
    ax_pool_spec spec;            /* its defaults filled in */
} pool_boot;

/* What a worker is spawned with (a copy; init's arg after it). */
typedef struct worker_boot {
    ax_pid pool;
    ax_server_boot s; /* 16-aligned, a size of 16s: init's arg aligned */
} worker_boot;

/* --- a worker ----------------------------------------------------------------
 */

/* The messages a worker holds while a callback runs: freed if the
 * worker ends inside it (on the heap: on-exit functions run after the
 * actor's stack is gone). */
typedef struct held {
    ax_msg *env, *req;
} held;

static void
free_held(void *arg)
{
    held *h = arg;

    ax_msg_free(h->env);
    ax_msg_free(h->req);
    ax__free(h);
}

/* One job: the request out of its envelope, the reply into one. */
static int
do_job(const worker_boot *w, void *state, held *h)
{
    uint64_t id;
    const void *bytes;
    size_t len, rlen;
    ax_msg *reply = NULL, *done = NULL;
    int code;

    if (ax_msg_unpack(h->env, "[_ u x]", &id, &bytes, &len) < 0 ||
        ax_msg_from_bytes(&h->req, bytes, len) < 0) {
        return 0; /* not a job: nothing to answer */
    }
    code = w->s.cb.handle_call(state, h->req, &reply);
    ax_msg_free(h->req);
    h->req = NULL;
    if (reply == NULL) {
        ax_msg_pack(&reply, "[]");
    }
    bytes = reply != NULL ? ax_msg_data(reply, &rlen) : NULL;
    if (bytes != NULL &&
        ax_msg_pack(&done, "[s u x]", "$done", id, bytes, rlen) == 0 &&
        ax_send(w->pool, done) < 0) {
        ax_msg_free(done);
    }
    ax_msg_free(reply);
    return code;
}

static int
worker_main(void *arg)
{
    const worker_boot *w = arg;
    void *state = NULL;
    void *init_arg = w->s.arg_size > 0 ? (void *)(w + 1) : w->s.arg;
    held *h = ax__calloc(1, sizeof(*h));
    int code;

    if (h == NULL || ax_on_exit(free_held, h) < 0) {
        ax__free(h);
        return AX_ENOMEM;
    }
    code = w->s.cb.init != NULL ? w->s.cb.init(init_arg, &state) : 0;
    if (code != 0) {
        return code; /* no state: no terminate */
    }
    while (code == 0) {
        if (ax_recv(&h->env, AX_FOREVER) != 0) {
            continue;
        }
        if (ax_shutdown_requested(h->env)) {
            break;
        }
        if (ax_msg_has_tag(h->env, "$job")) {
            code = do_job(w, state, h);
        }
        ax_msg_free(h->env);
        h->env = NULL;
    }
    if (w->s.cb.terminate != NULL) {
        w->s.cb.terminate(state, code);
    }
    return code;
}

/* --- the pool ----------------------------------------------------------------
 */

typedef struct job {
    uint64_t id;
    ax_msg *req; /* the caller's: answered with ax_reply */
    size_t worker;
} job;

typedef struct pool {
    const pool_boot *b;
    worker_boot *wb; /* the workers' boot record and init arg */
    size_t wb_size;
    ax_pid *pid;  /* each worker's (AX_PID_NONE: not running) */
    size_t *load; /* requests each has in hand */
    job *jobs;    /* in hand, any order */
    size_t njobs, cap;
    uint64_t next_id;
    ax__window replaced; /* the last replacements, for the intensity */
} pool;

static void
free_pool(void *arg)
{
    pool *p = arg;

    for (size_t i = 0; i < p->njobs; i++) {
        ax_msg_free(p->jobs[i].req);
    }
    ax__free(p->jobs);
    ax__free(p->wb);
    ax__free(p->pid);
    ax__free(p->load);
    ax__window_fini(&p->replaced);
    ax__free(p);
}

static int
start_worker(pool *p, size_t i)
{
    ax_spawn_opts o = p->b->spec.worker; /* name, monitor: cleared */

    o.link = true;
    o.arg_size = p->wb_size;
    return ax_spawn(worker_main, p->wb, &o, &p->pid[i]);
}

/* Answer job k with reply (NULL: none could be made), and forget it. */
static void
finish_job(pool *p, size_t k, ax_msg *reply)
{
    if (reply != NULL) {
        ax_reply(p->jobs[k].req, reply);
    }
    ax_msg_free(p->jobs[k].req);
    p->load[p->jobs[k].worker]--;
    p->jobs[k] = p->jobs[--p->njobs];
}

/* Answer job k with an error, and forget it. */
static void
fail_job(pool *p, size_t k, int code, const char *why)
{
    ax_msg *e = NULL;

    finish_job(p, k,
               ax_msg_pack(&e, "[s d s]", "$error", code, why) == 0 ? e : NULL);
}

/* A caller's request: to the least-loaded running worker. */
static void
give_job(pool *p, ax_msg *req)
{
    size_t best = SIZE_MAX;
    const void *bytes;
    size_t len;
    ax_msg *env = NULL;

    for (size_t i = 0; i < p->b->spec.workers; i++) {
        if (!ax_pid_is_none(p->pid[i]) &&
            (best == SIZE_MAX || p->load[i] < p->load[best])) {
            best = i;
        }
    }
    if (p->njobs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        job *more = ax__realloc(p->jobs, cap * sizeof(job));

        if (more == NULL) {
            ax_msg_free(req); /* its caller's wait ends at its timeout */
            return;
        }
        p->jobs = more;
        p->cap = cap;
    }
    p->jobs[p->njobs] = (job){++p->next_id, req, best == SIZE_MAX ? 0 : best};
    p->load[p->jobs[p->njobs].worker]++;
    p->njobs++;
    if (best == SIZE_MAX) {
        fail_job(p, p->njobs - 1, AX_EAGAIN, "ax_pool_call: no worker runs");
        return;
    }
    bytes = ax_msg_data(req, &len);
    if (ax_msg_pack(&env, "[s u x]", "$job", p->next_id, bytes, len) < 0 ||
        ax_send(p->pid[best], env) < 0) {
        ax_msg_free(env);
        fail_job(p, p->njobs - 1, AX_ENOMEM, "ax_pool_call: not handed on");
    }
}

/* ["$done", id, reply]: to the caller. */
static void
job_done(pool *p, const ax_msg *m)
{
    uint64_t id;
    const void *bytes;
    size_t len;
    ax_msg *reply = NULL;

    if (ax_msg_unpack(m, "[_ u x]", &id, &bytes, &len) < 0) {
        return;
    }
    for (size_t k = 0; k < p->njobs; k++) {
        if (p->jobs[k].id == id) {
            finish_job(p, k,
                       ax_msg_from_bytes(&reply, bytes, len) == 0 ? reply
                                                                  : NULL);
            return;
        }
    }
}

/* Every request in hand answered with an error; every worker stopped. */
static void
stop_all(pool *p)
{
    while (p->njobs > 0) {
        fail_job(p, p->njobs - 1, AX_ECONNRESET,
                 "ax_pool_call: the pool stopped");
    }
    for (size_t i = p->b->spec.workers; i-- > 0;) {
        if (!ax_pid_is_none(p->pid[i])) {
            ax__stop_linked(p->pid[i], STOP_WAIT_MS);
            p->pid[i] = AX_PID_NONE;
        }
    }
}

/* Worker i ended with info: its jobs fail, a new one takes its place. */
static void
worker_ended(pool *p, size_t i, const ax_exit_info *info)
{
    char why[96], reason[48];

    snprintf(why, sizeof(why), "ax_pool_call: the worker ended (%s)",
             ax_exit_describe(info, reason, sizeof(reason)));
    p->pid[i] = AX_PID_NONE;
    for (size_t k = p->njobs; k-- > 0;) {
        if (p->jobs[k].worker == i) {
            fail_job(p, k, AX_ECONNRESET, why);
        }
    }
    if (!ax__window_allows(&p->replaced)) {
        stop_all(p);
        ax_exit(AX_SUP_GAVE_UP);
    }
    if (start_worker(p, i) < 0) {
        p->pid[i] = AX_PID_NONE; /* the others go on; calls see EAGAIN */
    }
}

static pool *
new_pool(const pool_boot *b)
{
    pool *p = ax__calloc(1, sizeof(*p));

    if (p == NULL) {
        return NULL;
    }
    p->b = b;
    p->wb_size = sizeof(worker_boot) + b->spec.arg_size;
    p->wb = ax__calloc(1, p->wb_size);
    p->pid = ax__calloc(b->spec.workers, sizeof(ax_pid));
    p->load = ax__calloc(b->spec.workers, sizeof(size_t));
    if (p->wb == NULL || p->pid == NULL || p->load == NULL ||
        ax__window_init(&p->replaced, b->spec.intensity, b->spec.period_ms) <
            0 ||
        ax_on_exit(free_pool, p) < 0) {
        free_pool(p);
        return NULL;
    }
    p->wb->pool = ax_self();
    p->wb->s = (ax_server_boot){b->spec.cb, b->spec.arg, b->spec.arg_size};
    memcpy(p->wb + 1, b + 1, b->spec.arg_size);
    for (size_t i = 0; i < b->spec.workers; i++) {
        p->pid[i] = AX_PID_NONE;
    }
    return p;
}

int
ax__pool_main(void *arg)
{
    const pool_boot *b = arg;
    pool *p = new_pool(b);
    int rc = p != NULL ? 0 : AX_ENOMEM;

    ax_trap_exit(true);
    for (size_t i = 0; rc == 0 && i < b->spec.workers; i++) {
        rc = start_worker(p, i);
    }
    ax__tell_started(b->caller, rc);
    if (rc < 0) {
        ax_unlink(b->caller); /* the error is its answer, not its end */
        if (p != NULL) {
            stop_all(p);
        }
        return rc;
    }
    for (;;) {
        ax_msg *m;
        ax_pid from;
        ax_exit_info info;
        size_t i;

        if (ax_recv(&m, AX_FOREVER) != 0) {
            continue;
        }
        if (ax_msg_is_call(m) && !ax_msg_has_tag(m, "$stop")) {
            give_job(p, m); /* kept until answered */
            continue;
        }
        if (ax_msg_has_tag(m, "$done")) {
            job_done(p, m);
        } else if (ax_msg_has_tag(m, "EXIT") &&
                   ax_exit_msg_parse(m, &from, &info) == 0) {
            for (i = 0; i < b->spec.workers && !ax_pid_equal(p->pid[i], from);
                 i++) {
            }
            if (i < b->spec.workers) {
                worker_ended(p, i, &info);
            }
        } else if (ax_msg_has_tag(m, "$stop") || ax_shutdown_requested(m)) {
            ax_msg *ok = NULL;

            stop_all(p);
            if (ax_msg_is_call(m) && ax_msg_pack(&ok, "[s]", "ok") == 0) {
                ax_reply(m, ok);
            }
            ax_msg_free(m);
            return 0;
        }
        ax_msg_free(m);
    }
}

bool
ax__pool_boot_ok(const void *boot, size_t len)
{
    pool_boot b;

    if (len < sizeof(b)) {
        return false;
    }
    memcpy(&b, boot, sizeof(b));
    return b.spec.workers > 0 && b.spec.workers <= AX_POOL_MAX_WORKERS &&
           b.spec.cb.handle_call != NULL && b.spec.intensity > 0 &&
           b.spec.intensity <= AX_SUP_MAX_INTENSITY && b.spec.period_ms > 0 &&
           b.spec.arg_size <= len - sizeof(b) && !b.spec.worker.link &&
           !b.spec.worker.monitor && b.spec.worker.name == NULL;
}

void
ax__pool_boot_caller(void *boot, ax_pid caller)
{
    ((pool_boot *)boot)->caller = caller;
}

/* --- the API -------------------------------------------------------------- */

/* Check spec; its boot record's size in *size. */
static int
check_pool(const ax_pool_spec *spec, size_t *size)
{
    if (spec == NULL || spec->cb.handle_call == NULL || spec->workers == 0 ||
        spec->workers > AX_POOL_MAX_WORKERS || spec->intensity < 0 ||
        spec->intensity > AX_SUP_MAX_INTENSITY || spec->period_ms < 0) {
        return ax__fail(AX_EINVAL,
                        "ax_pool_start: a handle_call, 1 to %d "
                        "workers, and an intensity and period "
                        "in range are needed",
                        AX_POOL_MAX_WORKERS);
    }
    if (spec->arg_size > AX_ARG_MAX - sizeof(pool_boot)) {
        return ax__fail(AX_EMSGSIZE, "ax_pool_start: arg_size %zu too big",
                        spec->arg_size);
    }
    *size = sizeof(pool_boot) + spec->arg_size;
    return 0;
}

/* spec's boot record at b (zeroed, big enough); caller: who waits. */
static void
lay_out_pool(const ax_pool_spec *spec, pool_boot *b, ax_pid caller)
{
    b->caller = caller;
    b->spec = *spec;
    b->spec.worker.name = NULL; /* the workers' own are not taken */
    b->spec.worker.link = b->spec.worker.monitor = false;
    b->spec.worker.monitor_ref = NULL;
    if (spec->intensity == 0) {
        b->spec.intensity = 3 * (int)spec->workers;
    }
    if (spec->period_ms == 0) {
        b->spec.period_ms = 5000;
    }
    if (spec->arg_size > 0) {
        memcpy(b + 1, spec->arg, spec->arg_size);
    }
}

int
ax_pool_start(const ax_pool_spec *spec, const ax_spawn_opts *opts, ax_pid *out)
{
    ax_spawn_opts o = opts != NULL ? *opts : (ax_spawn_opts){0};
    bool in_actor = !ax_pid_is_none(ax_self());
    pool_boot *b;
    size_t size = 0;
    ax_pid pid;
    int rc = check_pool(spec, &size);

    if (rc < 0) {
        return rc;
    }
    if ((b = ax__calloc(1, size)) == NULL) {
        return AX_ENOMEM;
    }
    lay_out_pool(spec, b, in_actor ? ax_self() : AX_PID_NONE);
    o.arg_size = size; /* the spawn makes room for the copy on its stack */
    rc = ax_spawn(ax__pool_main, b, &o, &pid);
    ax__free(b);
    if (rc == 0 && in_actor) {
        rc = ax__await_started(pid, "ax_pool_start: the pool");
    }
    if (rc == 0 && out != NULL) {
        *out = pid;
    }
    return rc;
}

int
ax_pool_child_spec(ax_child_spec *out, const char *id, const ax_pool_spec *spec,
                   void *buf, size_t size, size_t *needed)
{
    size_t n = 0;
    int rc = check_pool(spec, &n);

    AX_REQUIRE(out != NULL, "ax_pool_child_spec: out is NULL");
    if (rc < 0) {
        return rc;
    }
    if (needed != NULL) {
        *needed = n;
    }
    if (buf == NULL || size < n) {
        return ax__fail(AX_EMSGSIZE,
                        "ax_pool_child_spec: the pool takes %zu bytes, the "
                        "buffer has %zu",
                        n, buf != NULL ? size : 0);
    }
    memset(buf, 0, n);
    lay_out_pool(spec, buf, AX_PID_NONE);
    *out = (ax_child_spec){0};
    out->id = id;
    out->fn = ax__pool_main;
    out->arg = buf;
    out->opts.arg_size = n;
    out->restart = AX_RESTART_PERMANENT;
    out->shutdown_ms = AX_SHUTDOWN_INFINITY; /* it stops its workers */
    return 0;
}

int
ax_pool_call(ax_pid pool_pid, ax_msg *req, ax_msg **reply, int timeout_ms)
{
    const char *why = NULL;
    size_t len = 0;
    int code = 0;
    int rc = ax_call(pool_pid, req, reply, timeout_ms);

    if (rc == 0 && ax_msg_has_tag(*reply, "$error")) {
        rc = ax_msg_unpack(*reply, "[_ d s]", &code, &why, &len) == 0
                 ? ax__fail(code, "%.*s", (int)len, why)
                 : AX_EPROTO;
        ax_msg_free(*reply);
        *reply = NULL;
    }
    return rc;
}

int
ax_pool_stop(ax_pid pool_pid, int timeout_ms)
{
    return ax__stop_by_call(pool_pid, "$stop", timeout_ms);
}
