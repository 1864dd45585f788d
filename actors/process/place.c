/*
 * actors/process/place.c - placement by configuration.
 *
 * AXON_PLACE="worker=process,logger=coroutine" places actors spawned with
 * those names (or placement classes, ax_spawn_opts.place_as) without
 * recompiling; the spawn options' placement is the default for every other
 * actor. Read once, at ax_init; a forked child keeps the parent's rules.
 *
 * The grammar (docs/tuning.md, "AXON_PLACE"):
 *   items   = item *("," item)          empty items are skipped
 *   item    = ws key ws "=" ws value ws
 *   key     = NAME | PREFIX "*"        1-63 bytes before any '*'
 *   value   = "coroutine" | "process"  in any case
 * An exact key beats a prefix, a longer prefix a shorter one, and a later
 * item one of the same key.
 */
#include "actors/process/process.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/error.h"

#define KEY_MAX 63

typedef struct place_rule {
    char key[KEY_MAX + 1]; /* a name or class, or a prefix (without '*') */
    size_t len;            /* strlen(key) */
    bool prefix;           /* key ended with '*': matches what starts so */
    ax_placement placement;
} place_rule;

typedef struct rule_set {
    place_rule *v;
    size_t n;
} rule_set;

static rule_set rules;

static const char expected[] =
    "expected NAME=coroutine|process or PREFIX*=coroutine|process";

/* Shrink [*s, *s + *len) past spaces and tabs at both ends. */
static void
trim(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t')) {
        (*len)--;
    }
}

/* Whether [s, s + len) is word, in any case. */
static bool
is_word(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && strncasecmp(s, word, len) == 0;
}

/* Parse one item into *r. Returns 0, or -1 if it does not parse. */
static int
parse_item(const char *item, size_t len, place_rule *r)
{
    const char *eq = memchr(item, '=', len);
    const char *key = item, *val;
    size_t klen, vlen;

    if (eq == NULL) {
        return -1;
    }
    klen = (size_t)(eq - item);
    val = eq + 1;
    vlen = len - klen - 1;
    trim(&key, &klen);
    trim(&val, &vlen);
    r->prefix = klen > 0 && key[klen - 1] == '*';
    klen -= r->prefix;
    if (klen == 0 || klen > KEY_MAX || memchr(key, '*', klen) != NULL) {
        return -1;
    }
    if (is_word(val, vlen, "process")) {
        r->placement = AX_PLACE_PROCESS;
    } else if (is_word(val, vlen, "coroutine")) {
        r->placement = AX_PLACE_COROUTINE;
    } else {
        return -1;
    }
    memcpy(r->key, key, klen);
    r->key[klen] = '\0';
    r->len = klen;
    return 0;
}

/* Whether item is nothing but spaces (",," or a trailing ","). */
static bool
is_blank(const char *item, size_t len)
{
    trim(&item, &len);
    return len == 0;
}

static int
add_rule(rule_set *set, const place_rule *r)
{
    place_rule *n = ax__realloc(set->v, (set->n + 1) * sizeof(*n));

    if (n == NULL) {
        return AX_ENOMEM;
    }
    set->v = n;
    set->v[set->n++] = *r;
    return 0;
}

/* One item that does not parse: the error (strict) or a line on stderr,
 * naming it without the spaces around it. */
static int
bad_item(const char *item, size_t len, bool strict)
{
    int shown;
    const char *more;

    trim(&item, &len);
    shown = len > 100 ? 100 : (int)len;
    more = len > 100 ? "..." : "";
    if (strict) {
        return ax__fail(AX_EINVAL, "ax_init: AXON_PLACE: \"%.*s%s\": %s", shown,
                        item, more, expected);
    }
    fprintf(stderr, "axon: AXON_PLACE: \"%.*s%s\": %s\n", shown, item, more,
            expected);
    return 0;
}

int
ax__place_parse(bool strict)
{
    const char *s = getenv("AXON_PLACE");
    rule_set set = {NULL, 0};
    int rc = 0;

    while (rc == 0 && s != NULL && *s != '\0') {
        size_t len = strcspn(s, ",");
        place_rule r;

        if (!is_blank(s, len)) {
            rc = parse_item(s, len, &r) == 0 ? add_rule(&set, &r)
                                             : bad_item(s, len, strict);
        }
        s += len + (s[len] == ',');
    }
    if (rc < 0) {
        ax__free(set.v);
        return rc;
    }
    ax__free(rules.v);
    rules = set;
    return 0;
}

/* Whether rule r applies to key (klen bytes). */
static bool
matches(const place_rule *r, const char *key, size_t klen)
{
    if (r->prefix) {
        return klen >= r->len && memcmp(r->key, key, r->len) == 0;
    }
    return klen == r->len && memcmp(r->key, key, klen) == 0;
}

/* Whether r, which applies, beats best (NULL: none yet): an exact key
 * beats a prefix, a longer prefix a shorter one, a later item an earlier
 * one of the same key. */
static bool
beats(const place_rule *r, const place_rule *best)
{
    if (best == NULL) {
        return true;
    }
    if (best->prefix != r->prefix) {
        return !r->prefix;
    }
    return r->len >= best->len;
}

ax_placement
ax__placement(const ax_spawn_opts *o)
{
    const char *key = o->place_as != NULL ? o->place_as : o->name;
    const place_rule *best = NULL;
    size_t klen = key != NULL ? strlen(key) : 0;

    for (size_t i = 0; key != NULL && i < rules.n; i++) {
        if (matches(&rules.v[i], key, klen) && beats(&rules.v[i], best)) {
            best = &rules.v[i];
        }
    }
    if (best != NULL) {
        return best->placement;
    }
    return o->placement == AX_PLACE_PROCESS ? AX_PLACE_PROCESS
                                            : AX_PLACE_COROUTINE;
}
