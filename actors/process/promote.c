/*
 * actors/process/promote.c - live promotion: a running coroutine actor moves
 * into a new child process and keeps its address.
 *
 * The actor parks; the scheduler forks (from its own context, as for any
 * process spawn). The child keeps that one actor out of everything it
 * inherited: the slab with its stack stays mapped at the same address, so
 * its saved registers resume it where it parked; its mailbox, links and
 * monitors are in the same memory. It lives there under an alias for its
 * old address. The parent forgets its copy and routes the address to the
 * child: messages sent before the fork are in the mailbox that moved,
 * messages sent after follow through the channel, so a sender's order
 * holds. Other actors stay in the parent; fds, threads and memory the
 * actor allocated are copies in the child, as after any fork.
 */
#include "actors/process/process.h"

#include "base/alloc.h"
#include "base/error.h"

static ax_rt *const rt = &ax__rt;

int
ax_promote(void)
{
    ax_actor *a = ax__self_actor("ax_promote");
    int rc = ax__fork_promotion(a);

    if (rc < 0) {
        return rc;
    }
    /* Resumed in the child; in the parent only if the fork failed. */
    ax__park(a, W_PARKED, AX_FOREVER);
    rc = a->promote_err;
    a->promote_err = 0;
    return rc;
}

/* In the parent, after the fork: the actor lives on in the child. */
void
ax__promoted_away(ax_actor *a, ax_peer *p)
{
    ax_msg *m;

    (void)p;
    while ((m = a->mb_head) != NULL) { /* these moved with it */
        a->mb_head = m->next;
        ax_msg_free(m);
    }
    ax__return_senders(a);     /* they send again, to the child */
    ax__release_held_peers(a); /* its mailbox is not here to fill */
    ax__links_forget(a);       /* its halves moved; the others name it */
    while (a->on_exit != NULL) {
        exit_fn *e = a->on_exit;

        a->on_exit = e->next;
        ax__free(e); /* they run where it ends: in the child */
    }
    ax__names_moved(a);
    ax__slot_vacate(a);
    rt->st.actors--;
    ax__stack_free(&a->stack);
    ax__free(a);
}

/* In the child: the actor that moved becomes this process's first. */
int
ax__adopt_promoted(ax_actor *a)
{
    int rc = ax__alias_add(a);

    if (rc < 0) {
        return rc;
    }
    ev_timer_init(&a->timer, a->timer.cb, 0., 0.); /* a new loop */
    ev_io_init(&a->io, a->io.cb, 0, EV_READ);
    a->timer.data = a->io.data = a;
    a->held_peers = NULL; /* these stay in the parent, which wakes them */
    a->senders = a->senders_tail = NULL;
    a->send_peer = NULL;
    rt->st.actors++;
    ax__proc.first = a;
    ax__wake(a); /* out of W_PARKED: ax_promote returns 0 here */
    return 0;
}
