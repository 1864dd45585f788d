// consumer.cpp - a C++17 program that uses the installed axon.
//
// An adder actor answers one call: ["add", a, b] gets ["sum", a + b].
// A client actor makes that call and ends with ax_exit, which must be
// [[noreturn]] in C++: the client has no return statement after it, so
// -Werror=return-type fails the build if it is not. AX_PID_NONE must be
// a C++ expression (-Wpedantic forbids compound literals).
#include <axon.h>

#include <cstdint>
#include <cstdio>

namespace
{

ax_pid adder_pid = AX_PID_NONE;
std::int64_t sum = -1; // what the client was answered

int
adder(void *)
{
    ax_msg *req, *rep;
    std::int64_t a, b;
    int rc;

    if (ax_recv(&req, 5000) < 0) {
        return 1;
    }
    rc = ax_msg_unpack(req, "[s i i]", nullptr, nullptr, &a, &b);
    if (rc == 0) {
        rc = ax_msg_pack(&rep, "[s i]", "sum", a + b);
    }
    if (rc == 0 && (rc = ax_reply(req, rep)) < 0) {
        ax_msg_free(rep);
    }
    ax_msg_free(req);
    return rc < 0 ? 1 : 0;
}

int
client(void *)
{
    ax_msg *req, *rep;
    int code = 1;

    if (ax_msg_pack(&req, "[s i i]", "add", std::int64_t{2},
                    std::int64_t{40}) == 0 &&
        ax_call(adder_pid, req, &rep, 5000) == 0) {
        if (ax_pid_equal(ax_msg_sender(rep), adder_pid) &&
            ax_msg_unpack(rep, "[s i]", nullptr, nullptr, &sum) == 0) {
            code = 0;
        }
        ax_msg_free(rep);
    }
    ax_exit(code);
}

} // namespace

int
main()
{
    ax_pid none = AX_PID_NONE;
    int rc;

    if (!ax_pid_is_none(none) || ax_init(nullptr) < 0) {
        return 1;
    }
    rc = ax_spawn(adder, nullptr, nullptr, &adder_pid);
    if (rc == 0) {
        rc = ax_spawn(client, nullptr, nullptr, nullptr);
    }
    if (rc == 0) {
        rc = ax_run();
    }
    ax_fini();
    if (rc < 0 || sum != 42) {
        std::fprintf(stderr, "consumer.cpp: rc %d (%s), sum %lld\n", rc,
                     ax_strerror(rc), static_cast<long long>(sum));
        return 1;
    }
    std::printf("consumer.cpp: axon %d.%d.%d from C++17: 2 + 40 = %lld\n",
                AXON_VERSION_MAJOR, AXON_VERSION_MINOR, AXON_VERSION_PATCH,
                static_cast<long long>(sum));
    return 0;
}
