/*
 * actors/names/names.h - the names layer: the registry, local and root
 * (internal).
 *
 * Above route, below process (docs/internals.md). It hears of actors that
 * end from core's hooks and of frames, DOWNs and nodes that went down from
 * route's, which it fills in at ax_init.
 */
#ifndef AXON_ACTORS_NAMES_NAMES_H
#define AXON_ACTORS_NAMES_NAMES_H

#include "actors/route/route.h"

/* Register the layer's hooks with core and route (ax_init). */
void ax__names_init(void);

/* Add a name for a (a spawn's name option). */
int ax__names_add(const char *name, ax_actor *a);

/* a moves to another process (promotion): its name now points there. */
void ax__names_moved(ax_actor *a);

/* Free the registry (ax_fini). */
void ax__names_fini(void);

/* In a forked child: let the inherited registry go whole (ax__forsake). */
void ax__names_forget(void);

#endif /* AXON_ACTORS_NAMES_NAMES_H */
