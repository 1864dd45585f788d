/*
 * actors/supervise/supervisor.c - supervisors (include/axon/supervisor.h):
 * an actor that starts children from specs, restarts them by strategy
 * and stops them in reverse order. Written on the public actor API alone
 * (links with trapped exits, kill, names, calls), so it runs in any
 * placement, as its children do.
 *
 * The spec travels as one flat copy (arg_size) onto the supervisor's
 * stack: a header, a record per child, then the strings and the args
 * with arg_size, all by offset; it lives as long as the supervisor.
 */
#include <axon/supervisor.h>

#include <stdio.h>
#include <string.h>

#include "actors/supervise/supervise.h"
#include "base/alloc.h"
#include "base/error.h"

#define DEFAULT_INTENSITY 3
#define DEFAULT_PERIOD_MS 5000
#define DEFAULT_SHUTDOWN_MS 5000
/* A restart finds the name still held by the instance that ended (its
 * end not yet known to the registry): it tries again for this long. */
#define NAME_WAIT_MS 2000

/* --- the flat copy --------------------------------------------------------
 */

typedef struct blk_child {
    uint32_t id, name, place_as, arg; /* offsets in the block; 0: none */
    ax_actor_fn fn;
    void *arg_ptr; /* the arg as given, when it is not copied */
    ax_spawn_opts opts;
    ax_restart restart;
    int shutdown_ms;
    bool is_sup; /* a supervisor (its arg a block: told its parent) */
} blk_child;

typedef struct blk {
    ax_strategy strategy;
    int intensity, period_ms;
    uint32_t n;
    ax_pid caller; /* who waits for ["sup_started", ...]; NONE: nobody */
    ax_pid parent; /* the spawner, linked: its EXIT stops us */
    blk_child child[];
} blk;

static int supervisor_main(void *arg);

/* A string's place in the block being built (NULL: none). */
static uint32_t
put_str(char *base, size_t *at, const char *s)
{
    size_t len;

    if (s == NULL) {
        return 0;
    }
    len = strlen(s) + 1;
    if (base != NULL) {
        memcpy(base + *at, s, len);
    }
    *at += len;
    return (uint32_t)(*at - len);
}

static int
check_spec(const ax_sup_spec *s)
{
    if (s == NULL || (s->children == NULL && s->nchildren > 0)) {
        return ax__fail(AX_EINVAL, "ax_supervisor_start: no spec");
    }
    if (s->strategy > AX_DYNAMIC || s->intensity < 0 ||
        s->intensity > AX_SUP_MAX_INTENSITY || s->period_ms < 0 ||
        s->nchildren > AX_SUP_MAX_CHILDREN) {
        return ax__fail(AX_EINVAL, "ax_supervisor_start: a strategy, "
                                   "intensity, period or child count out "
                                   "of range");
    }
    if (s->strategy == AX_DYNAMIC &&
        (s->nchildren != 1 || s->children[0].opts.name != NULL ||
         strlen(s->children[0].id != NULL ? s->children[0].id : "") > 40)) {
        return ax__fail(AX_EINVAL, "ax_supervisor_start: a dynamic "
                                   "supervisor has one template, without a "
                                   "name, its id at most 40 bytes");
    }
    for (size_t i = 0; i < s->nchildren; i++) {
        const ax_child_spec *c = &s->children[i];

        if (c->id == NULL || c->id[0] == '\0' || c->fn == NULL ||
            strlen(c->id) > AX_SUP_ID_MAX ||
            c->restart > AX_RESTART_TEMPORARY ||
            c->shutdown_ms < AX_SHUTDOWN_INFINITY ||
            c->opts.arg_size > AX_ARG_MAX ||
            (c->opts.arg_size > 0 && c->arg == NULL)) {
            return ax__fail(AX_EINVAL,
                            "ax_supervisor_start: child %zu: an id (1 to "
                            "%d bytes), a fn, a restart type and a "
                            "shutdown are needed",
                            i, AX_SUP_ID_MAX);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(s->children[j].id, c->id) == 0) {
                return ax__fail(AX_EINVAL,
                                "ax_supervisor_start: two children are "
                                "\"%s\"",
                                c->id);
            }
        }
    }
    return 0;
}

/* Lay the spec out at base (NULL: only measure). Returns the size. */
static size_t
lay_out(const ax_sup_spec *s, char *base)
{
    size_t at = sizeof(blk) + s->nchildren * sizeof(blk_child);
    blk *b = (blk *)base;

    for (size_t i = 0; i < s->nchildren; i++) {
        const ax_child_spec *c = &s->children[i];
        blk_child k = {0};

        k.fn = c->fn;
        k.is_sup = c->fn == supervisor_main;
        k.opts = c->opts;
        k.restart = c->restart;
        k.shutdown_ms = c->shutdown_ms;
        k.id = put_str(base, &at, c->id);
        k.name = put_str(base, &at, c->opts.name);
        k.place_as = put_str(base, &at, c->opts.place_as);
        if (c->opts.arg_size > 0) {
            at = (at + 15) & ~(size_t)15; /* an arg is aligned for any use */
            k.arg = (uint32_t)at;
            if (base != NULL) {
                memcpy(base + at, c->arg, c->opts.arg_size);
            }
            at += c->opts.arg_size;
        } else {
            k.arg_ptr = c->arg;
        }
        k.opts.name = k.opts.place_as = NULL;
        k.opts.link = k.opts.monitor = false;
        k.opts.monitor_ref = NULL;
        if (base != NULL) {
            b->child[i] = k;
        }
    }
    if (base != NULL) {
        b->strategy = s->strategy;
        b->intensity = s->intensity ? s->intensity : DEFAULT_INTENSITY;
        b->period_ms = s->period_ms ? s->period_ms : DEFAULT_PERIOD_MS;
        b->n = (uint32_t)s->nchildren;
    }
    return at;
}

/* --- the supervisor ---------------------------------------------------------
 */

typedef struct child {
    const blk_child *spec;
    const char *id, *name, *place_as;
    void *arg;
    ax_pid pid; /* AX_PID_NONE: not running */
    unsigned restarts;
    bool gone; /* temporary and ended: forgotten */
    bool held; /* ended by ax_supervisor_terminate_child: stays down */
    void *own; /* a child added at run time: its block (else NULL) */
} child;

typedef struct sup {
    const blk *b;
    child *c;
    uint32_t n, cap;
    ax__window restarts;   /* the last ones, for the intensity */
    unsigned next_dynamic; /* numbers the ids of dynamic children */
} sup;

/* c's fields from its spec k in the block at base. */
static child
child_at(const char *base, const blk_child *k, void *own)
{
    child c = {k,
               base + k->id,
               k->name ? base + k->name : NULL,
               k->place_as ? base + k->place_as : NULL,
               k->arg ? (void *)(base + k->arg) : k->arg_ptr,
               AX_PID_NONE,
               0,
               false,
               false,
               own};

    return c;
}

/* Start c; again (a restart): its name may still be its last holder's.
 * A child that is a supervisor or a pool is told its parent, and waited
 * for: its own start (its children) is part of this one. */
static int
start_one(child *c, bool again)
{
    ax_spawn_opts o = c->spec->opts;
    bool waits = c->spec->is_sup || c->spec->fn == ax__pool_main;
    uint64_t until = 0;
    int rc;

    o.name = c->name;
    o.place_as = c->place_as;
    o.link = true;
    if (c->spec->is_sup) { /* into its copy: our EXIT stops the subtree */
        ((blk *)c->arg)->parent = ax_self();
        ((blk *)c->arg)->caller = ax_self();
    } else if (waits) {
        ax__pool_boot_caller(c->arg, ax_self());
    }
    while ((rc = ax_spawn(c->spec->fn, c->arg, &o, &c->pid)) == AX_EEXIST &&
           again) {
        until = until ? until : ax__now_ms() + NAME_WAIT_MS;
        if (ax__now_ms() >= until) {
            break;
        }
        ax_sleep(1); /* the name's last holder is ending */
    }
    if (rc == 0 && waits) {
        rc = ax__await_started(c->pid, "a child supervisor or pool");
    }
    if (rc < 0) {
        char why[160];

        snprintf(why, sizeof(why), "%s", ax_error_detail()); /* its own */
        c->pid = AX_PID_NONE;
        return ax__fail(rc, "supervisor: child \"%s\" did not start: %s", c->id,
                        why);
    }
    return 0;
}

/* Whether c's bounded mailbox is full (here): a request to stop would
 * wait for room that a stuck child never makes. */
static bool
mailbox_full(const child *c)
{
    ax_actor_stats st;

    return c->spec->opts.mailbox_capacity > 0 && ax_stats(c->pid, &st) == 0 &&
           st.mailbox >= c->spec->opts.mailbox_capacity;
}

/* Stop c as its spec says, and wait for its end (a full mailbox: killed
 * at once). */
static void
stop_one(child *c)
{
    int ms = c->spec->shutdown_ms;

    if (ax_pid_is_none(c->pid)) {
        return;
    }
    ax__stop_linked(c->pid, mailbox_full(c) ? AX_SHUTDOWN_BRUTAL
                            : ms == 0       ? DEFAULT_SHUTDOWN_MS
                                            : ms);
    c->pid = AX_PID_NONE;
}

/* Stop children [from, n) last first. */
static void
stop_from(sup *s, uint32_t from)
{
    for (uint32_t i = s->n; i-- > from;) {
        stop_one(&s->c[i]);
    }
}

/* Start children [from, n) that are not running, in order. */
static int
start_from(sup *s, uint32_t from, bool again)
{
    for (uint32_t i = from; i < s->n; i++) {
        child *c = &s->c[i];
        int rc;

        if (!c->gone && !c->held && ax_pid_is_none(c->pid) &&
            (rc = start_one(c, again)) < 0) {
            return rc;
        }
    }
    return 0;
}

static AX_NORETURN void
give_up(sup *s, int code)
{
    stop_from(s, 0);
    ax_exit(code);
}

/* Temporary children in [from, n) stopped for a sibling's restart do not
 * come back (but the one that ended, i, was not temporary). */
static void
forget_temporary(sup *s, uint32_t from, uint32_t i)
{
    for (uint32_t j = from; j < s->n; j++) {
        if (j != i && s->c[j].spec->restart == AX_RESTART_TEMPORARY) {
            s->c[j].gone = true;
        }
    }
}

/* Child i ended with info: restart what the strategy says. */
static void
child_ended(sup *s, uint32_t i, const ax_exit_info *info)
{
    child *c = &s->c[i];
    ax_restart r = c->spec->restart;
    uint32_t from = i;
    bool one_only =
        s->b->strategy == AX_ONE_FOR_ONE || s->b->strategy == AX_DYNAMIC;

    c->pid = AX_PID_NONE;
    if (r == AX_RESTART_TEMPORARY ||
        (r == AX_RESTART_TRANSIENT && info->kind == AX_EXIT_NORMAL)) {
        c->gone = r == AX_RESTART_TEMPORARY;
        return;
    }
    do {
        if (!ax__window_allows(&s->restarts)) {
            give_up(s, AX_SUP_GAVE_UP);
        }
        c->restarts++;
        if (s->b->strategy == AX_ONE_FOR_ALL) {
            from = 0;
        }
        if (!one_only) {
            stop_from(s, from);
            forget_temporary(s, from, i);
        }
    } while ((one_only ? start_one(c, true) : start_from(s, from, true)) < 0);
}

/* A call ["sup_which"]: [[id, pid, restarts], ...] in start order (pid
 * AX_PID_NONE: not running); the forgotten ones were dropped before any
 * request (forget_gone). */
static void
answer_which(sup *s, const ax_msg *req)
{
    ax_msg_writer *w;
    ax_msg *reply = NULL;

    if (ax_msg_writer_new(&w) < 0) {
        return;
    }
    msgpack_pack_array(ax_msg_writer_packer(w), s->n);
    for (uint32_t i = 0; i < s->n; i++) {
        const child *c = &s->c[i];

        ax_msg_writer_packf(w, "[s p u]", c->id, c->pid, (uint64_t)c->restarts);
    }
    if (ax_msg_writer_finish(w, &reply) == 0) {
        ax_reply(req, reply);
    }
}

/* The supervisor's state is on the heap: its on-exit function (which
 * frees it) runs after its stack is gone, whichever way it ends. */
static void
free_sup(void *arg)
{
    sup *s = arg;

    for (uint32_t i = 0; i < s->n; i++) {
        ax__free(s->c[i].own);
    }
    ax__free(s->c);
    ax__window_fini(&s->restarts);
    ax__free(s);
}

static sup *
new_sup(const blk *b)
{
    sup *s = ax__calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->b = b;
    s->n = b->strategy == AX_DYNAMIC ? 0 : b->n; /* its one: a template */
    s->cap = b->n ? b->n : 1;
    s->c = ax__calloc(s->cap, sizeof(child));
    if (s->c == NULL ||
        ax__window_init(&s->restarts, b->intensity, b->period_ms) < 0 ||
        ax_on_exit(free_sup, s) < 0) {
        free_sup(s);
        return NULL;
    }
    return s;
}

/* Drop the children that are forgotten (temporary ones that ended,
 * deleted ones), keeping the order of the others. */
static void
forget_gone(sup *s)
{
    uint32_t k = 0;

    for (uint32_t i = 0; i < s->n; i++) {
        if (s->c[i].gone) {
            ax__free(s->c[i].own);
        } else {
            s->c[k++] = s->c[i];
        }
    }
    s->n = k;
}

/* --- children at run time -------------------------------------------------
 */

static int32_t
find_child(const sup *s, const char *id, size_t len)
{
    for (uint32_t i = 0; i < s->n; i++) { /* none forgotten: forget_gone */
        if (strlen(s->c[i].id) == len && memcmp(s->c[i].id, id, len) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

/* Append the child of own, a block laid out for one child (taken). */
static int
append_child(sup *s, void *own, ax_pid *out)
{
    const blk *b = own;
    child c = child_at(own, &b->child[0], own);
    int rc;

    if (find_child(s, c.id, strlen(c.id)) >= 0) {
        rc = ax__fail(AX_EEXIST, "supervisor: a child is already \"%s\"", c.id);
        ax__free(own);
        return rc;
    }
    if (s->n == s->cap) {
        child *more = ax__realloc(s->c, (size_t)s->cap * 2 * sizeof(child));

        if (more == NULL) {
            ax__free(own);
            return AX_ENOMEM;
        }
        s->c = more;
        s->cap *= 2;
    }
    s->c[s->n++] = c;
    rc = start_one(&s->c[s->n - 1], false);
    if (rc < 0) {
        ax__free(s->c[--s->n].own); /* not added after all */
        return rc;
    }
    *out = s->c[s->n - 1].pid;
    return 0;
}

/* Whether off is a string that ends inside the len bytes at base. */
static bool
str_ok(const char *base, size_t len, uint32_t off)
{
    return off >= sizeof(blk) && off < len &&
           memchr(base + off, '\0', len - off) != NULL;
}

/*
 * Whether the len bytes at base (aligned) are a block as lay_out makes
 * them: every offset and size inside, every string ended inside, every
 * value in range, the spawn options as lay_out leaves them; a child
 * supervisor's or pool's own block likewise. What it cannot check: the
 * functions named are this program's, and an argument passed as a
 * pointer points where the caller meant (add_laid_out takes those only
 * from this process).
 */
static bool
block_ok(const char *base, size_t len, int depth)
{
    const blk *b = (const blk *)base;

    if (len < sizeof(blk) || depth > 16 || b->n > AX_SUP_MAX_CHILDREN ||
        sizeof(blk) + (size_t)b->n * sizeof(blk_child) > len ||
        b->strategy > AX_DYNAMIC || b->intensity <= 0 ||
        b->intensity > AX_SUP_MAX_INTENSITY || b->period_ms <= 0) {
        return false;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        const blk_child *k = &b->child[i];
        size_t arg_size = k->opts.arg_size;

        if (!str_ok(base, len, k->id) || base[k->id] == '\0' ||
            strlen(base + k->id) > AX_SUP_ID_MAX ||
            (k->name != 0 && !str_ok(base, len, k->name)) ||
            (k->place_as != 0 && !str_ok(base, len, k->place_as)) ||
            k->fn == NULL || k->restart > AX_RESTART_TEMPORARY ||
            k->shutdown_ms < AX_SHUTDOWN_INFINITY ||
            k->is_sup != (k->fn == supervisor_main) ||
            (arg_size > 0) != (k->arg != 0) ||
            (arg_size > 0 &&
             (k->arg % 16 != 0 || k->arg > len || arg_size > len - k->arg)) ||
            k->opts.name != NULL || k->opts.place_as != NULL || k->opts.link ||
            k->opts.monitor || k->opts.monitor_ref != NULL) {
            return false;
        }
        if (k->is_sup &&
            (arg_size == 0 || !block_ok(base + k->arg, arg_size, depth + 1))) {
            return false;
        }
        if (k->fn == ax__pool_main &&
            (arg_size == 0 || !ax__pool_boot_ok(base + k->arg, arg_size))) {
            return false;
        }
    }
    return true;
}

/* Whether the child of block b passes a raw pointer as its argument. */
static bool
raw_arg(const blk *b)
{
    return b->child[0].opts.arg_size == 0 && b->child[0].arg_ptr != NULL;
}

/* ["sup_add", block]: a child laid out by the caller (the bytes are in
 * a message: copied before they are read, for their alignment). */
static int
add_laid_out(sup *s, const void *bytes, size_t len, bool local, ax_pid *out)
{
    blk *own;

    if (s->b->strategy == AX_DYNAMIC) {
        return ax__fail(AX_EINVAL, "supervisor: a dynamic supervisor's "
                                   "children come from its template");
    }
    if (len < sizeof(blk) + sizeof(blk_child)) {
        return ax__fail(AX_EPROTO, "supervisor: a child spec too short");
    }
    if ((own = ax__alloc(len)) == NULL) {
        return AX_ENOMEM;
    }
    memcpy(own, bytes, len);
    if (own->n != 1 || !block_ok((const char *)own, len, 0)) {
        ax__free(own);
        return ax__fail(AX_EPROTO, "supervisor: not one child spec as "
                                   "ax_supervisor_add_child lays it out");
    }
    if (raw_arg(own) && !local) {
        ax__free(own);
        return ax__fail(AX_EINVAL, "supervisor: a child's argument passed "
                                   "as a pointer must come from this "
                                   "process (give arg_size)");
    }
    return append_child(s, own, out);
}

/* ["sup_dyn", arg]: a child of the template, with arg (none: the
 * template's own). */
static int
add_dynamic(sup *s, const void *arg, size_t len, ax_pid *out)
{
    const blk_child *t = &s->b->child[0];
    const char *base = (const char *)s->b;
    char id[AX_SUP_ID_MAX + 1];
    ax_child_spec c = {0};
    ax_sup_spec one = {AX_ONE_FOR_ONE, 0, 0, &c, 1};
    size_t size;
    void *own;

    if (s->b->strategy != AX_DYNAMIC) {
        return ax__fail(AX_EINVAL, "supervisor: not a dynamic supervisor");
    }
    snprintf(id, sizeof(id), "%.40s.%u", base + t->id, ++s->next_dynamic);
    c.id = id;
    c.fn = t->fn;
    c.opts = t->opts;
    c.opts.place_as = t->place_as ? base + t->place_as : NULL;
    c.arg = len > 0  ? (void *)arg
            : t->arg ? (void *)(base + t->arg)
                     : t->arg_ptr;
    c.opts.arg_size = len > 0 ? len : t->arg ? t->opts.arg_size : 0;
    c.restart = t->restart;
    c.shutdown_ms = t->shutdown_ms;
    size = lay_out(&one, NULL);
    if ((own = ax__calloc(1, size)) == NULL) {
        return AX_ENOMEM;
    }
    lay_out(&one, own);
    return append_child(s, own, out);
}

static int
terminate_child(sup *s, int32_t i)
{
    child *c = &s->c[i];

    stop_one(c);
    c->held = true;
    if (s->b->strategy == AX_DYNAMIC ||
        c->spec->restart == AX_RESTART_TEMPORARY) {
        c->gone = true; /* nothing to start again from */
    }
    return 0;
}

static int
restart_child(sup *s, int32_t i, ax_pid *out)
{
    child *c = &s->c[i];
    int rc;

    if (!ax_pid_is_none(c->pid)) {
        return ax__fail(AX_EBUSY, "supervisor: \"%s\" is running", c->id);
    }
    c->held = false;
    rc = start_one(c, true);
    *out = c->pid;
    return rc;
}

static int
delete_child(sup *s, int32_t i)
{
    child *c = &s->c[i];

    if (!ax_pid_is_none(c->pid)) {
        return ax__fail(AX_EBUSY, "supervisor: \"%s\" is running", c->id);
    }
    c->gone = true;
    return 0;
}

/* Whether m's sender runs in this process. */
static bool
same_process(const ax_msg *m)
{
    int here = ax_pid_os_pid(ax_self());

    return here > 0 && ax_pid_os_pid(ax_msg_sender(m)) == here;
}

static const char *const requests[] = {"sup_add", "sup_dyn", "sup_term",
                                       "sup_restart", "sup_delete"};

static bool
is_request(const ax_msg *m)
{
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        if (ax_msg_has_tag(m, requests[i])) {
            return true;
        }
    }
    return false;
}

/* A run-time request (a call): [rc, pid, detail]. */
static void
answer_request(sup *s, const ax_msg *m)
{
    const void *bytes = NULL;
    const char *id = NULL;
    size_t len = 0;
    ax_pid pid = AX_PID_NONE;
    ax_msg *reply = NULL;
    int32_t i;
    int rc;

    if (ax_msg_has_tag(m, "sup_add") || ax_msg_has_tag(m, "sup_dyn")) {
        rc = ax_msg_unpack(m, "[_ B]", &bytes, &len);
        rc = rc < 0 ? rc
             : ax_msg_has_tag(m, "sup_add")
                 ? add_laid_out(s, bytes, len, same_process(m), &pid)
                 : add_dynamic(s, bytes, len, &pid);
    } else if ((rc = ax_msg_unpack(m, "[_ s]", &id, &len)) < 0) {
        /* rc says it */
    } else if ((i = find_child(s, id, len)) < 0) {
        rc = ax__fail(AX_ENOENT, "supervisor: no child \"%.*s\"", (int)len, id);
    } else if (ax_msg_has_tag(m, "sup_term")) {
        rc = terminate_child(s, i);
    } else if (ax_msg_has_tag(m, "sup_restart")) {
        rc = restart_child(s, i, &pid);
    } else {
        rc = delete_child(s, i);
    }
    if (ax_msg_pack(&reply, "[d p s]", rc, pid,
                    rc < 0 ? ax_error_detail() : "") == 0) {
        ax_reply(m, reply);
    }
}

static int
supervisor_main(void *arg)
{
    const blk *b = arg;
    const char *base = arg;
    sup *s = new_sup(b);
    ax_msg *m;
    int rc;

    if (s == NULL) {
        ax__tell_started(b->caller, AX_ENOMEM);
        return AX_ENOMEM;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        s->c[i] = child_at(base, &b->child[i], NULL);
    }
    ax_trap_exit(true);
    rc = start_from(s, 0, false);
    ax__tell_started(b->caller, rc);
    if (rc < 0) {
        ax_unlink(b->caller); /* the error is its answer, not its end */
        give_up(s, rc);
    }
    for (;;) {
        ax_pid from;
        ax_exit_info info;
        uint32_t i;

        if (ax_recv(&m, AX_FOREVER) != 0) {
            continue;
        }
        if (ax_msg_has_tag(m, "EXIT") &&
            ax_exit_msg_parse(m, &from, &info) == 0) {
            ax_msg_free(m);
            for (i = 0; i < s->n && !ax_pid_equal(s->c[i].pid, from); i++) {
            }
            if (i < s->n) {
                child_ended(s, i, &info);
            } else if (ax_pid_equal(from, b->parent)) {
                /* the one that started us ended: so do we */
                give_up(s, info.kind == AX_EXIT_NORMAL ? 0
                           : info.code != 0            ? info.code
                                                       : AX_ECANCELED);
            }
            continue;
        }
        forget_gone(s);
        if (ax_msg_has_tag(m, "sup_which") && ax_msg_is_call(m)) {
            answer_which(s, m);
        } else if (ax_msg_is_call(m) && is_request(m)) {
            answer_request(s, m);
        } else if (ax_msg_has_tag(m, "sup_stop") || ax_shutdown_requested(m)) {
            ax_msg *ok = NULL;

            stop_from(s, 0);
            if (ax_msg_is_call(m) && ax_msg_pack(&ok, "[s]", "ok") == 0) {
                ax_reply(m, ok);
            }
            ax_msg_free(m);
            return 0;
        }
        ax_msg_free(m);
    }
}

/* --- the API -----------------------------------------------------------------
 */

int
ax_supervisor_start(const ax_sup_spec *spec, const ax_spawn_opts *opts,
                    ax_pid *out)
{
    ax_spawn_opts o = opts != NULL ? *opts : (ax_spawn_opts){0};
    bool in_actor = !ax_pid_is_none(ax_self());
    size_t size;
    blk *b;
    ax_pid pid;
    int rc = check_spec(spec);

    if (rc < 0) {
        return rc;
    }
    size = lay_out(spec, NULL);
    if (size > AX_ARG_MAX) {
        return ax__fail(AX_EMSGSIZE,
                        "ax_supervisor_start: the spec takes %zu bytes, "
                        "over AX_ARG_MAX",
                        size);
    }
    b = ax__calloc(1, size);
    if (b == NULL) {
        return AX_ENOMEM;
    }
    lay_out(spec, (char *)b);
    b->caller = in_actor ? ax_self() : AX_PID_NONE;
    b->parent = in_actor && o.link ? ax_self() : AX_PID_NONE;
    o.arg_size = size; /* the spawn makes room for the copy on its stack */
    rc = ax_spawn(supervisor_main, b, &o, &pid);
    ax__free(b);
    /* It has not run yet (a spawn does not yield): a monitor now sees
     * every end, and its word on the start comes after. */
    if (rc == 0 && in_actor) {
        rc = ax__await_started(pid, "ax_supervisor_start: the supervisor");
    }
    if (rc == 0 && out != NULL) {
        *out = pid;
    }
    return rc;
}

static bool
one_child(const msgpack_object *o, ax_child_info *out)
{
    const msgpack_object *f = o->via.array.ptr;

    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3 ||
        f[0].type != MSGPACK_OBJECT_STR || f[0].via.str.size > AX_SUP_ID_MAX ||
        f[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        ax_msg_object_pid(&f[1], &out->pid) < 0) {
        return false;
    }
    memcpy(out->id, f[0].via.str.ptr, f[0].via.str.size);
    out->id[f[0].via.str.size] = '\0';
    out->restarts = (unsigned)f[2].via.u64;
    return true;
}

int
ax_supervisor_children(ax_pid sup_pid, ax_child_info *out, size_t max,
                       size_t *n, int timeout_ms)
{
    ax_msg *req = NULL, *reply = NULL;
    const msgpack_object *o;
    int rc = ax_msg_pack(&req, "[s]", "sup_which");

    if (rc < 0) {
        return rc;
    }
    rc = ax_call(sup_pid, req, &reply, timeout_ms);
    if (rc < 0) {
        return rc;
    }
    rc = ax_msg_object(reply, &o);
    if (rc == 0 && o->type != MSGPACK_OBJECT_ARRAY) {
        rc = ax__fail(AX_EPROTO, "ax_supervisor_children: not a list");
    }
    for (uint32_t i = 0; rc == 0 && i < o->via.array.size && i < max; i++) {
        if (!one_child(&o->via.array.ptr[i], &out[i])) {
            rc = ax__fail(AX_EPROTO,
                          "ax_supervisor_children: child %u "
                          "unreadable",
                          i);
        }
    }
    if (rc == 0 && n != NULL) {
        *n = o->via.array.size;
    }
    ax_msg_free(reply);
    return rc;
}

int
ax_supervisor_stop(ax_pid sup_pid, int timeout_ms)
{
    return ax__stop_by_call(sup_pid, "sup_stop", timeout_ms);
}

int
ax_supervisor_child_spec(ax_child_spec *out, const char *id,
                         const ax_sup_spec *sub, void *buf, size_t size,
                         size_t *needed)
{
    size_t n;
    int rc = check_spec(sub);

    AX_REQUIRE(out != NULL, "ax_supervisor_child_spec: out is NULL");
    if (rc < 0) {
        return rc;
    }
    n = lay_out(sub, NULL);
    if (needed != NULL) {
        *needed = n;
    }
    if (n > size || buf == NULL) {
        return ax__fail(AX_EMSGSIZE,
                        "ax_supervisor_child_spec: the subtree takes %zu "
                        "bytes, the buffer has %zu",
                        n, buf != NULL ? size : 0);
    }
    memset(buf, 0, n);
    lay_out(sub, buf);
    ((blk *)buf)->caller = ((blk *)buf)->parent = AX_PID_NONE;
    *out = (ax_child_spec){0};
    out->id = id;
    out->fn = supervisor_main;
    out->arg = buf;
    out->opts.arg_size = n;
    out->restart = AX_RESTART_PERMANENT;
    out->shutdown_ms = AX_SHUTDOWN_INFINITY;
    return 0;
}

/* A run-time request to sup: its answer [rc, pid, detail]. */
static int
request(ax_pid sup_pid, ax_msg *req, ax_pid *out, int timeout_ms)
{
    ax_msg *reply = NULL;
    const char *detail = NULL;
    size_t len = 0;
    ax_pid pid = AX_PID_NONE;
    int rc = ax_call(sup_pid, req, &reply, timeout_ms);
    int answer = 0;

    if (rc < 0) {
        return rc;
    }
    rc = ax_msg_unpack(reply, "[d p s]", &answer, &pid, &detail, &len);
    if (rc == 0 && answer < 0) {
        rc = ax__fail(answer, "%.*s", (int)len, detail);
    }
    if (rc == 0 && out != NULL) {
        *out = pid;
    }
    ax_msg_free(reply);
    return rc;
}

static int
request_id(ax_pid sup_pid, const char *what, const char *id, ax_pid *out,
           int timeout_ms)
{
    ax_msg *req = NULL;
    int rc;

    AX_REQUIRE(id != NULL, "ax_supervisor_*_child: id is NULL");
    rc = ax_msg_pack(&req, "[s s]", what, id);
    return rc < 0 ? rc : request(sup_pid, req, out, timeout_ms);
}

int
ax_supervisor_add_child(ax_pid sup_pid, const ax_child_spec *spec, ax_pid *out,
                        int timeout_ms)
{
    ax_sup_spec one = {AX_ONE_FOR_ONE, 0, 0, spec, 1};
    ax_msg *req = NULL;
    size_t size;
    void *b;
    int rc = check_spec(&one);

    if (rc < 0) {
        return rc;
    }
    size = lay_out(&one, NULL);
    if ((b = ax__calloc(1, size)) == NULL) {
        return AX_ENOMEM;
    }
    lay_out(&one, b);
    rc = ax_msg_pack(&req, "[s B]", "sup_add", b, size);
    ax__free(b);
    return rc < 0 ? rc : request(sup_pid, req, out, timeout_ms);
}

int
ax_supervisor_start_child(ax_pid sup_pid, const void *arg, size_t size,
                          ax_pid *out, int timeout_ms)
{
    ax_msg *req = NULL;
    int rc;

    if (size > AX_ARG_MAX) {
        return ax__fail(AX_EMSGSIZE,
                        "ax_supervisor_start_child: %zu bytes of arg, over "
                        "AX_ARG_MAX",
                        size);
    }
    rc = ax_msg_pack(&req, "[s B]", "sup_dyn", size > 0 ? arg : "", size);
    return rc < 0 ? rc : request(sup_pid, req, out, timeout_ms);
}

int
ax_supervisor_terminate_child(ax_pid sup_pid, const char *id, int timeout_ms)
{
    return request_id(sup_pid, "sup_term", id, NULL, timeout_ms);
}

int
ax_supervisor_restart_child(ax_pid sup_pid, const char *id, ax_pid *out,
                            int timeout_ms)
{
    return request_id(sup_pid, "sup_restart", id, out, timeout_ms);
}

int
ax_supervisor_delete_child(ax_pid sup_pid, const char *id, int timeout_ms)
{
    return request_id(sup_pid, "sup_delete", id, NULL, timeout_ms);
}

bool
ax_shutdown_requested(const ax_msg *m)
{
    return m != NULL && ax_msg_has_tag(m, "shutdown");
}
