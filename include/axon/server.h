/*
 * axon/server.h - servers: the receive loop and reply plumbing of an actor
 * that keeps a state and answers requests, written once (Erlang's
 * gen_server). The callbacks are the server's; the loop calls them:
 *
 *   init(arg, &state)                 once, before any message
 *   handle_call(state, req, &reply)   a request (ax_server_call / ax_call):
 *                                     *reply is sent back (NULL: an empty
 *                                     array, so no caller waits in vain)
 *   handle_cast(state, msg)           a one-way request (ax_server_cast)
 *   handle_info(state, msg)           anything else: plain sends, EXIT and
 *                                     DOWN messages
 *   terminate(state, code)            once, as the server ends (not when
 *                                     it is killed: use ax_on_exit; not
 *                                     when init failed)
 *
 * A callback that returns non-zero ends the server with that exit code
 * (a call's reply is sent first). ["shutdown"] (from a supervisor) and
 * ax_server_stop end it normally. Every callback may be NULL but
 * handle_call. A server runs in any placement; a call to a server that
 * dies meanwhile returns AX_ESRCH, never silence.
 */
#ifndef AXON_SERVER_H
#define AXON_SERVER_H

#include <axon/actor.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ax_server_callbacks {
    int (*init)(void *arg, void **state);
    int (*handle_call)(void *state, const ax_msg *req, ax_msg **reply);
    int (*handle_cast)(void *state, const ax_msg *msg);
    int (*handle_info)(void *state, const ax_msg *msg);
    void (*terminate)(void *state, int code);
} ax_server_callbacks;

/*
 * What a server is started from: its callbacks and init's argument,
 * passed as it is (arg_size 0: it must be valid where the server runs; a
 * process actor forked from here has a copy of this process's memory as
 * at the fork, but not of the spawning actor's stack, and one started
 * from the fork server (ax_runtime_opts.forkserver) only of what existed
 * at ax_init: a global), or, with
 * arg_size, a copy of the arg_size bytes that follow this record in
 * memory. As the argument of ax_server_main it makes a supervisor's child
 * a server:
 *
 *   struct { ax_server_boot b; my_arg a; } boot = {{cb, NULL,
 *       sizeof(my_arg)}, {...}};
 *   ax_child_spec kid = {"db", ax_server_main, &boot,
 *                        {.arg_size = sizeof(boot)}, ...};
 */
typedef struct ax_server_boot {
    AX_ALIGNAS(16)
    ax_server_callbacks cb; /* its size is a multiple of 16,
                               so what follows it is aligned
                               for any type */
    void *arg;
    size_t arg_size;
} ax_server_boot;

/* The server's actor function: boot is an ax_server_boot. */
int ax_server_main(void *boot);

/*
 * ax_server_start - spawn a server (opts as for ax_spawn, NULL: a
 * coroutine; with opts->arg_size, init gets a copy of that many bytes at
 * arg, else arg as it is). From an actor, returns once
 * init ran: init's negative return is returned, a positive one as
 * AX_ECANCELED (ax_error_detail() says "init returned N"; the server
 * ended with that code);
 * outside an actor, returns at once.
 * Returns 0 and the address in *out (may be NULL), AX_EINVAL (no
 * handle_call), init's error, or an error of ax_spawn.
 * Context: anywhere after ax_init (may yield in an actor).
 */
int ax_server_start(const ax_server_callbacks *cb, void *arg,
                    const ax_spawn_opts *opts, ax_pid *out);

/* ax_server_call - ax_call(server, req, reply, timeout_ms). */
int ax_server_call(ax_pid server, ax_msg *req, ax_msg **reply, int timeout_ms);

/*
 * ax_server_cast - send msg to server's handle_cast (no reply). Takes msg
 * (on any return). Returns 0, or as ax_send.
 * Context: actor (outside: as ax_send outside an actor).
 */
int ax_server_cast(ax_pid server, ax_msg *msg);

/*
 * ax_server_stop - end server normally (terminate runs) and wait for its
 * end. Returns 0, AX_ESRCH, AX_ETIMEDOUT (then it is killed).
 * Context: actor, may yield.
 */
int ax_server_stop(ax_pid server, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* AXON_SERVER_H */
