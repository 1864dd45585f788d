/*
 * actors/signals/reason.c - exit reasons: their names, their text, and the
 * DOWN and EXIT messages that carry them.
 */
#include "actors/signals/signals.h"

#include <stdio.h>

#include "base/error.h"

static ax_rt *const rt = &ax__rt;

static const char *const kind_names[] = {"normal", "error",  "killed",
                                         "signal", "noproc", "noconnection"};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *
ax_exit_kind_name(ax_exit_kind kind)
{
    return (unsigned)kind < NKINDS ? kind_names[kind] : "unknown";
}

int
ax__exit_kind_parse(const char *s, size_t len, ax_exit_kind *out)
{
    for (size_t k = 0; k < NKINDS; k++) {
        if (strlen(kind_names[k]) == len &&
            memcmp(kind_names[k], s, len) == 0) {
            *out = (ax_exit_kind)k;
            return 0;
        }
    }
    return AX_EPROTO;
}

char *
ax_exit_describe(const ax_exit_info *info, char *buf, size_t size)
{
    switch (info->kind) {
    case AX_EXIT_NORMAL:
    case AX_EXIT_NOPROC:
    case AX_EXIT_NOCONNECTION:
        snprintf(buf, size, "%s", ax_exit_kind_name(info->kind));
        break;
    case AX_EXIT_SIGNAL:
        snprintf(buf, size, "signal %d%s", info->signal,
                 info->core_dumped ? " (core dumped)" : "");
        break;
    default:
        snprintf(buf, size, "%s %d", ax_exit_kind_name(info->kind), info->code);
        break;
    }
    return buf;
}

/* --- messages ------------------------------------------------------------ */

ax_msg *
ax__down_msg(uint64_t ref, ax_pid pid, const ax_exit_info *i)
{
    ax_msg *m = NULL;

    ax_msg_pack(&m, "[s u p s d d b]", "DOWN", ref, pid,
                ax_exit_kind_name(i->kind), i->code, i->signal, i->core_dumped);
    return m;
}

ax_msg *
ax__exit_msg(ax_pid pid, const ax_exit_info *i)
{
    ax_msg *m = NULL;

    ax_msg_pack(&m, "[s p s d d b]", "EXIT", pid, ax_exit_kind_name(i->kind),
                i->code, i->signal, i->core_dumped);
    return m;
}

/* Deliver a runtime message; out of memory loses it, so count that. */
void
ax__deliver_signal(ax_actor *to, ax_msg *m, ax_pid from)
{
    if (m == NULL) {
        rt->st.dead_letters++;
        return;
    }
    m->from = from;
    ax__deliver(to, m);
}

/* Read the reason fields that DOWN and EXIT messages share. */
static int
parse_reason(const char *kind, size_t klen, ax_exit_info *i)
{
    return ax__exit_kind_parse(kind, klen, &i->kind);
}

int
ax_down_msg_parse(const ax_msg *m, uint64_t *ref, ax_pid *pid,
                  ax_exit_info *info)
{
    const char *kind;
    size_t klen;
    ax_exit_info i;

    AX_REQUIRE(m != NULL, "ax_down_msg_parse: message is NULL");
    if (!ax_msg_has_tag(m, "DOWN") ||
        ax_msg_unpack(m, "[_ u p s d d b]", ref, pid, &kind, &klen, &i.code,
                      &i.signal, &i.core_dumped) < 0 ||
        parse_reason(kind, klen, &i) < 0) {
        return ax__fail(AX_EPROTO, "not a DOWN message");
    }
    if (info != NULL) {
        *info = i;
    }
    return 0;
}

int
ax_exit_msg_parse(const ax_msg *m, ax_pid *pid, ax_exit_info *info)
{
    const char *kind;
    size_t klen;
    ax_exit_info i;

    AX_REQUIRE(m != NULL, "ax_exit_msg_parse: message is NULL");
    if (!ax_msg_has_tag(m, "EXIT") ||
        ax_msg_unpack(m, "[_ p s d d b]", pid, &kind, &klen, &i.code, &i.signal,
                      &i.core_dumped) < 0 ||
        parse_reason(kind, klen, &i) < 0) {
        return ax__fail(AX_EPROTO, "not an EXIT message");
    }
    if (info != NULL) {
        *info = i;
    }
    return 0;
}
