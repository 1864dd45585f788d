/*
 * actors/core/pid.c - addresses as people read them: ax_pid_format and
 * ax_pid_parse.
 *
 * The text is <node.slot.generation>: the node's number in this run
 * (nodes.c), then the two halves of the id (core/table.c: the low 32 bits
 * are the slot + 1, the high 32 its generation). A node without a number
 * (past the table's size, or from outside this run) is written as its id
 * in hex, 0x..., so that parse gives back the same address anyway.
 */
#include "actors/core/core.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/error.h"

int
ax_pid_format(ax_pid p, char *buf, size_t len)
{
    uint32_t number = ax__node_number(p.node);
    char node[24];

    AX_REQUIRE(buf != NULL || len == 0, "ax_pid_format: buf is NULL");
    if (ax_pid_is_none(p)) {
        return snprintf(buf, len, "<none>");
    }
    if (number != 0 || p.node == 0) {
        snprintf(node, sizeof(node), "%" PRIu32, number);
    } else {
        snprintf(node, sizeof(node), "0x%" PRIx64, p.node);
    }
    return snprintf(buf, len, "<%s.%" PRIu32 ".%" PRIu32 ">", node,
                    (uint32_t)p.id, (uint32_t)(p.id >> 32));
}

/* Digits of base (10 or 16) at *s up to max, at least one: *out; moves *s. */
static bool
number_at(const char **s, int base, uint64_t max, uint64_t *out)
{
    const char *c = *s;
    uint64_t v = 0;
    int d;

    for (;; c++) {
        if (*c >= '0' && *c <= '9') {
            d = *c - '0';
        } else if (base == 16 && *c >= 'a' && *c <= 'f') {
            d = *c - 'a' + 10;
        } else if (base == 16 && *c >= 'A' && *c <= 'F') {
            d = *c - 'A' + 10;
        } else {
            break;
        }
        if (v > (max - (uint64_t)d) / (uint64_t)base) {
            return false; /* too large */
        }
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (c == *s) {
        return false;
    }
    *s = c;
    *out = v;
    return true;
}

/* The node part at *s: a number of this run, or 0x and an id. */
static int
node_at(const char **s, uint64_t *node)
{
    uint64_t v;

    if ((*s)[0] == '0' && ((*s)[1] == 'x' || (*s)[1] == 'X')) {
        *s += 2;
        return number_at(s, 16, UINT64_MAX, node) ? 0 : AX_EINVAL;
    }
    if (!number_at(s, 10, UINT32_MAX, &v)) {
        return AX_EINVAL;
    }
    *node = v == 0 ? 0 : ax__node_of_number((uint32_t)v);
    return v != 0 && *node == 0 ? AX_ESRCH : 0;
}

int
ax_pid_parse(const char *s, ax_pid *out)
{
    uint64_t node, low, gen;
    int rc;

    AX_REQUIRE(s != NULL && out != NULL, "ax_pid_parse: s or out is NULL");
    if (strcmp(s, "<none>") == 0) {
        *out = AX_PID_NONE;
        return 0;
    }
    if (*s++ != '<') {
        return AX_EINVAL;
    }
    if ((rc = node_at(&s, &node)) < 0 && rc != AX_ESRCH) {
        return rc;
    }
    /* The rest is checked even when the node is unknown: bad text is
     * AX_EINVAL whatever its node part says. */
    if (*s++ != '.' || !number_at(&s, 10, UINT32_MAX, &low) || *s++ != '.' ||
        !number_at(&s, 10, UINT32_MAX, &gen) || *s++ != '>' || *s != '\0') {
        return AX_EINVAL;
    }
    if (rc < 0) {
        return rc;
    }
    *out = (ax_pid){node, gen << 32 | low};
    return 0;
}
