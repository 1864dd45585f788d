/*
 * tests/support/actor_harness.c - see actor_harness.h.
 */
#include "support/actor_harness.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ax_placement th_placement = AX_PLACE_COROUTINE;

static int failures;
static char first_failure[512];

struct driver {
    void (*body)(void *arg);
    void *arg;
};

void
th_main_setup(void)
{
    assert_non_null(ev_default_loop(0));
}

ax_spawn_opts
th_opts(void)
{
    ax_spawn_opts o;

    memset(&o, 0, sizeof(o));
    o.placement = th_placement;
    return o;
}

void
th_fail(const char *file, int line, const char *fmt, ...)
{
    char what[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: %s\n", file, line, what);
    if (failures++ == 0) {
        snprintf(first_failure, sizeof(first_failure), "%s:%d: %s", file, line,
                 what);
    }
}

static int
driver_main(void *p)
{
    struct driver *d = p;

    d->body(d->arg);
    return 0;
}

const ax_runtime_opts *th_runtime_opts;

bool
th_rings(void)
{
    const char *c = getenv("AXON_CARRIER");

    return c == NULL || strcmp(c, "pipes") != 0;
}

void
th_run(void (*body)(void *arg), void *arg)
{
    struct driver d = {body, arg};
    ax_runtime_stats st;
    int rc;

    failures = 0;
    first_failure[0] = '\0';
    assert_int_equal(ax_init(th_runtime_opts), 0);
    assert_int_equal(ax_spawn(driver_main, &d, NULL, NULL), 0);
    rc = ax_run();
    if (rc < 0) {
        print_error("ax_run: %s\n", ax_error_detail());
    }
    ax_runtime_stats_get(&st);
    ax_fini();
    if (failures > 0) {
        fail_msg("%d failed checks; first: %s", failures, first_failure);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(st.actors, 0);
}

ax_msg *
th_expect(const char *tag, int timeout_ms)
{
    ax_msg *m = NULL;
    int rc = ax_recv(&m, timeout_ms);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "expected \"%s\", got %s", tag,
                ax_strerror(rc));
        return NULL;
    }
    if (!ax_msg_has_tag(m, tag)) {
        th_fail(__FILE__, __LINE__, "expected a \"%s\" message", tag);
        ax_msg_free(m);
        return NULL;
    }
    return m;
}

ax_pid
th_spawn_with(ax_actor_fn fn, const ax_spawn_opts *o)
{
    ax_pid pid = AX_PID_NONE;

    TH_CHECK_INT(ax_spawn(fn, NULL, o, &pid), 0);
    return pid;
}

ax_pid
th_spawn(ax_actor_fn fn)
{
    ax_spawn_opts o = th_opts();

    return th_spawn_with(fn, &o);
}

ax_exit_info
th_join(ax_pid pid)
{
    ax_exit_info info = {AX_EXIT_NOPROC, -1, 0, false};

    TH_CHECK_INT(ax_wait(pid, &info, 5000), 0);
    return info;
}

int
th_blocked_actor(void *arg)
{
    ax_msg *m;

    (void)arg;
    if (ax_recv_match("never", &m, AX_FOREVER) == 0) {
        ax_msg_free(m);
    }
    return 1;
}
