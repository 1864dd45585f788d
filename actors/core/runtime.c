/*
 * actors/core/runtime.c - the scheduler: the run queue, park and wake, the
 * core's start and end, ax_run and ax_stop (ax_init and ax_fini, which
 * start and end every layer, are in actors/process/runtime.c).
 *
 * The scheduler is an ev_prepare watcher at top priority: just before the
 * loop would block, it runs every runnable actor (up to a budget), then
 * calls the turn_end hook, which writes what the actors sent (a channel's
 * own prepare watcher, started during this turn, would only run at the
 * next one: libev does not call a watcher started in a prepare callback in
 * the same iteration). An actor made runnable while no scheduler turn is
 * coming before the next poll (from another prepare watcher, say) starts
 * the `kick` idle watcher, whose only effect is that the poll does not
 * block; the scheduler stops it.
 */
#include "actors/core/core.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

#define DEFAULT_BUDGET 1024

ax_rt ax__rt;
bool ax__rt_up;
ax_core_hooks ax__core_hooks;

static ax_rt *const rt = &ax__rt;
static const ax_core_hooks *const hooks = &ax__core_hooks;

void
ax__core_on_end(void (**list)(ax_actor *), void (*fn)(ax_actor *))
{
    for (int i = 0; i < AX_END_HOOKS; i++) {
        if (list[i] == fn) {
            return;
        }
        if (list[i] == NULL) {
            list[i] = fn;
            return;
        }
    }
    AX_MISUSE("ax__core_on_end: more than %d hooks", AX_END_HOOKS);
}

ax_actor *
ax__self_actor(const char *fn)
{
    AX_REQUIRE(ax__rt_up && rt->current != NULL, "%s called outside an actor",
               fn);
    return rt->current;
}

ax_pid
ax_self(void)
{
    return ax__rt_up && rt->current ? ax__pid_of(rt->current) : AX_PID_NONE;
}

/* --- run queue ---------------------------------------------------------- */

/* runnext picks in a row before the queue gets its turn. */
#define RUNNEXT_MAX 64

static bool
rq_empty(void)
{
    return rt->rq.rq_next == &rt->rq && rt->runnext == NULL;
}

static ax_actor *
rq_pop(void)
{
    ax_actor *a = rt->runnext;

    if (a != NULL) {
        rt->runnext = NULL;
        if (rt->runnext_streak++ < RUNNEXT_MAX) {
            return a;
        }
        ax__make_runnable(a); /* to the tail: the queue's turn now */
    }
    rt->runnext_streak = 0;
    a = rt->rq.rq_next;
    if (a == &rt->rq) {
        return NULL;
    }
    rt->rq.rq_next = a->rq_next;
    a->rq_next->rq_prev = &rt->rq;
    a->rq_next = a->rq_prev = NULL;
    return a;
}

void
ax__rq_remove(ax_actor *a)
{
    if (rt->runnext == a) {
        rt->runnext = NULL;
        return;
    }
    if (rt->spawn_at == a) {
        rt->spawn_at = a->rq_prev;
    }
    if (a->rq_next != NULL) {
        a->rq_prev->rq_next = a->rq_next;
        a->rq_next->rq_prev = a->rq_prev;
        a->rq_next = a->rq_prev = NULL;
    }
}

void
ax__make_runnable(ax_actor *a)
{
    bool was_empty = rq_empty();

    a->state = A_RUNNABLE;
    a->rq_prev = rt->rq.rq_prev;
    a->rq_next = &rt->rq;
    rt->rq.rq_prev->rq_next = a;
    rt->rq.rq_prev = a;
    if (was_empty && rt->current == NULL) {
        ev_idle_start(rt->loop, &rt->kick);
    }
}

/*
 * Depth-first spawning keeps a tree of actors (skynet: a million leaves)
 * from being alive all at once: the subtree of the first child finishes,
 * and its stacks are reused hot, before the second child starts.
 */
void
ax__make_runnable_child(ax_actor *a)
{
    ax_actor *at = rt->spawn_at;

    if (rt->current == NULL) {
        ax__make_runnable(a);
        return;
    }
    a->state = A_RUNNABLE;
    a->rq_prev = at;
    a->rq_next = at->rq_next;
    at->rq_next->rq_prev = a;
    at->rq_next = a;
    rt->spawn_at = a;
}

/* --- park and wake ------------------------------------------------------ */

void
ax__park(ax_actor *a, wait_kind w, int timeout_ms)
{
    a->state = A_WAITING;
    a->wait = w;
    a->timed_out = false;
    if (timeout_ms >= 0) {
        /* libev counts from the time it read before this turn of actors
         * began, which may be long ago: the wait counts from now. */
        ev_now_update(rt->loop);
        ev_timer_set(&a->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(rt->loop, &a->timer);
    }
    ax__ctx_switch(&a->ctx, &rt->sched_ctx);
}

void
ax__wake(ax_actor *a)
{
    if (a->state != A_WAITING) {
        return;
    }
    ev_timer_stop(rt->loop, &a->timer);
    ev_io_stop(rt->loop, &a->io);
    a->wait = W_NONE;
    if (rt->current == NULL || a == rt->current) {
        ax__make_runnable(a);
        return;
    }
    /* Woken by the running actor (a message, say): it runs next, as in
     * Go's runnext. A reply is handled while its request is hot, and a
     * parent sums its children before their siblings' subtrees start. */
    if (rt->runnext != NULL) {
        ax__make_runnable(rt->runnext);
    }
    a->state = A_RUNNABLE;
    rt->runnext = a;
}

void
ax_yield(void)
{
    ax_actor *a = ax__self_actor("ax_yield");

    ax__make_runnable(a);
    ax__ctx_switch(&a->ctx, &rt->sched_ctx);
}

/* --- the scheduler ------------------------------------------------------- */

static void
run_actor(ax_actor *a)
{
    rt->current = a;
    rt->spawn_at = &rt->rq;
    a->state = A_RUNNING;
    a->st.switches++;
    rt->st.switches++;
    ax__ctx_switch(&rt->sched_ctx, &a->ctx);
    rt->current = NULL;
    if (a->state == A_DEAD) {
        ax__reap(a);
    }
    if (rt->sched_work != NULL) { /* asked for by the actor (a fork) */
        void (*fn)(void) = rt->sched_work;

        rt->sched_work = NULL;
        fn();
    }
}

void
ax__sched_defer(void (*fn)(void))
{
    if (rt->current == NULL) {
        fn(); /* outside any actor: this is the loop's stack */
    } else {
        rt->sched_work = fn;
    }
}

/* Whether ax_run is done: no actor here and no child process left. */
static bool
run_done(void)
{
    return rt->st.actors == 0 && !(hooks->busy != NULL && hooks->busy());
}

/* Whether the loop must run on without blocking: actors are ready, or
 * ax_run is about to return. */
bool
ax__sched_busy(void)
{
    return !rq_empty() || (rt->in_run && (rt->stop || run_done()));
}

void
ax__sched_turn(void)
{
    struct ev_loop *loop = rt->loop;
    int budget = rt->budget;
    ax_actor *a;

    while (budget-- > 0 && (a = rq_pop()) != NULL) {
        run_actor(a);
    }
    if (hooks->turn_end != NULL) {
        hooks->turn_end();
    }
    if (rq_empty()) {
        ev_idle_stop(loop, &rt->kick);
    } else {
        ev_idle_start(loop, &rt->kick); /* I/O gets a turn, then more */
    }
    if (rt->in_run && (rt->stop || run_done())) {
        ev_break(loop, EVBREAK_ALL);
    }
}

static void
on_sched(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    ax__sched_turn();
}

static void
on_kick(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    ev_idle_stop(loop, w);
}

/* --- init, run, fini ------------------------------------------------------ */

/* A node id no other process of this system will pick: random, never 0. */
uint64_t
ax__new_node_id(void)
{
    uint64_t id = 0;
    struct timespec ts;

    if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id)) {
        clock_gettime(CLOCK_REALTIME, &ts);
        id = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^
             (uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec;
    }
    id = id ? id : 1;
    ax__nodes_add(id); /* numbered before the id leaves this process */
    return id;
}

/*
 * Start an empty runtime on the default loop with node id `node`: at
 * ax_init, and in a forked child (with a fresh loop and a chosen node).
 * The budget is kept from before.
 */
int
ax__rt_start(uint64_t node)
{
    int budget = rt->budget ? rt->budget : DEFAULT_BUDGET;

    memset(rt, 0, sizeof(*rt));
    rt->budget = budget;
    rt->loop = ev_default_loop(0);
    if (rt->loop == NULL) {
        return ax__fail(AX_ENOMEM, "no libev default loop");
    }
    rt->node = node;
    ax__nodes_started(node);
    rt->rq.rq_next = rt->rq.rq_prev = &rt->rq;
    ax__ctx_init_current(&rt->sched_ctx);
    ev_prepare_init(&rt->sched, on_sched);
    ev_set_priority(&rt->sched, EV_MAXPRI);
    ev_prepare_start(rt->loop, &rt->sched);
    ev_unref(rt->loop); /* actors, not the scheduler, keep the loop alive */
    ev_idle_init(&rt->kick, on_kick);
    ev_set_priority(&rt->kick, EV_MAXPRI);
    ax__big_cache(true);
    ax__rt_up = true;
    return 0;
}

bool
ax__rq_empty(void)
{
    return rq_empty();
}

/* One function at a time: deadlock detection (process/quiet.c) is its
 * only user; a second would need a list. */
void
ax__run_outside(int (*fn)(void))
{
    if (rt->in_run) {
        rt->outside = fn;
        ev_break(rt->loop, EVBREAK_ONE);
    }
}

int
ax__deadlock(size_t elsewhere)
{
    size_t n = rt->st.actors + elsewhere;
    char where[64] = "";

    if (elsewhere > 0) {
        snprintf(where, sizeof(where), "; %zu of them in child processes",
                 elsewhere);
    }
    return ax__fail(AX_EDEADLK,
                    "ax_run: %zu actor%s wait%s and nothing can wake %s (no "
                    "timer, fd or channel is active%s)",
                    n, n == 1 ? "" : "s", n == 1 ? "s" : "",
                    n == 1 ? "it" : "them", where);
}

int
ax_run(void)
{
    int rc = 0;

    AX_REQUIRE(ax__rt_up && rt->current == NULL,
               "ax_run: needs ax_init, and not from inside an actor");
    rt->in_run = true;
    rt->stop = false;
    while (rc == 0 && !rt->stop && !run_done()) {
        /* false: no watcher left (fn, asked for while the last one ran,
         * needs no iteration first) */
        bool more = rt->outside != NULL || ev_run(rt->loop, 0) != 0;
        int (*fn)(void) = rt->outside;

        rt->outside = NULL;
        if (!more && !rt->stop && !run_done() && rq_empty()) {
            rc = ax__deadlock(0);
        } else if (fn != NULL) {
            rc = fn();
        }
    }
    rt->in_run = false;
    rt->outside = NULL;
    return rc;
}

void
ax_stop(void)
{
    if (ax__rt_up) {
        rt->stop = true;
        ev_break(rt->loop, EVBREAK_ALL);
    }
}

/* The end of the core: its watchers stopped, every stack released. */
void
ax__rt_stop(void)
{
    ev_idle_stop(rt->loop, &rt->kick);
    ev_ref(rt->loop);
    ev_prepare_stop(rt->loop, &rt->sched);
    ax__stack_forget_all(NULL); /* no stack is live any more */
    ax__big_cache(false);
    ax__nodes_ended(rt->node);
    ax__rt_up = false;
}

void
ax_runtime_stats_get(ax_runtime_stats *out)
{
    AX_REQUIRE(out != NULL, "ax_runtime_stats_get: out is NULL");
    *out = ax__rt_up ? rt->st : (ax_runtime_stats){0, 0, 0, 0, 0};
}

uint64_t
ax__new_ref(void)
{
    return ++rt->next_ref;
}

/* In a forked child: forget everything inherited but keep (promotion). */
void
ax__rt_forget(ax_actor *keep, const ax_stack *keep_stack)
{
    ax__table_forget();
    ax__stack_forget_all(keep_stack);
    if (keep != NULL) {
        keep->name = NULL; /* names stay with the registry, not the actor */
        keep->rq_next = keep->rq_prev = NULL;
    }
    ax__rt_up = false;
}
