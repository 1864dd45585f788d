/*
 * actors/process/place.c - placement by configuration.
 *
 * AXON_PLACE="worker=process,logger=coroutine" places actors spawned with
 * those names without recompiling; the spawn options' placement is the
 * default for every other actor. Read once, at ax_init.
 */
#include "actors/process/process.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct place_rule {
    char name[64];
    ax_placement placement;
} place_rule;

static place_rule *rules;
static size_t nrules;

/* Parse one "name=process" item; ignore what does not parse. */
static void
add_rule(const char *item, size_t len)
{
    const char *eq = memchr(item, '=', len);
    size_t nlen = eq ? (size_t)(eq - item) : 0;
    size_t vlen = eq ? len - nlen - 1 : 0;
    place_rule r;
    place_rule *n;

    if (eq == NULL || nlen == 0 || nlen >= sizeof(r.name)) {
        return;
    }
    if (vlen == 7 && memcmp(eq + 1, "process", 7) == 0) {
        r.placement = AX_PLACE_PROCESS;
    } else if (vlen == 9 && memcmp(eq + 1, "coroutine", 9) == 0) {
        r.placement = AX_PLACE_COROUTINE;
    } else {
        return;
    }
    memcpy(r.name, item, nlen);
    r.name[nlen] = '\0';
    n = ax__realloc(rules, (nrules + 1) * sizeof(*n));
    if (n != NULL) {
        rules = n;
        rules[nrules++] = r;
    }
}

void
ax__place_parse(void)
{
    const char *s = getenv("AXON_PLACE");

    ax__free(rules);
    rules = NULL;
    nrules = 0;
    while (s != NULL && *s != '\0') {
        size_t len = strcspn(s, ",");

        add_rule(s, len);
        s += len + (s[len] == ',');
    }
}

ax_placement
ax__placement(const ax_spawn_opts *o)
{
    for (size_t i = 0; o->name != NULL && i < nrules; i++) {
        if (strcmp(rules[i].name, o->name) == 0) {
            return rules[i].placement;
        }
    }
    return o->placement == AX_PLACE_PROCESS ? AX_PLACE_PROCESS
                                            : AX_PLACE_COROUTINE;
}
