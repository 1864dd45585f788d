/*
 * base/endian.h - big-endian loads and stores (internal).
 *
 * The wire is big-endian twice over: msgpack's own integers (serialize/)
 * and the frame header's length and addresses (transport/). Both layers
 * read and write those bytes with these, so the transport needs nothing
 * of msgpack to frame a message.
 */
#ifndef AXON_BASE_ENDIAN_H
#define AXON_BASE_ENDIAN_H

#include <stdint.h>

static inline uint16_t
ax__load16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
ax__load32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static inline uint64_t
ax__load64(const uint8_t *p)
{
    return (uint64_t)ax__load32(p) << 32 | ax__load32(p + 4);
}

static inline void
ax__store16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void
ax__store32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void
ax__store64(uint8_t *p, uint64_t v)
{
    ax__store32(p, (uint32_t)(v >> 32));
    ax__store32(p + 4, (uint32_t)v);
}

#endif /* AXON_BASE_ENDIAN_H */
