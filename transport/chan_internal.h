/*
 * transport/chan_internal.h - the channel's layout (internal).
 */
#ifndef AXON_TRANSPORT_CHAN_INTERNAL_H
#define AXON_TRANSPORT_CHAN_INTERNAL_H

#include <stdbool.h>

#include <ev.h>

#include <axon/chan.h>

#include "transport/frame.h"
#include "transport/wqueue.h"

struct ax_chan {
    struct ev_loop *loop;
    ev_io rio;          /* persistent read watcher (stopped while paused) */
    ev_io wio;          /* write watcher, only while the fd is full */
    ev_prepare flusher; /* flushes the queue before the loop blocks */
    ev_idle kick;       /* one-shot: keeps the next poll from blocking */
    int rfd, wfd;       /* owned; equal for a socketpair; -1 once closed */
    ax_chan_cbs cbs;
    void *ud;
    size_t max_frame; /* largest body sent or accepted */
    size_t high, low; /* watermarks on queued bytes */
    ax_wqueue wq;
    ax_reader rd;
    int rerr, werr;   /* the error that stopped reading / writing */
    bool read_paused; /* the owner stopped reading */
    bool want_drain;  /* on_drain is owed when queued <= low */
    bool shutting;    /* close the write side once the queue is empty */
    bool closing;     /* ax_chan_close was called */
    bool grow_pipe;   /* grow the pipe once it is often full */
    unsigned fulls;   /* times the write fd was found full */
    int busy;         /* callbacks of this channel now running */
    ax_chan_stats st;
    ax_chan *next;  /* all channels of the process */
    ax_chan **link; /* the pointer that points at this channel */
};

/* Flush now what the prepare watcher would flush before the loop blocks. */
void ax__chan_flush_pending(ax_chan *ch);

/* In a forked child: close and free an inherited channel, silently. */
void ax__chan_abandon(ax_chan *ch);

/* Walk every open channel of this process (the spawner closes them). */
ax_chan *ax__chan_first(void);
ax_chan *ax__chan_next(const ax_chan *ch);

#endif /* AXON_TRANSPORT_CHAN_INTERNAL_H */
