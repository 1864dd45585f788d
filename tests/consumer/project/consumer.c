/* consumer.c - the smallest program that uses the installed axon. */
#include <axon.h>

#include <stdio.h>
#include <string.h>

int
main(void)
{
    ax_msg *m;
    const char *s;
    size_t len;
    int64_t n;

    if (ax_msg_pack(&m, "[s i]", "installed", (int64_t)42) < 0) {
        return 1;
    }
    if (ax_msg_unpack(m, "[s i]", &s, &len, &n) < 0 || n != 42 || len != 9 ||
        memcmp(s, "installed", 9) != 0) {
        ax_msg_free(m);
        return 1;
    }
    ax_msg_free(m);
    printf("consumer: axon %d.%d.%d round trip ok\n", AXON_VERSION_MAJOR,
           AXON_VERSION_MINOR, AXON_VERSION_PATCH);
    return 0;
}
