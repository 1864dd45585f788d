/*
 * actors/supervise/started.c - the start handshake of supervisors and
 * servers (supervise.h).
 */
#include "actors/supervise/supervise.h"

#include "base/error.h"

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
