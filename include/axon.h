/*
 * axon.h - the whole public API of axon: message-passing actors for C.
 *
 * Include this one header. The pieces, bottom up:
 *   <axon/cdefs.h>  AX_NORETURN, AX_LITERAL: what C and C++ spell apart
 *   <axon/error.h>  error codes, ax_strerror, ax_error_detail
 *   <axon/alloc.h>  ax_free, for buffers axon hands to the caller
 *   <axon/pid.h>    ax_pid, the address of an actor
 *   <axon/msg.h>    ax_msg, one msgpack value built/read by format strings
 *   <axon/chan.h>   ax_chan, framed nonblocking channels over fds on libev
 *   <axon/actor.h>  actors: spawn, send, receive, call, links, monitors
 *   <axon/values.h> AX_SEND, AX_PACK: messages from C values, by their type
 */
#ifndef AXON_H
#define AXON_H

#define AXON_VERSION_MAJOR 0
#define AXON_VERSION_MINOR 1
#define AXON_VERSION_PATCH 0

#include <axon/cdefs.h>
#include <axon/error.h>
#include <axon/alloc.h>
#include <axon/pid.h>
#include <axon/msg.h>
#include <axon/chan.h>
#include <axon/actor.h>
#include <axon/values.h>
#include <axon/supervisor.h>
#include <axon/server.h>
#include <axon/pool.h>

#endif /* AXON_H */
