/*
 * actors/supervise/server.c - servers (include/axon/server.h): one
 * receive loop for every actor that keeps a state and answers requests.
 *
 * A cast travels as ["$cast", msg] (the caller's message embedded as it
 * is); a stop as the call ["$stop"]. Everything else is a call (handled
 * as one by ax_msg_is_call) or information.
 */
#include <axon/server.h>

#include <axon/supervisor.h>

#include "actors/supervise/supervise.h"
#include "base/alloc.h"
#include "base/error.h"

#include <string.h>

#define CAST "$cast"
#define STOP "$stop"

/* A call: its reply (an empty array when the callback gave none). */
static int
on_call(const ax_server_boot *b, void *state, const ax_msg *req, bool *stop)
{
    ax_msg *reply = NULL;
    int code = 0;

    if (ax_msg_has_tag(req, STOP)) {
        *stop = true;
    } else {
        code = b->cb.handle_call(state, req, &reply);
    }
    if (reply == NULL && ax_msg_pack(&reply, "[]") < 0) {
        return code;
    }
    ax_reply(req, reply);
    return code;
}

/* A cast: the embedded message, to handle_cast. */
static int
on_cast(const ax_server_boot *b, void *state, const ax_msg *m)
{
    const void *inner = NULL;
    size_t len = 0;
    ax_msg *msg = NULL;
    int code;

    if (b->cb.handle_cast == NULL ||
        ax_msg_unpack(m, "[_ x]", &inner, &len) < 0 ||
        ax_msg_from_bytes(&msg, inner, len) < 0) {
        return 0; /* no one to hear it, or not a cast after all */
    }
    code = b->cb.handle_cast(state, msg);
    ax_msg_free(msg);
    return code;
}

/* The message a callback is handling, freed if the server ends inside
 * it (a callback that calls ax_exit, a kill): on the heap, as on-exit
 * functions run after the actor's stack is gone. */
static void
free_current(void *slot)
{
    ax_msg_free(*(ax_msg **)slot);
    ax__free(slot);
}

/* One message to the callback it is for. */
static int
dispatch(const ax_server_boot *b, void *state, const ax_msg *m, bool *stop)
{
    if (ax_msg_is_call(m)) {
        return on_call(b, state, m, stop);
    }
    if (ax_msg_has_tag(m, CAST)) {
        return on_cast(b, state, m);
    }
    if (ax_shutdown_requested(m)) {
        *stop = true;
        return 0;
    }
    return b->cb.handle_info != NULL ? b->cb.handle_info(state, m) : 0;
}

/* The loop of the server b; caller (NONE: nobody) waits for init. */
static int
serve(const ax_server_boot *b, ax_pid caller)
{
    void *state = NULL;
    bool stop = false;
    void *arg = b->arg_size > 0 ? (void *)(b + 1) : b->arg;
    ax_msg **current = ax__calloc(1, sizeof(*current));
    int code;

    if (current == NULL || ax_on_exit(free_current, current) < 0) {
        ax__free(current);
        ax__tell_started(caller, AX_ENOMEM);
        return AX_ENOMEM;
    }
    code = b->cb.init != NULL ? b->cb.init(arg, &state) : 0;
    if (code != 0) { /* no state: no terminate either */
        ax__fail(code < 0 ? code : AX_ECANCELED,
                 "ax_server_start: init returned %d", code);
        ax__tell_started(caller, code < 0 ? code : AX_ECANCELED);
        ax_unlink(caller); /* the error is its answer, not its end */
        return code;
    }
    ax__tell_started(caller, 0);
    while (code == 0 && !stop) {
        if (ax_recv(current, AX_FOREVER) == 0) {
            code = dispatch(b, state, *current, &stop);
            ax_msg_free(*current);
            *current = NULL;
        }
    }
    if (b->cb.terminate != NULL) {
        b->cb.terminate(state, code);
    }
    return code;
}

int
ax_server_main(void *boot)
{
    const ax_server_boot *b = boot; /* with its arg after it, if copied */

    AX_REQUIRE(b->cb.handle_call != NULL, "ax_server_main: no handle_call");
    return serve(b, AX_PID_NONE);
}

_Static_assert(sizeof(ax_server_boot) % 16 == 0,
               "what follows a boot record is aligned for any type");

/* What ax_server_start spawns: who waits for init, then the boot record
 * and the copy of init's argument (if any). */
typedef struct started_boot {
    ax_pid caller;
    ax_server_boot b;
} started_boot;

static int
started_main(void *arg)
{
    const started_boot *sb = arg;

    return serve(&sb->b, sb->caller);
}

int
ax_server_start(const ax_server_callbacks *cb, void *arg,
                const ax_spawn_opts *opts, ax_pid *out)
{
    ax_spawn_opts o = opts != NULL ? *opts : (ax_spawn_opts){0};
    bool in_actor = !ax_pid_is_none(ax_self());
    size_t size = sizeof(started_boot) + o.arg_size;
    started_boot *sb;
    ax_pid pid;
    int rc;

    if (cb == NULL || cb->handle_call == NULL) {
        return ax__fail(AX_EINVAL, "ax_server_start: no handle_call");
    }
    if (o.arg_size > AX_ARG_MAX - sizeof(started_boot)) {
        return ax__fail(AX_EMSGSIZE,
                        "ax_server_start: arg_size %zu over "
                        "AX_ARG_MAX",
                        o.arg_size);
    }
    if ((sb = ax__calloc(1, size)) == NULL) {
        return AX_ENOMEM;
    }
    sb->caller = in_actor ? ax_self() : AX_PID_NONE;
    sb->b.cb = *cb;
    sb->b.arg = arg;
    sb->b.arg_size = o.arg_size;
    if (o.arg_size > 0) {
        memcpy(sb + 1, arg, o.arg_size);
    }
    o.arg_size = size;
    rc = ax_spawn(started_main, sb, &o, &pid);
    ax__free(sb);
    if (rc == 0 && in_actor) {
        rc = ax__await_started(pid, "ax_server_start: the server");
    }
    if (rc == 0 && out != NULL) {
        *out = pid;
    }
    return rc;
}

int
ax_server_call(ax_pid server, ax_msg *req, ax_msg **reply, int timeout_ms)
{
    return ax_call(server, req, reply, timeout_ms);
}

int
ax_server_cast(ax_pid server, ax_msg *msg)
{
    ax_msg *cast = NULL;
    const void *bytes;
    size_t len;
    int rc;

    AX_REQUIRE(msg != NULL, "ax_server_cast: msg is NULL");
    bytes = ax_msg_data(msg, &len);
    rc = ax_msg_pack(&cast, "[s x]", CAST, bytes, len);
    ax_msg_free(msg);
    if (rc < 0) {
        return rc;
    }
    rc = ax_send(server, cast);
    if (rc < 0) {
        ax_msg_free(cast);
    }
    return rc;
}

int
ax_server_stop(ax_pid server, int timeout_ms)
{
    return ax__stop_by_call(server, STOP, timeout_ms);
}
