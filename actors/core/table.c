/*
 * actors/core/table.c - the actor table, addresses, creation, exit, kill.
 *
 * Exits are processed as a worklist (rt.dying), never by recursion: an exit
 * can kill linked actors, whose exits kill theirs, and a chain of 100,000
 * links must not overflow a 64 KiB stack. When the running actor itself is
 * among the dead, it leaves last, by a final switch to the scheduler, which
 * releases its stack.
 */
#include "actors/core/core.h"

#include <string.h>

#include "base/alloc.h"
#include "base/error.h"

/* Dead slots kept before reuse: their exit reasons stay readable. */
#define REMEMBER_DEAD 1024
/* Freed actor structs kept for reuse. */
#define SPARE_MAX 4096

static ax_rt *const rt = &ax__rt;
static const ax_core_hooks *const hooks = &ax__core_hooks;

/*
 * Actors promoted into this process keep the address they were born with
 * (another node's): they live here under an alias, not in a slot.
 */
typedef struct alias {
    ax_pid pid;
    ax_actor *actor;
} alias;

static alias *aliases;
static size_t naliases;

ax_pid
ax__pid_of(const ax_actor *a)
{
    return (ax_pid){a->node, a->id};
}

int
ax__alias_add(ax_actor *a)
{
    alias *n = ax__realloc(aliases, (naliases + 1) * sizeof(*n));

    if (n == NULL) {
        return AX_ENOMEM;
    }
    aliases = n;
    aliases[naliases++] = (alias){ax__pid_of(a), a};
    return 0;
}

static bool
alias_remove(const ax_actor *a)
{
    for (size_t i = 0; i < naliases; i++) {
        if (aliases[i].actor == a) {
            aliases[i] = aliases[--naliases];
            return true;
        }
    }
    return false;
}

ax_actor *
ax__lookup(ax_pid pid)
{
    uint32_t idx = (uint32_t)pid.id - 1;
    const slot *s;

    if (pid.node != rt->node) {
        for (size_t k = 0; k < naliases; k++) {
            if (ax_pid_equal(aliases[k].pid, pid)) {
                return aliases[k].actor;
            }
        }
        return NULL;
    }
    if ((uint32_t)pid.id == 0 || idx >= rt->nslots) {
        return NULL;
    }
    s = &rt->slots[idx];
    return s->gen == (uint32_t)(pid.id >> 32) ? s->actor : NULL;
}

/* A slot for a new actor: the oldest free one once enough are free. */
static int
slot_take(uint32_t *idx)
{
    slot *s;

    if (rt->free_count > REMEMBER_DEAD) {
        *idx = rt->free_head - 1;
        s = &rt->slots[*idx];
        rt->free_head = s->next_free;
        if (rt->free_head == 0) {
            rt->free_tail = 0;
        }
        rt->free_count--;
        s->gen = s->gen + 1 ? s->gen + 1 : 1;
        s->remembered = false;
        return 0;
    }
    if (rt->nslots == rt->capslots) {
        /* From 16: a process actor with one actor pays for one small
         * block, not a 40 KiB table (and the page it touches). */
        uint32_t cap = rt->capslots ? rt->capslots * 2 : 16;
        slot *n;

        if (rt->capslots >= UINT32_MAX / 2) {
            return ax__fail(AX_ENOMEM, "ax_spawn: the actor table is full");
        }
        n = ax__realloc(rt->slots, cap * sizeof(*n));
        if (n == NULL) {
            return AX_ENOMEM;
        }
        rt->slots = n;
        rt->capslots = cap;
    }
    *idx = rt->nslots++;
    memset(&rt->slots[*idx], 0, sizeof(slot));
    rt->slots[*idx].gen = 1;
    return 0;
}

static void
slot_release(uint32_t idx, const ax_exit_info *info)
{
    slot *s = &rt->slots[idx];

    s->actor = NULL;
    s->last_exit = *info;
    s->remembered = true;
    s->next_free = 0;
    if (rt->free_tail != 0) {
        rt->slots[rt->free_tail - 1].next_free = idx + 1;
    } else {
        rt->free_head = idx + 1;
    }
    rt->free_tail = idx + 1;
    rt->free_count++;
}

/* a moved to another process: its slot is free, remembering no exit. */
void
ax__slot_vacate(ax_actor *a)
{
    uint32_t idx = (uint32_t)a->id - 1;

    slot_release(idx, &a->exit);
    rt->slots[idx].remembered = false;
}

/* How the actor at pid ended, if the table still remembers it. */
bool
ax__remembered_exit(ax_pid pid, ax_exit_info *out)
{
    uint32_t idx = (uint32_t)pid.id - 1;
    const slot *s;

    if (pid.node != rt->node) {
        return hooks->gone_elsewhere != NULL && hooks->gone_elsewhere(pid, out);
    }
    if ((uint32_t)pid.id == 0 || idx >= rt->nslots) {
        return false;
    }
    s = &rt->slots[idx];
    if (s->gen != (uint32_t)(pid.id >> 32) || s->actor || !s->remembered) {
        return false;
    }
    *out = s->last_exit;
    return true;
}

static ax_actor *
actor_new(void)
{
    ax_actor *a = rt->spare;

    if (a != NULL) {
        rt->spare = a->rq_next;
        rt->nspare--;
        memset(a, 0, sizeof(*a));
        return a;
    }
    return ax__calloc(1, sizeof(*a));
}

static void
actor_free(ax_actor *a)
{
    if (rt->nspare < SPARE_MAX) {
        a->rq_next = rt->spare;
        rt->spare = a;
        rt->nspare++;
    } else {
        ax__free(a);
    }
}

/* Release what a dead actor still holds: its stack and its struct. */
void
ax__reap(ax_actor *a)
{
    ax__stack_free(&a->stack);
    actor_free(a);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    ax_actor *a = w->data;

    (void)loop;
    (void)revents;
    a->timed_out = true;
    ax__wake(a);
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    ax_actor *a = w->data;

    (void)loop;
    a->ready_events =
        (revents & EV_READ ? AX_READ : 0) | (revents & EV_WRITE ? AX_WRITE : 0);
    ax__wake(a);
}

_Noreturn static void
actor_entry(void *p)
{
    ax_actor *a = p;
    int code = a->fn(a->arg);

    ax_exit(code);
}

/* Create the actor; it is not runnable yet. */
int
ax__actor_create(ax_actor_fn fn, void *arg, const ax_spawn_opts *o,
                 ax_actor **out)
{
    ax_actor *a = actor_new();
    size_t copy = (o->arg_size + 15) & ~(size_t)15; /* at the stack's top */
    size_t stack = o->stack_size ? o->stack_size : AX_STACK_DEFAULT;
    uint32_t idx = 0;
    int rc;

    if (a == NULL) {
        return AX_ENOMEM;
    }
    rc = ax__stack_alloc(copy ? stack + copy : o->stack_size, &a->stack);
    if (rc == 0 && (rc = slot_take(&idx)) < 0) {
        ax__stack_free(&a->stack);
    }
    if (rc < 0) {
        actor_free(a);
        return rc;
    }
    rt->slots[idx].actor = a;
    a->node = rt->node;
    a->id = (uint64_t)rt->slots[idx].gen << 32 | (idx + 1);
    a->fn = fn;
    a->arg = arg;
    if (copy > 0) { /* the actor's own copy, which goes with its stack */
        a->arg = (char *)a->stack.base + a->stack.size - copy;
        memcpy(a->arg, arg, o->arg_size);
    }
    a->mb_cap = o->mailbox_capacity;
    ev_timer_init(&a->timer, on_timer, 0., 0.);
    ev_io_init(&a->io, on_io, 0, EV_READ);
    a->timer.data = a->io.data = a;
    ax__ctx_make(&a->ctx, a->stack.base, a->stack.size - copy, actor_entry, a);
    rt->st.actors++;
    rt->st.spawned++;
    *out = a;
    return 0;
}

/* --- exits -----------------------------------------------------------------
 */

/*
 * On-exit functions run outside any actor, whoever caused the exit: there
 * ax_self() is AX_PID_NONE and a send never waits (a full mailbox gives
 * AX_EAGAIN), so they cannot park the killer in the middle of an exit.
 */
static void
run_on_exit(ax_actor *a)
{
    ax_actor *cur = rt->current;
    exit_fn *e;

    rt->current = NULL;
    while ((e = a->on_exit) != NULL) {
        a->on_exit = e->next;
        e->fn(e->arg);
        ax__free(e);
    }
    rt->current = cur;
}

/* The layers above, from the top down (the last registered first). */
static void
call_hooks(void (*const *list)(ax_actor *), ax_actor *a)
{
    for (int i = AX_END_HOOKS - 1; i >= 0; i--) {
        if (list[i] != NULL) {
            list[i](a);
        }
    }
}

/* Everything an ending actor gives back, in an order that never lets a
 * message reach a half-dead actor: first it disappears from the table. */
static void
finish(ax_actor *a)
{
    if (a->state == A_RUNNABLE) {
        ax__rq_remove(a);
    }
    if (ev_is_active(&a->timer) || ev_is_pending(&a->timer)) {
        ev_timer_stop(rt->loop, &a->timer);
    }
    if (ev_is_active(&a->io) || ev_is_pending(&a->io)) {
        ev_io_stop(rt->loop, &a->io);
    }
    if (!alias_remove(a)) {
        slot_release((uint32_t)a->id - 1, &a->exit);
    }
    rt->st.actors--;
    call_hooks(hooks->ending, a);
    run_on_exit(a);
    ax__mailbox_release(a);
    call_hooks(hooks->ended, a);
    a->state = A_DEAD;
    if (a != rt->current) {
        ax__reap(a);
    }
}

void
ax__exit_actor(ax_actor *a, ax_exit_info info)
{
    if (a->dying || a->state == A_DEAD) {
        return;
    }
    a->dying = true;
    a->exit = info;
    if (a->state == A_RUNNABLE) {
        ax__rq_remove(a);
    }
    a->rq_next = rt->dying; /* the dying list reuses the run queue link */
    rt->dying = a;
    if (!rt->processing_exits) {
        ax__exits_run();
    }
}

void
ax__exits_run(void)
{
    ax_actor *cur = rt->current;
    ax_actor *a;

    rt->processing_exits = true;
    while ((a = rt->dying) != NULL) {
        rt->dying = a->rq_next;
        a->rq_next = NULL;
        finish(a);
    }
    rt->processing_exits = false;
    if (cur != NULL && cur->state == A_DEAD) {
        ax__ctx_switch_final(&cur->ctx, &rt->sched_ctx);
        __builtin_unreachable();
    }
}

void
ax_exit(int code)
{
    ax_actor *a = ax__self_actor("ax_exit");
    ax_exit_info info = {code ? AX_EXIT_ERROR : AX_EXIT_NORMAL, code, 0, false};

    ax__exit_actor(a, info);
    AX_MISUSE("ax_exit: the actor went on after its exit");
}

int
ax_kill(ax_pid pid, int code)
{
    ax_actor *a;

    AX_REQUIRE(ax__rt_up, "ax_kill before ax_init");
    a = ax__lookup(pid);
    if (a == NULL && hooks->kill_elsewhere != NULL) {
        int rc = hooks->kill_elsewhere(pid, code);

        if (rc != AX_ESRCH) {
            return rc; /* its process kills it, if it still lives */
        }
    }
    if (a == NULL || a->dying) {
        return ax__fail(AX_ESRCH, "ax_kill: no such actor");
    }
    ax__exit_actor(a, (ax_exit_info){AX_EXIT_KILLED, code, 0, false});
    return 0;
}

int
ax_on_exit(void (*fn)(void *arg), void *arg)
{
    ax_actor *a = ax__self_actor("ax_on_exit");
    exit_fn *e;

    AX_REQUIRE(fn != NULL, "ax_on_exit: fn is NULL");
    e = ax__alloc(sizeof(*e));
    if (e == NULL) {
        return AX_ENOMEM;
    }
    e->fn = fn;
    e->arg = arg;
    e->next = a->on_exit;
    a->on_exit = e;
    return 0;
}

int
ax_stats(ax_pid pid, ax_actor_stats *out)
{
    ax_actor *a;

    AX_REQUIRE(ax__rt_up && out != NULL, "ax_stats: no runtime or NULL out");
    a = ax__lookup(pid);
    if (a == NULL) {
        return ax__fail(AX_ESRCH, "ax_stats: no such actor");
    }
    *out = a->st;
    out->mailbox = a->mb_count;
    return 0;
}

/* The spare actor structs and the slot array. */
static void
free_table(void)
{
    while (rt->spare != NULL) {
        ax_actor *a = rt->spare;

        rt->spare = a->rq_next;
        ax__free(a);
    }
    ax__free(rt->slots);
    rt->slots = NULL;
    rt->nslots = rt->capslots = 0;
}

/* ax_fini: every actor left is killed, then the table goes. */
void
ax__table_fini(void)
{
    for (uint32_t i = 0; i < rt->nslots; i++) {
        ax_actor *a = rt->slots[i].actor;

        if (a != NULL) {
            ax__exit_actor(
                a, (ax_exit_info){AX_EXIT_KILLED, AX_KILL_SHUTDOWN, 0, false});
        }
    }
    free_table();
}

/*
 * In a forked child: every inherited actor but keep (a promotion's, which
 * the caller holds) is let go of, never to run again (its stack goes
 * with the slabs): the slot array, the spare actors and the aliases are
 * dropped whole, nothing freed or written one by one (ax__forsake).
 */
void
ax__table_forget(void)
{
    ax__forsake(rt->slots);
    ax__forsake(rt->spare);
    ax__forsake(aliases);
    rt->slots = NULL;
    rt->spare = NULL;
    rt->nslots = rt->capslots = 0;
    aliases = NULL;
    naliases = 0;
}

void
ax__actors_each(void (*fn)(ax_actor *a, void *ud), void *ud)
{
    bool held = rt->processing_exits;

    rt->processing_exits = true; /* the exits fn causes wait for the scan */
    for (uint32_t s = 0; s < rt->nslots; s++) {
        ax_actor *a = rt->slots[s].actor;

        if (a != NULL && !a->dying) {
            fn(a, ud);
        }
    }
    for (size_t k = 0; k < naliases; k++) {
        if (!aliases[k].actor->dying) {
            fn(aliases[k].actor, ud);
        }
    }
    rt->processing_exits = held;
    if (!held) {
        ax__exits_run();
    }
}
