/*
 * actors/signals/signals.h - the signals layer: links, monitors, exit
 * propagation, exit reasons, and calls, which watch their callee with a
 * monitor (internal).
 *
 * Above core, below route (docs/internals.md). A link or monitor whose
 * other end lives in another process is half here and half there; what
 * this layer must send to the other half it hands to ax__signal_hooks,
 * which the route layer fills in at ax_init.
 */
#ifndef AXON_ACTORS_SIGNALS_SIGNALS_H
#define AXON_ACTORS_SIGNALS_SIGNALS_H

#include "actors/core/core.h"

/* A link, a monitor held, or a monitor on us: a small list node. */
typedef struct peer_ref {
    struct peer_ref *next;
    ax_pid pid;    /* the other actor */
    uint64_t ref;  /* monitor reference (0 for links) */
    bool for_call; /* a call's internal monitor: wakes the caller, no DOWN */
} peer_ref;

/* What one half of a link or monitor tells the other, elsewhere. */
typedef enum ax_sig_op {
    AX_SIG_LINK,      /* src links to dst */
    AX_SIG_UNLINK,    /* src unlinks from dst */
    AX_SIG_MONITOR,   /* src monitors dst with ref (for_call: a call's) */
    AX_SIG_DEMONITOR, /* src drops its monitor ref of dst */
    AX_SIG_EXIT,      /* src, linked to dst, ended: why */
    AX_SIG_DOWN,      /* src, monitored by dst with ref, ended: why */
} ax_sig_op;

typedef struct ax_signal_hooks {
    /* route: whether pid is a live actor of another process. */
    bool (*is_remote)(ax_pid pid);
    /* route: tell the half at dst (another process's actor). */
    void (*send)(ax_sig_op op, ax_pid dst, ax_pid src, uint64_t ref,
                 bool for_call, const ax_exit_info *why);
} ax_signal_hooks;

extern ax_signal_hooks ax__signal_hooks;

/* Register the layer's hooks with core (ax_init). */
void ax__signals_init(void);

/* Lists of links and monitors. */
int ax__list_add(peer_ref **list, ax_pid pid, uint64_t ref, bool for_call);
bool ax__list_remove(peer_ref **list, ax_pid pid, uint64_t ref);
peer_ref *ax__list_find_ref(peer_ref *list, uint64_t ref);
void ax__list_free(peer_ref *list);

/* Free a's links and monitors without a signal (a forked child's
 * inherited actors, an actor that moved to another process). */
void ax__links_forget(ax_actor *a);

/* Whether pid is a live actor of another process (the route says). */
bool ax__is_remote(ax_pid pid);

/* Tell the other half at dst, if a hook can. */
void ax__signal_send(ax_sig_op op, ax_pid dst, ax_pid src, uint64_t ref,
                     bool for_call, const ax_exit_info *why);

/* The exit kind named s[0..len) ("normal", ...). Returns 0 or AX_EPROTO. */
int ax__exit_kind_parse(const char *s, size_t len, ax_exit_kind *out);

/* The DOWN and EXIT messages an actor receives (NULL: out of memory). */
ax_msg *ax__down_msg(uint64_t ref, ax_pid pid, const ax_exit_info *i);
ax_msg *ax__exit_msg(ax_pid pid, const ax_exit_info *i);

/* Deliver a signal's message; out of memory (m NULL) counts a dead
 * letter. */
void ax__deliver_signal(ax_actor *to, ax_msg *m, ax_pid from);

/* An exit signal from dead reaches linked actor b. */
void ax__signal_link(ax_actor *b, ax_pid dead, const ax_exit_info *i);

/* Watcher w's monitor ref of dead fired. */
void ax__notify_watcher(ax_actor *w, ax_pid dead, uint64_t ref, bool for_call,
                        const ax_exit_info *i);

/* Link a and b (both here); once. */
int ax__link_actors(ax_actor *a, ax_actor *b);

/* a monitors target (both here) with ref. */
int ax__monitor_actor(ax_actor *a, ax_actor *target, uint64_t ref,
                      bool for_call);

/* Link and monitor as spawn options ask: parent and a new actor. */
int ax__spawn_links(ax_actor *parent, ax_actor *a, const ax_spawn_opts *o);

#endif /* AXON_ACTORS_SIGNALS_SIGNALS_H */
