/*
 * actors/supervise/shared.c - what supervisors, servers and pools share
 * (supervise.h).
 */
#include "actors/supervise/supervise.h"

#include <axon/supervisor.h>

#include <time.h>

#include "base/alloc.h"
#include "base/error.h"

/* A child killed is waited for this long for its EXIT. */
#define KILLED_WAIT_MS 10000

#define TAG "ax_started"

void
ax__tell_started(ax_pid caller, int rc)
{
    if (!ax_pid_is_none(caller)) {
        ax_sendf(caller, "[s p d s]", TAG, ax_self(), rc,
                 rc < 0 ? ax_error_detail() : "");
    }
}

typedef struct started_wait {
    ax_pid pid;
    uint64_t ref;
} started_wait;

static bool
started_or_down(const ax_msg *m, void *ud)
{
    const started_wait *w = ud;
    ax_pid pid;
    uint64_t ref;

    if (ax_msg_has_tag(m, TAG)) {
        return ax_msg_unpack(m, "[_ p *]", &pid) == 0 &&
               ax_pid_equal(pid, w->pid);
    }
    return ax_down_msg_parse(m, &ref, NULL, NULL) == 0 && ref == w->ref;
}

int
ax__await_started(ax_pid pid, const char *what)
{
    started_wait w = {pid, 0};
    ax_msg *m = NULL;
    int rc = ax_monitor(pid, &w.ref);
    const char *detail = NULL;
    size_t len = 0;

    if (rc < 0) {
        return rc;
    }
    ax_recv_if(started_or_down, &w, &m, AX_FOREVER);
    ax_demonitor(w.ref);
    if (!ax_msg_has_tag(m, TAG)) {
        rc = ax__fail(AX_ECHILD, "%s ended before its start was done", what);
    } else if (ax_msg_unpack(m, "[_ _ d s]", &rc, &detail, &len) == 0 &&
               rc < 0) {
        rc = ax__fail(rc, "%.*s", (int)len, detail);
    }
    ax_msg_free(m);
    return rc;
}

uint64_t
ax__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool
ax__exit_of(const ax_msg *m, void *pid)
{
    ax_pid from;

    return ax_msg_has_tag(m, "EXIT") && /* no failure detail per message */
           ax_exit_msg_parse(m, &from, NULL) == 0 &&
           ax_pid_equal(from, *(const ax_pid *)pid);
}

int
ax__window_init(ax__window *w, int intensity, int period_ms)
{
    w->cap = (unsigned)intensity + 1;
    w->n = w->next = 0;
    w->period_ms = period_ms;
    w->times = ax__calloc(w->cap, sizeof(uint64_t));
    return w->times != NULL ? 0 : AX_ENOMEM;
}

bool
ax__window_allows(ax__window *w)
{
    uint64_t now = ax__now_ms();

    w->times[w->next] = now;
    w->next = (w->next + 1) % w->cap;
    w->n += w->n < w->cap;
    return w->n < w->cap || now - w->times[w->next] > (uint64_t)w->period_ms;
}

void
ax__window_fini(ax__window *w)
{
    ax__free(w->times);
    w->times = NULL;
}

int
ax__stop_by_call(ax_pid pid, const char *tag, int timeout_ms)
{
    ax_msg *req = NULL, *reply = NULL;
    int rc = ax_msg_pack(&req, "[s]", tag);

    if (rc < 0) {
        return rc;
    }
    rc = ax_call(pid, req, &reply, timeout_ms);
    ax_msg_free(reply);
    if (rc == AX_ETIMEDOUT) {
        ax_kill(pid, AX_KILL_SHUTDOWN);
    } else if (rc == 0) {
        ax_wait(pid, NULL, timeout_ms);
    }
    return rc;
}

/* Wait up to ms for the EXIT of pid; whether it came. */
static bool
await_exit(ax_pid pid, int ms)
{
    ax_msg *m = NULL;

    if (ax_recv_if(ax__exit_of, &pid, &m, ms) != 0) {
        return false;
    }
    ax_msg_free(m);
    return true;
}

void
ax__stop_linked(ax_pid pid, int ms)
{
    if (ms != AX_SHUTDOWN_BRUTAL && ax_sendf(pid, "[s]", "shutdown") == 0 &&
        await_exit(pid, ms == AX_SHUTDOWN_INFINITY ? AX_FOREVER : ms)) {
        return;
    }
    if (ax_kill(pid, AX_KILL_SHUTDOWN) == 0) {
        await_exit(pid, KILLED_WAIT_MS);
    }
}
