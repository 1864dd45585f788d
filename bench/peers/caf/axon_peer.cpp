// bench/peers/caf/axon_peer.cpp - axon-bench's in-process workloads on CAF
// 0.17 (the C++ Actor Framework), for side-by-side comparison
// (bench/peers/README.md).
//
//   g++ -O2 -std=c++17 axon_peer.cpp -o axon_peer -lcaf_core -lpthread
//   axon_peer WORKLOAD RUNS SCALE THREADS
//
// WORKLOAD: inproc_pingpong | inproc_stream | inproc_stream_unbounded |
//           spawn_coroutine | skynet
// THREADS: scheduler worker threads (caf.scheduler.max-threads); 0 = CAF's
// default (one per core). Prints one JSON object on one line, the same
// fields as the Erlang peer: peer, workload, variant, unit, count, threads,
// values (one per run), check. Every run gets a fresh actor_system (set-up
// and shut-down are not timed); a failed check exits with status 2.
#include <caf/all.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace caf;
using clk = std::chrono::steady_clock;

using ping_atom = atom_constant<atom("ping")>;
using stop_atom = atom_constant<atom("stop")>;
using ack_atom = atom_constant<atom("ack")>;
using done_atom = atom_constant<atom("done")>;
using more_atom = atom_constant<atom("more")>;

static const char PAYLOAD[33] = "0123456789abcdef0123456789abcde"; // 32 bytes
static const int WINDOW = 1024; // at most this many messages unacknowledged
static const int ACK_EVERY = 512;

static double measured; // seconds, written by the actor that times a run
static std::string check_text;

static double secs(clk::time_point t0) {
  return std::chrono::duration<double>(clk::now() - t0).count();
}

[[noreturn]] static void fail(const std::string& what) {
  std::fprintf(stderr, "axon_peer (caf): %s\n", what.c_str());
  std::exit(2);
}

// --- inproc_pingpong: round trip of one small message ------------------------
// axon sends "[s i]" ("ping", 1); pong sends the same message back to its
// sender. ping times n round trips itself, from its first send.

behavior pong(event_based_actor* self) {
  return {
    [=](ping_atom p, int64_t x) {
      self->send(actor_cast<actor>(self->current_sender()), p, x);
    },
    [=](stop_atom) { self->quit(); },
  };
}

behavior ping(event_based_actor* self, int64_t n) {
  auto p = self->spawn(pong);
  auto got = std::make_shared<int64_t>(0);
  auto t0 = clk::now();
  self->send(p, ping_atom::value, int64_t{1});
  return {
    [=](ping_atom a, int64_t x) {
      if (++*got < n) {
        self->send(p, a, x);
        return;
      }
      measured = secs(t0);
      check_text = std::to_string(*got) + " round trips";
      self->send(p, stop_atom::value);
      self->quit();
    },
  };
}

static double pingpong(actor_system& sys, int64_t n) {
  sys.spawn(ping, n);
  sys.await_all_actors_done();
  return measured / n * 1e6; // us per round trip
}

// --- inproc_stream: 32-byte payloads, producer to consumer --------------------
// CAF 0.17 mailboxes are unbounded. acked: the sink acks every 512 messages
// and the producer keeps at most 1024 unacknowledged (axon: a 1024-message
// mailbox). unbounded: the producer sends everything at once.

struct sink_state {
  int64_t count = 0, bytes = 0;
};

behavior sink(stateful_actor<sink_state>* self, int64_t n, bool ack) {
  return {
    [=](const std::string& s) {
      auto& st = self->state;
      st.bytes += static_cast<int64_t>(s.size());
      if (++st.count % ACK_EVERY == 0 && ack)
        self->send(actor_cast<actor>(self->current_sender()), ack_atom::value);
      if (st.count == n) {
        self->send(actor_cast<actor>(self->current_sender()), done_atom::value,
                   st.count, st.bytes);
        self->quit();
      }
    },
  };
}

struct producer_state {
  int64_t sent = 0, acked = 0;
  clk::time_point t0;
};

behavior producer(stateful_actor<producer_state>* self, int64_t n, bool ack) {
  auto snk = self->spawn(sink, n, ack);
  // Send while the window allows (everything, if not acked).
  auto pump = [=] {
    auto& st = self->state;
    while (st.sent < n && (!ack || st.sent - st.acked < WINDOW)) {
      self->send(snk, std::string(PAYLOAD, 32));
      st.sent++;
    }
  };
  self->state.t0 = clk::now();
  pump();
  return {
    [=](ack_atom) {
      self->state.acked += ACK_EVERY;
      pump();
    },
    [=](done_atom, int64_t count, int64_t bytes) {
      measured = secs(self->state.t0);
      if (count != n || bytes != 32 * n)
        fail("stream: " + std::to_string(count) + " messages");
      check_text = std::to_string(count) + " messages, " +
                   std::to_string(bytes) + " bytes";
      self->quit();
    },
  };
}

static double stream_bench(actor_system& sys, int64_t n, bool ack) {
  sys.spawn(producer, n, ack);
  sys.await_all_actors_done();
  return n / measured; // msg/s
}

// --- spawn_coroutine: spawn + run + exit of an actor --------------------------
// The spawner yields (a message to itself) every 256 spawns, as axon's
// does; the time ends when every actor is gone.

void nothing(event_based_actor*) {
  // no behaviour: the actor ends right after it first runs
}

behavior spawner(event_based_actor* self, int64_t n) {
  auto left = std::make_shared<int64_t>(n);
  self->send(self, more_atom::value);
  return {
    [=](more_atom) {
      for (int i = 0; i < 256 && *left > 0; i++, --*left)
        self->spawn(nothing);
      if (*left > 0)
        self->send(self, more_atom::value);
      else
        self->quit();
    },
  };
}

static double spawn_bench(actor_system& sys, int64_t n) {
  auto t0 = clk::now();
  sys.spawn(spawner, n);
  sys.await_all_actors_done();
  double t = secs(t0);
  check_text = std::to_string(n) + " actors spawned and gone";
  return t / n * 1e6; // us per actor
}

// --- skynet -----------------------------------------------------------------------

struct sky_state {
  int64_t sum = 0;
  int got = 0;
};

behavior skynet(stateful_actor<sky_state>* self, actor parent, int64_t num,
                int64_t size) {
  if (size == 1) {
    self->send(parent, num);
    self->quit();
    return {};
  }
  int64_t s = size / 10;
  for (int i = 0; i < 10; i++)
    self->spawn(skynet, actor_cast<actor>(self), num + i * s, s);
  return {
    [=](int64_t v) {
      self->state.sum += v;
      if (++self->state.got == 10) {
        self->send(parent, self->state.sum);
        self->quit();
      }
    },
  };
}

static double skynet_bench(actor_system& sys) {
  int64_t sum = 0;
  auto t0 = clk::now();
  {
    scoped_actor root{sys};
    root->spawn(skynet, actor{root}, int64_t{0}, int64_t{1000000});
    root->receive([&](int64_t v) { sum = v; });
  }
  sys.await_all_actors_done();
  double t = secs(t0);
  if (sum != 499999500000)
    fail("skynet: sum " + std::to_string(sum));
  check_text = "sum " + std::to_string(sum);
  return t * 1e3; // ms
}

// --- main ----------------------------------------------------------------------

int main(int argc, char** argv) {
  if (argc != 5)
    fail("usage: axon_peer WORKLOAD RUNS SCALE THREADS");
  std::string w = argv[1];
  int runs = std::atoi(argv[2]);
  double scale = std::atof(argv[3]);
  int threads = std::atoi(argv[4]);
  auto count = [&](int64_t n) {
    int64_t c = static_cast<int64_t>(n * scale);
    return c > 0 ? c : int64_t{1};
  };
  std::string unit = "us", variant = "default", base = w;
  int64_t n;
  if (w == "inproc_pingpong")
    n = count(1000000);
  else if (w == "inproc_stream" || w == "inproc_stream_unbounded")
    n = count(10000000), unit = "msg/s", base = "inproc_stream",
    variant = w == "inproc_stream" ? "acked" : "unbounded";
  else if (w == "spawn_coroutine")
    n = count(1000000);
  else if (w == "skynet")
    n = 1000000, unit = "ms";
  else
    fail("no workload named " + w);

  std::vector<double> values;
  size_t workers = 0;
  for (int r = 0; r < runs; r++) {
    actor_system_config cfg;
    if (threads > 0)
      cfg.set("scheduler.max-threads", threads);
    actor_system sys{cfg};
    workers = sys.scheduler().num_workers();
    double v;
    if (base == "inproc_pingpong")
      v = pingpong(sys, n);
    else if (base == "inproc_stream")
      v = stream_bench(sys, n, variant == "acked");
    else if (base == "spawn_coroutine")
      v = spawn_bench(sys, n);
    else
      v = skynet_bench(sys);
    values.push_back(v);
  }
  std::printf("{\"peer\": \"caf\", \"workload\": \"%s\", \"variant\": \"%s\", "
              "\"unit\": \"%s\", \"count\": %lld, \"threads\": %zu, "
              "\"values\": [",
              base.c_str(), variant.c_str(), unit.c_str(), (long long)n,
              workers);
  for (size_t i = 0; i < values.size(); i++)
    std::printf("%s%.6g", i ? ", " : "", values[i]);
  std::printf("], \"check\": \"%s\"}\n", check_text.c_str());
  return 0;
}
