/*
 * tests/transport/python_peer_doc_test.c - docs/wire.md shows peer.py's
 * code verbatim, and its hex example is byte for byte what ax_chan writes.
 */
#include "support/testutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include <axon.h>

#include "python_peer_util.h"

/* The whole of a source file, NUL-terminated. */
static char *
read_source(const char *rel)
{
    char path[PATH_MAX];
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    FILE *f;

    source_path(path, sizeof(path), rel);
    f = fopen(path, "re");
    if (f == NULL) {
        free(buf);
        fail_msg("cannot open %s: %s", path, strerror(errno));
    }
    assert_non_null(buf);
    for (;;) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
        assert_non_null(buf);
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* The text between the lines begin and end of s (a copy), or NULL. */
static char *
between(const char *s, const char *begin, const char *end)
{
    const char *a = strstr(s, begin);
    const char *b;
    char *out;

    if (a == NULL) {
        return NULL;
    }
    a += strlen(begin);
    b = strstr(a, end);
    if (b == NULL) {
        return NULL;
    }
    out = malloc((size_t)(b - a) + 1);
    assert_non_null(out);
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    return out;
}

static void
test_python_peer_doc_shows_peer_code_verbatim(void **state)
{
    char *doc = read_source(WIRE_DOC);
    char *py = read_source(PEER_SCRIPT);
    char *in_doc = between(doc, "<!-- peer.py example: begin -->\n```python\n",
                           "```\n<!-- peer.py example: end -->");
    char *in_py =
        between(py, "# wire.md example: begin\n", "# wire.md example: end\n");
    bool same = in_doc != NULL && in_py != NULL && strcmp(in_doc, in_py) == 0;

    (void)state;
    free(doc);
    free(py);
    free(in_doc);
    free(in_py);
    if (!same) {
        fail_msg("the Python example in %s is not the code between the "
                 "\"wire.md example\" markers of %s (or a marker is missing)",
                 WIRE_DOC, PEER_SCRIPT);
    }
}

/*
 * Parse the annotated hex dump in docs/wire.md: lines "<offset>  <hex
 * bytes separated by one space>  <comment>". Every offset must equal the
 * bytes before it. Returns the byte count.
 */
static size_t
parse_hex_dump(const char *text, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *line, *next;
    char *p;
    unsigned long off;

    for (line = text; *line != '\0'; line = next) {
        next = strchr(line, '\n');
        next = next != NULL ? next + 1 : line + strlen(line);
        while (*line == ' ') {
            line++;
        }
        if (!isdigit((unsigned char)*line)) {
            continue; /* a heading or separator line */
        }
        off = strtoul(line, &p, 10);
        if (off != n) {
            fail_msg("wire.md example: offset %lu, but %zu bytes before it",
                     off, n);
        }
        while (*p == ' ') {
            p++;
        }
        while (isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1])) {
            assert_true(n < cap);
            out[n++] = (uint8_t)strtoul((char[3]){p[0], p[1], '\0'}, NULL, 16);
            p += 2;
            if (p[0] != ' ' || p[1] == ' ') {
                break; /* two spaces: the comment begins */
            }
            p++;
        }
    }
    return n;
}

static void
noop_frame(ax_chan *ch, ax_frame *f, void *ud)
{
    (void)ch;
    (void)f;
    (void)ud;
}

static void
noop_error(ax_chan *ch, int err, void *ud)
{
    (void)ch;
    (void)err;
    (void)ud;
}

/* The bytes ax_chan writes for the doc's example frame. */
static size_t
write_example_frame(uint8_t *out, size_t cap)
{
    static const ax_chan_cbs cbs = {noop_frame, noop_error, NULL};
    ax_frame_hdr hdr = {1, 0, {2, 1}, {1, 2}};
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    int in[2], wire[2];
    ax_chan *ch;
    ax_msg *m;
    const void *data;
    size_t len;
    ssize_t got;

    assert_non_null(loop);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(wire, O_CLOEXEC), 0);
    assert_int_equal(ax_chan_new(loop, in[0], wire[1], NULL, &cbs, NULL, &ch),
                     0);
    assert_int_equal(ax_msg_pack(&m, "[s d p]", "ping", 1, (ax_pid){1, 2}), 0);
    data = ax_msg_data(m, &len);
    assert_int_equal(ax_chan_send(ch, &hdr, data, len), 0);
    assert_int_equal(ax_chan_flush(ch), 0);
    got = read(wire[0], out, cap);
    ax_msg_free(m);
    ax_chan_close(ch);
    close(in[1]);
    close(wire[0]);
    ev_loop_destroy(loop);
    assert_true(got > 0);
    return (size_t)got;
}

static void
test_python_peer_doc_hex_example_is_what_axon_writes(void **state)
{
    char *doc = read_source(WIRE_DOC);
    char *dump = between(doc, "<!-- example frame: begin -->\n",
                         "<!-- example frame: end -->");
    uint8_t want[256], got[256];
    size_t nwant, ngot;

    (void)state;
    free(doc);
    if (dump == NULL) {
        fail_msg("%s: the \"example frame\" markers are missing", WIRE_DOC);
    }
    nwant = parse_hex_dump(dump, want, sizeof(want));
    free(dump);
    ngot = write_example_frame(got, sizeof(got));
    assert_int_equal(nwant, ngot);
    assert_memory_equal(want, got, ngot);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_python_peer_doc_shows_peer_code_verbatim),
        T(test_python_peer_doc_hex_example_is_what_axon_writes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
