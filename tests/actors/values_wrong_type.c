/*
 * tests/actors/values_wrong_type.c - must NOT compile: AX_SEND of a value
 * whose C type has no msgpack meaning (here a struct, with
 * -DAX_WRONG=1, or a void pointer, with -DAX_WRONG=2). ctest builds it and
 * expects the compiler to refuse (WILL_FAIL); with -DAX_WRONG=0 it
 * compiles, which shows the failure is the wrong value's, not the file's.
 */
#include <axon.h>
#include <axon/values.h>

struct point {
    int x, y;
};

int probe(ax_pid to);

int
probe(ax_pid to)
{
    struct point pt = {1, 2};
    void *vp = &pt;

    (void)vp;
#if AX_WRONG == 1
    return AX_SEND(to, "at", pt);
#elif AX_WRONG == 2
    return AX_SEND(to, "at", vp);
#else
    return AX_SEND(to, "at", pt.x, pt.y);
#endif
}
