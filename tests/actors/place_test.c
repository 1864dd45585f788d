/*
 * tests/actors/place_test.c - AXON_PLACE, the placement by configuration
 * (docs/tuning.md, "AXON_PLACE"): what parses (spaces around keys and
 * values, the value in any case, prefix patterns) and which rule wins;
 * an item that does not parse is reported once on stderr, or with
 * ax_runtime_opts.strict_place fails ax_init; a placement class
 * (ax_spawn_opts.place_as) is matched instead of the name, and a pool of
 * one class placed as processes really runs in other processes.
 *
 * stderr is captured in this process: fd 2 is a pipe between
 * capture_begin and capture_end (the teardown puts it back after a failed
 * assert). Every test ends with no fd left open and no child unreaped.
 */
#include "support/actor_harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/process/process.h"

#define EXPECTED "expected NAME=coroutine|process or PREFIX*=coroutine|process"

/* --- stderr into a pipe ----------------------------------------------------
 */

static int saved_stderr = -1; /* the real fd 2 while captured */
static int capture_rd = -1;   /* the pipe's read end */

static void
capture_begin(void)
{
    int p[2];

    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    fflush(stderr);
    saved_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(p[1], 2), 2);
    close(p[1]);
    capture_rd = p[0];
}

/* Put fd 2 back; what was written to it meanwhile goes into buf. */
static void
capture_end(char *buf, size_t size)
{
    size_t n = 0;
    ssize_t got = 1;

    if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, 2);
        close(saved_stderr);
        saved_stderr = -1;
    }
    while (capture_rd >= 0 && got > 0 && n + 1 < size) {
        got = read(capture_rd, buf + n, size - 1 - n);
        n += got > 0 ? (size_t)got : 0;
    }
    buf[n] = '\0';
    if (capture_rd >= 0) {
        close(capture_rd);
        capture_rd = -1;
    }
}

static int
teardown(void **state)
{
    char rest[256];

    capture_end(rest, sizeof(rest));
    unsetenv("AXON_PLACE");
    ax__place_parse(false); /* no rules left behind */
    return t_teardown(state);
}

/* What ax_init(opts) writes on stderr with AXON_PLACE=value; its result
 * in *rc. ax_fini after a success. */
static void
init_output(const char *value, const ax_runtime_opts *opts, int *rc, char *buf,
            size_t size)
{
    assert_int_equal(setenv("AXON_PLACE", value, 1), 0);
    capture_begin();
    *rc = ax_init(opts);
    capture_end(buf, size);
    if (*rc == 0) {
        ax_fini();
    }
}

/* Where an actor with that name and class (NULL: none) and the default
 * placement goes under the rules parsed last. */
static ax_placement
where(const char *name, const char *place_as)
{
    ax_spawn_opts o = {.name = name, .place_as = place_as};

    return ax__placement(&o);
}

/* --- what does not parse ---------------------------------------------------
 */

/*
 * Each typo that used to be ignored without a word is named on stderr,
 * once, with what was expected, and places nothing: the actor keeps its
 * options' placement (a coroutine; the rules outlive ax_fini). Only the
 * bad item among good ones is named, without its spaces.
 */
static void
test_place_bad_item_is_reported_on_stderr(void **state)
{
    static const char *const bad[] = {
        "transform=proc", "transform:process",  "a=process;b=process",
        "*=process",      "=process",           "transform=",
        "transform",      "trans*form=process", "transform=process process",
    };
    char out[1024], line[1024];
    int rc;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        init_output(bad[i], NULL, &rc, out, sizeof(out));
        assert_int_equal(rc, 0);
        snprintf(line, sizeof(line), "axon: AXON_PLACE: \"%s\": " EXPECTED "\n",
                 bad[i]);
        assert_string_equal(out, line);
        assert_int_equal(where("transform", NULL), AX_PLACE_COROUTINE);
        assert_int_equal(where("a", NULL), AX_PLACE_COROUTINE);
    }
    init_output("worker=process,  transform=proc ,logger=process", NULL, &rc,
                out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out,
                        "axon: AXON_PLACE: \"transform=proc\": " EXPECTED "\n");
}

/* The reports of two bad items: one line each. */
static void
test_place_each_bad_item_is_reported(void **state)
{
    char out[1024];
    int rc;

    (void)state;
    init_output("a=proc,b=process,c:coroutine", NULL, &rc, out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out,
                        "axon: AXON_PLACE: \"a=proc\": " EXPECTED "\n"
                        "axon: AXON_PLACE: \"c:coroutine\": " EXPECTED "\n");
}

static int
named_actor(void *arg)
{
    (void)arg;
    return 0;
}

/* Spawn coroutines and process actors of the listed class and name. */
static void
body_spawn_some(void *arg)
{
    ax_spawn_opts as = {.place_as = "worker"}, named = {.name = "transform"};
    ax_pid pid[4];

    (void)arg;
    for (int i = 0; i < 3; i++) {
        pid[i] = th_spawn_with(named_actor, &as);
    }
    pid[3] = th_spawn_with(named_actor, &named);
    for (int i = 0; i < 4; i++) {
        TH_CHECK_INT(th_join(pid[i]).kind, AX_EXIT_NORMAL);
    }
}

/*
 * The report comes at ax_init, once: not again at each spawn, nor from
 * the process actors (which inherit the parsed rules, not the text).
 */
static void
test_place_bad_item_is_reported_once(void **state)
{
    char out[1024];

    (void)state;
    assert_int_equal(setenv("AXON_PLACE", "worker=process,transform=proc", 1),
                     0);
    capture_begin();
    th_run(body_spawn_some, NULL);
    capture_end(out, sizeof(out));
    assert_string_equal(out,
                        "axon: AXON_PLACE: \"transform=proc\": " EXPECTED "\n");
}

/*
 * With strict_place, ax_init fails with AX_EINVAL instead, says nothing
 * on stderr, names the item in ax_error_detail, and leaves no runtime:
 * the next ax_init succeeds.
 */
static void
test_place_strict_option_fails_init_with_einval(void **state)
{
    const ax_runtime_opts strict = {.strict_place = true};
    char out[1024];
    int rc;

    (void)state;
    init_output("worker=process, transform=proc", &strict, &rc, out,
                sizeof(out));
    assert_int_equal(rc, AX_EINVAL);
    assert_string_equal(out, "");
    assert_string_equal(ax_error_detail(),
                        "ax_init: AXON_PLACE: \"transform=proc\": " EXPECTED);
    init_output("worker = Process", &strict, &rc, out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
}

/* --- what parses -----------------------------------------------------------
 */

/* Spaces and tabs around keys and values, any case of the value, empty
 * items: all parse, and nothing is said. */
static void
test_place_spaces_and_value_case_are_tolerated(void **state)
{
    char out[1024];
    int rc;

    (void)state;
    init_output(" transform = Process ,\tlogger=COROUTINE\t,, worker=pRoCeSs,",
                NULL, &rc, out, sizeof(out));
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    assert_int_equal(where("transform", NULL), AX_PLACE_PROCESS);
    assert_int_equal(where("worker", NULL), AX_PLACE_PROCESS);
    assert_int_equal(where("logger", NULL), AX_PLACE_COROUTINE);
    assert_int_equal(where("Transform", NULL), AX_PLACE_COROUTINE);
}

/* Names still match as they did; the options decide for the rest. */
static void
test_place_name_is_matched_without_a_class(void **state)
{
    ax_spawn_opts p = {.name = "other", .placement = AX_PLACE_PROCESS};
    ax_spawn_opts c = {.name = "logger", .placement = AX_PLACE_PROCESS};

    (void)state;
    assert_int_equal(setenv("AXON_PLACE", "worker=process,logger=coroutine", 1),
                     0);
    assert_int_equal(ax__place_parse(false), 0);
    assert_int_equal(where("worker", NULL), AX_PLACE_PROCESS);
    assert_int_equal(where("worker2", NULL), AX_PLACE_COROUTINE);
    assert_int_equal(where(NULL, NULL), AX_PLACE_COROUTINE);
    assert_int_equal(ax__placement(&p), AX_PLACE_PROCESS);
    assert_int_equal(ax__placement(&c), AX_PLACE_COROUTINE);
}

/* A class is looked up instead of the name: with or without a name, and
 * a name rule does not apply to an actor that has a class. */
static void
test_place_as_is_matched_instead_of_the_name(void **state)
{
    (void)state;
    assert_int_equal(setenv("AXON_PLACE", "worker=process,solo=process", 1), 0);
    assert_int_equal(ax__place_parse(false), 0);
    assert_int_equal(where(NULL, "worker"), AX_PLACE_PROCESS);
    assert_int_equal(where("worker-1", "worker"), AX_PLACE_PROCESS);
    assert_int_equal(where("solo", "helper"), AX_PLACE_COROUTINE);
    assert_int_equal(where("solo", NULL), AX_PLACE_PROCESS);
    assert_int_equal(where(NULL, ""), AX_PLACE_COROUTINE);
}

/* KEY* matches what starts with KEY; an exact key beats a prefix, a
 * longer prefix a shorter one, a later item an earlier one. */
static void
test_place_prefix_and_precedence(void **state)
{
    (void)state;
    assert_int_equal(setenv("AXON_PLACE",
                            "w*=coroutine,worker*=process,worker-log=coroutine,"
                            "x=process,x=coroutine,y*=coroutine,y*=process",
                            1),
                     0);
    assert_int_equal(ax__place_parse(false), 0);
    assert_int_equal(where(NULL, "worker"), AX_PLACE_PROCESS);
    assert_int_equal(where("worker-7", NULL), AX_PLACE_PROCESS);
    assert_int_equal(where(NULL, "worker-log"), AX_PLACE_COROUTINE);
    assert_int_equal(where("work", NULL), AX_PLACE_COROUTINE);
    assert_int_equal(where("x", NULL), AX_PLACE_COROUTINE);
    assert_int_equal(where("yes", NULL), AX_PLACE_PROCESS);
    assert_int_equal(where("y*", NULL), AX_PLACE_PROCESS);
}

/* --- for real --------------------------------------------------------------
 */

/* Answer ["at", getpid()] to the driver, whose address is the arg. */
static int
where_actor(void *arg)
{
    ax_sendf(*(const ax_pid *)arg, "[s d]", "at", (int)getpid());
    return 0;
}

/* 3 unnamed actors of class "worker", 1 named "logger" with class
 * "helper": the workers each in a process of their own, the logger
 * here; then 1 named "logger" without a class: by its name, elsewhere. */
static void
body_pool(void *arg)
{
    static const int elsewhere[] = {1, 1, 1, 0, 1};
    ax_spawn_opts o[] = {
        {.place_as = "worker", .arg_size = sizeof(ax_pid)},
        {.place_as = "worker", .arg_size = sizeof(ax_pid)},
        {.place_as = "worker", .arg_size = sizeof(ax_pid)},
        {.name = "logger", .place_as = "helper", .arg_size = sizeof(ax_pid)},
        {.name = "log2", .arg_size = sizeof(ax_pid)},
    };
    ax_pid me = ax_self(), pid;
    int seen[5] = {0};

    (void)arg;
    for (int i = 0; i < 5; i++) {
        ax_msg *m;

        TH_CHECK_INT(ax_spawn(where_actor, &me, &o[i], &pid), 0);
        m = th_expect("at", 10000);
        TH_CHECK(m != NULL && ax_msg_unpack(m, "[_ d]", &seen[i]) == 0);
        ax_msg_free(m);
        TH_CHECK_INT(seen[i] != getpid(), elsewhere[i]);
        TH_CHECK_INT(th_join(pid).kind, AX_EXIT_NORMAL);
    }
    TH_CHECK(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
}

static void
test_place_as_process_runs_in_another_process(void **state)
{
    (void)state;
    assert_int_equal(
        setenv("AXON_PLACE", "worker=process,logger=process,log2=process", 1),
        0);
    th_run(body_pool, NULL);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, t_setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_place_bad_item_is_reported_on_stderr),
        TEST(test_place_each_bad_item_is_reported),
        TEST(test_place_bad_item_is_reported_once),
        TEST(test_place_strict_option_fails_init_with_einval),
        TEST(test_place_spaces_and_value_case_are_tolerated),
        TEST(test_place_name_is_matched_without_a_class),
        TEST(test_place_as_is_matched_instead_of_the_name),
        TEST(test_place_prefix_and_precedence),
        TEST(test_place_as_process_runs_in_another_process),
    };

    th_main_setup();
    unsetenv("AXON_PLACE");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
