/*
 * tests/actors/lifecycle_util.c - see lifecycle_util.h.
 */
#include "lifecycle_util.h"

#include <ev.h>
#include <stdarg.h>

int64_t
elapsed_us(uint64_t t0)
{
    return (int64_t)((t_now_ns() - t0) / 1000);
}

size_t
live_actors(void)
{
    ax_runtime_stats st;

    ax_runtime_stats_get(&st);
    return st.actors;
}

int
recv_args(const char *fmt, ...)
{
    va_list ap;
    ax_msg *m;
    int rc = ax_recv(&m, AX_FOREVER);

    if (rc < 0) {
        return rc;
    }
    va_start(ap, fmt);
    rc = ax_msg_vunpack(m, fmt, ap);
    va_end(ap);
    ax_msg_free(m);
    return rc;
}

int
return_zero_actor(void *arg)
{
    (void)arg;
    return 0;
}

ax_pid
spawn_monitored(ax_actor_fn fn)
{
    ax_spawn_opts o = th_opts();

    o.monitor = true;
    return th_spawn_with(fn, &o);
}

void
settle(void)
{
    ax_sleep(20);
}

ax_msg *
expect(const char *tag, int ms)
{
    const char *t = "?";
    size_t tlen = 1;
    ax_msg *m;
    int rc = ax_recv(&m, ms);

    if (rc < 0) {
        th_fail(__FILE__, __LINE__, "expected \"%s\", got %s", tag,
                ax_strerror(rc));
        return NULL;
    }
    if (!ax_msg_has_tag(m, tag)) {
        ax_msg_unpack(m, "[s *]", &t, &tlen);
        th_fail(__FILE__, __LINE__, "expected \"%s\", got \"%.*s\"", tag,
                (int)tlen, t);
        ax_msg_free(m);
        return NULL;
    }
    return m;
}

void
expect_none(const char *tag, int ms)
{
    ax_msg *m;

    if (ax_recv_match(tag, &m, ms) == 0) {
        th_fail(__FILE__, __LINE__, "an unexpected \"%s\" message came", tag);
        ax_msg_free(m);
    }
}

int
expect_int(const char *tag)
{
    ax_msg *m = expect(tag, 5000);
    int v = -12345;

    if (m != NULL) {
        TH_CHECK_INT(ax_msg_unpack(m, "[_ d]", &v), 0);
        ax_msg_free(m);
    }
    return v;
}

void
run(void (*body)(void *arg), void *arg)
{
    th_run(body, arg);
    assert_int_equal(ev_run(ev_default_loop(0), EVRUN_NOWAIT), 0);
}
