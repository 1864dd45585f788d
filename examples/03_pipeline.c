/*
 * 03_pipeline.c - a pipeline of actors, with backpressure.
 *
 *   generator -> square -> multiples of 3 (slow) -> sum
 *
 * Each stage is an actor that receives ["item", n] from the previous one
 * and sends its result to the next, whose address is a spawn argument;
 * ["end"] follows the last item and ends each stage in turn. The filter
 * is slow (it sleeps now and then); it and the stage before it have
 * bounded mailboxes (mailbox_capacity): a sender that finds one full
 * waits, so the generator cannot run ahead and no mailbox grows beyond
 * its capacity. main checks the sum against one computed directly.
 *
 * Run: build/examples/03_pipeline
 */
#include <axon.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT 1000 /* numbers the generator sends: 1..COUNT */
#define CAPACITY 8 /* mailbox capacity of the square and filter stages */

static void
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s %s\n", what, ax_strerror(rc),
                ax_error_detail());
        exit(1);
    }
}

/* One stage: what it does to an item, and where the result goes. */
struct stage {
    const char *name;
    ax_pid next;            /* the next stage (unused by the sink) */
    bool (*fn)(int64_t *v); /* transform *v; false drops it */
    int slow_every;         /* sleep 1 ms every that many items */
    size_t capacity;        /* its mailbox's; 0: unbounded */
    int64_t sum;            /* the sink's result */
    int in, out;            /* items received and sent on */
};

static bool
square(int64_t *v)
{
    *v *= *v;
    return true;
}

static bool
multiple_of_3(int64_t *v)
{
    return *v % 3 == 0;
}

/* A middle stage (fn set) or the sink (fn NULL): runs until ["end"]. */
static int
stage_run(void *arg)
{
    struct stage *s = arg;
    ax_actor_stats st;
    int64_t v;
    ax_msg *m;

    for (;;) {
        check(ax_recv(&m, AX_FOREVER), "recv");
        if (ax_msg_has_tag(m, "end")) {
            ax_msg_free(m);
            break;
        }
        check(ax_msg_unpack(m, "[s i]", NULL, NULL, &v), "unpack");
        ax_msg_free(m);
        s->in++;
        if (s->slow_every != 0 && s->in % s->slow_every == 0) {
            check(ax_sleep(1), "sleep"); /* a slow consumer */
        }
        if (s->fn == NULL) {
            s->sum += v;
        } else if (s->fn(&v)) {
            /* Waits here while the next stage's mailbox is full. */
            check(ax_sendf(s->next, "[s i]", "item", v), "send");
            s->out++;
        }
    }
    if (s->fn != NULL) {
        check(ax_sendf(s->next, "[s]", "end"), "send end");
    }
    /* The mailbox peak is counted by the runtime. */
    check(ax_stats(ax_self(), &st), "ax_stats");
    printf("%-6s in %4d, out %4d, mailbox peak %zu (capacity %zu%s)\n", s->name,
           s->in, s->out, st.mailbox_peak, s->capacity,
           s->capacity ? "" : ": unbounded");
    return 0;
}

/* The source: 1..COUNT, then the end marker. It never receives nor
 * sleeps, so each time it was suspended, a full mailbox stopped it. */
static int
generate(void *arg)
{
    struct stage *s = arg;
    ax_actor_stats st;

    for (int64_t n = 1; n <= COUNT; n++) {
        check(ax_sendf(s->next, "[s i]", "item", n), "send");
        s->out++;
    }
    check(ax_sendf(s->next, "[s]", "end"), "send end");
    check(ax_stats(ax_self(), &st), "ax_stats");
    printf("generator: sent %d items, waited %" PRIu64 " times for room\n",
           s->out, st.switches - 1);
    return 0;
}

static void
spawn_stage(ax_actor_fn fn, struct stage *s, ax_pid *addr)
{
    ax_spawn_opts o = {.mailbox_capacity = s->capacity};

    check(ax_spawn(fn, s, &o, addr), s->name);
}

int
main(void)
{
    struct stage sum = {.name = "sum"};
    struct stage filt = {.name = "filter",
                         .fn = multiple_of_3,
                         .slow_every = 50,
                         .capacity = CAPACITY};
    struct stage sq = {.name = "square", .fn = square, .capacity = CAPACITY};
    struct stage gen = {.name = "generator"};
    int64_t expected = 0;

    check(ax_init(NULL), "ax_init");
    /* Spawn from the end, so each stage knows the address of the next. */
    spawn_stage(stage_run, &sum, &filt.next);
    spawn_stage(stage_run, &filt, &sq.next);
    spawn_stage(stage_run, &sq, &gen.next);
    spawn_stage(generate, &gen, NULL);
    check(ax_run(), "ax_run");
    ax_fini();

    for (int64_t n = 1; n <= COUNT; n++) {
        expected += n * n % 3 == 0 ? n * n : 0;
    }
    printf("sum of the squares in 1..%d divisible by 3: %" PRId64
           " (expected %" PRId64 ")\n",
           COUNT, sum.sum, expected);
    return sum.sum == expected ? 0 : 1;
}
