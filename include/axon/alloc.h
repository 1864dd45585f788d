/*
 * axon/alloc.h - memory that axon hands to the caller.
 *
 * All of axon's allocations go through one internal allocator. A few calls
 * give the caller a buffer of axon's (ax_frame_take); release it with
 * ax_free, never with free(3) directly.
 */
#ifndef AXON_ALLOC_H
#define AXON_ALLOC_H

#ifdef __cplusplus
extern "C" {
#endif

/*
 * ax_free - release a buffer that axon gave to the caller.
 *
 * Ownership: takes p. NULL is accepted and ignored.
 * Context: any thread, anywhere.
 */
void ax_free(void *p);

#ifdef __cplusplus
}
#endif
#endif /* AXON_ALLOC_H */
