/*
 * actors/process/runtime.c - what puts the layers together: ax_init starts
 * each layer from the bottom up (each registers its hooks with those below
 * it), ax_fini ends them from the top down, and ax_spawn places an actor:
 * a coroutine (core), its name (names), its link and monitor (signals), or
 * a process of its own (spawner.c).
 */
#include "actors/process/process.h"

#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/error.h"

static ax_rt *const rt = &ax__rt;

/* Child processes this process may have alive when the options do not
 * say: what the limits on processes and fds leave (64 kept for the
 * rest), and the memory at 1 MiB each. */
static size_t
default_max_processes(void)
{
    size_t cap = SIZE_MAX;
    struct rlimit l;
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

    if (getrlimit(RLIMIT_NPROC, &l) == 0 && l.rlim_cur != RLIM_INFINITY) {
        cap = l.rlim_cur > 128 ? (size_t)l.rlim_cur - 64 : 64;
    }
    if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur != RLIM_INFINITY) {
        /* one fd each (two for the first eighth of the limit: pipes) */
        size_t fds = l.rlim_cur > 128 ? (size_t)l.rlim_cur - 64 : 64;

        fds -= fds / 16;
        cap = fds < cap ? fds : cap;
    }
    if (pages > 0 && psize > 0) {
        size_t mem = (size_t)pages / ((size_t)(1 << 20) / (size_t)psize);

        cap = mem < cap ? mem : cap;
    }
    return cap > 0 ? cap : 1;
}

static double
ms_or(int ms, double dflt)
{
    return ms > 0 ? (double)ms / 1000.0 : dflt;
}

int
ax_init(const ax_runtime_opts *opts)
{
    static const ax_runtime_opts none;
    const ax_runtime_opts *o = opts ? opts : &none;
    int rc;

    if (ax__rt_up) {
        return ax__fail(AX_EALREADY, "ax_init: the runtime is running");
    }
    if (o->run_budget < 0 || o->stop_timeout_ms < 0 || o->term_timeout_ms < 0) {
        return ax__fail(AX_EINVAL, "ax_init: negative option");
    }
    /* Before anything changes: a strict_place failure leaves no trace. */
    rc = ax__place_parse(o->strict_place);
    if (rc < 0) {
        return rc;
    }
    ax__rt.budget = o->run_budget; /* 0: the default */
    memset(&ax__proc, 0, sizeof(ax__proc));
    memset(&ax__net, 0, sizeof(ax__net));
    ax__proc.stop_timeout[0] = ms_or(o->stop_timeout_ms, 2.0);
    ax__proc.stop_timeout[1] = ms_or(o->term_timeout_ms, 2.0);
    ax__proc.max_children =
        o->max_processes ? o->max_processes : default_max_processes();
    /* Each layer hooks into those below it, from the bottom up. */
    ax__signals_init();
    ax__route_init((size_t)o->remote_limit);
    ax__names_init();
    ax__process_init();
    rc = ax__rt_start(ax__new_node_id());
    if (rc == 0 && o->forkserver && (rc = ax__forkserver_start()) < 0) {
        ax__rt_stop();
    }
    return rc;
}

void
ax_fini(void)
{
    if (!ax__rt_up) {
        return;
    }
    AX_REQUIRE(rt->current == NULL, "ax_fini called from inside an actor");
    ax__table_fini();
    ax__children_shutdown();
    ax__children_fini();
    ax__forkserver_stop(); /* after its children: it reaps them */
    ax__peers_fini();
    ax__names_fini();
    ax__rt_stop();
}

/* Register, link and monitor as the spawn options ask. */
static int
spawn_extras(ax_actor *a, const ax_spawn_opts *o)
{
    int rc = 0;

    if (o->name != NULL) {
        rc = ax__names_add(o->name, a);
    }
    if (rc == 0 && (o->link || o->monitor)) {
        rc = ax__spawn_links(rt->current, a, o);
    }
    return rc;
}

int
ax_spawn(ax_actor_fn fn, void *arg, const ax_spawn_opts *opts, ax_pid *out)
{
    static const ax_spawn_opts defaults;
    const ax_spawn_opts *o = opts ? opts : &defaults;
    ax_actor *a;
    int rc;

    AX_REQUIRE(ax__rt_up, "ax_spawn before ax_init");
    AX_REQUIRE(fn != NULL, "ax_spawn: fn is NULL");
    if (o->arg_size > AX_ARG_MAX || (o->arg_size > 0 && arg == NULL)) {
        return ax__fail(AX_EINVAL,
                        "ax_spawn: arg_size %zu with %s arg (at most %zu "
                        "bytes are copied: pass more in a message)",
                        o->arg_size, arg ? "an" : "a NULL", AX_ARG_MAX);
    }
    if ((o->link || o->monitor) && rt->current == NULL) {
        return ax__fail(AX_EINVAL, "ax_spawn: link/monitor need a spawner "
                                   "actor");
    }
    if (ax__placement(o) == AX_PLACE_PROCESS) {
        return ax__spawn_process(fn, arg, o, out);
    }
    rc = ax__actor_create(fn, arg, o, &a);
    if (rc < 0) {
        return rc;
    }
    rc = spawn_extras(a, o);
    if (rc < 0) {
        ax__exit_actor(a, (ax_exit_info){AX_EXIT_KILLED, rc, 0, false});
        return rc;
    }
    ax__make_runnable_child(a);
    if (out != NULL) {
        *out = ax__pid_of(a);
    }
    return 0;
}
