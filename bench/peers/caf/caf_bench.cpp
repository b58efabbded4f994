// caf_bench.cpp - hive's six benchmark workloads (pingpong threadring fanout
// spawn big memory) written for CAF 0.17, for side-by-side comparison.
// Usage: caf-bench WORKLOAD [-w W] [SIZES...]; the last line of stdout is
// "RESULT peer=caf bench=... n=... secs=... rate=..." (bytes_per_actor=...
// for memory), as defined for hive's bench/ in shared/DESIGN.md.

#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace caf;

namespace {

// -- message types -------------------------------------------------------------

using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;
using token_atom = atom_constant<atom("token")>;
using next_atom = atom_constant<atom("next")>;
using msg_atom = atom_constant<atom("msg")>;
using go_atom = atom_constant<atom("go")>;
using more_atom = atom_constant<atom("more")>;
using done_atom = atom_constant<atom("done")>;
using never_atom = atom_constant<atom("never")>;

// -- helpers -----------------------------------------------------------------

double now() {
  using std::chrono::steady_clock;
  return std::chrono::duration<double>(steady_clock::now().time_since_epoch()).count();
}

long rss_bytes() {
  long total = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr || std::fscanf(f, "%ld %ld", &total, &resident) != 2) {
    std::fprintf(stderr, "cannot read /proc/self/statm\n");
    std::exit(1);
  }
  std::fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

struct bench_result {
  int64_t n = 0;
  double secs = 0;
  double rate = 0;      // messages / hops / actors per second
  double bytes = -1;    // memory bench only: bytes per actor
};

// Waits (on the scoped actor of main) for `count` done messages.
void await_done(scoped_actor& self, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    self->receive([](done_atom) {});
}

void kill_all(const std::vector<actor>& xs) {
  for (auto& x : xs)
    anon_send_exit(x, exit_reason::kill);
}

// -- pingpong N ----------------------------------------------------------------

behavior pong_actor(event_based_actor*) {
  // The returned value is sent back to the sender of the ping.
  return {[](ping_atom) { return pong_atom::value; }};
}

struct ping_state {
  int64_t left;
};

behavior ping_actor(stateful_actor<ping_state>* self, actor pong, int64_t n,
                    actor main) {
  self->state.left = n;
  self->send(pong, ping_atom::value);
  return {[=](pong_atom) {
    if (--self->state.left == 0) {
      self->send(main, done_atom::value);
      self->quit();
    } else {
      self->send(pong, ping_atom::value);
    }
  }};
}

bench_result run_pingpong(actor_system& sys, scoped_actor& self, int64_t n) {
  double t0 = now();
  auto pong = sys.spawn(pong_actor);
  sys.spawn(ping_actor, pong, n, actor{self});
  await_done(self, 1);
  double secs = now() - t0;
  kill_all({pong});
  return {n, secs, 2.0 * n / secs};
}

// -- threadring R N ------------------------------------------------------------

struct ring_state {
  actor next;
};

behavior ring_actor(stateful_actor<ring_state>* self, actor main) {
  return {
    [=](next_atom, const actor& next) { self->state.next = next; },
    [=](token_atom, int64_t left) {
      if (left == 0)
        self->send(main, done_atom::value);
      else
        self->send(self->state.next, token_atom::value, left - 1);
    },
  };
}

bench_result run_threadring(actor_system& sys, scoped_actor& self, int64_t r,
                      int64_t n) {
  double t0 = now();
  std::vector<actor> ring;
  ring.reserve(r);
  for (int64_t i = 0; i < r; ++i)
    ring.push_back(sys.spawn(ring_actor, actor{self}));
  // Main's next-link to each member is enqueued before the token can reach it.
  for (int64_t i = 0; i < r; ++i)
    self->send(ring[i], next_atom::value, ring[(i + 1) % r]);
  self->send(ring[0], token_atom::value, n);
  await_done(self, 1);
  double secs = now() - t0;
  kill_all(ring);  // breaks the reference cycle of the ring too
  return {n, secs, n / secs};
}

// -- fanout A M ----------------------------------------------------------------

struct receiver_state {
  int64_t left;
};

behavior fan_receiver(stateful_actor<receiver_state>* self, int64_t m,
                      actor main) {
  self->state.left = m;
  return {[=](msg_atom) {
    if (--self->state.left == 0) {
      self->send(main, done_atom::value);
      self->quit();
    }
  }};
}

// Sends M rounds (one message to each receiver per round) and terminates.
void fan_sender(event_based_actor* self, std::vector<actor> receivers,
                int64_t m) {
  for (int64_t i = 0; i < m; ++i)
    for (auto& r : receivers)
      self->send(r, msg_atom::value);
}

bench_result run_fanout(actor_system& sys, scoped_actor& self, int64_t a,
                  int64_t m) {
  double t0 = now();
  std::vector<actor> receivers;
  receivers.reserve(a);
  for (int64_t i = 0; i < a; ++i)
    receivers.push_back(sys.spawn(fan_receiver, m, actor{self}));
  sys.spawn(fan_sender, std::move(receivers), m);
  await_done(self, a);
  double secs = now() - t0;
  return {a * m, secs, a * m / secs};
}

// -- spawn N -------------------------------------------------------------------

constexpr int64_t spawn_chunk = 1000;

behavior spawn_child(event_based_actor* self) {
  return {[=](go_atom, const actor& collector) {
    self->send(collector, done_atom::value);
    self->quit();
  }};
}

struct counter_state {
  int64_t left;
};

// Counts `n` done messages, then tells main.
behavior counter_actor(stateful_actor<counter_state>* self, int64_t n,
                       actor main) {
  self->state.left = n;
  return {[=](done_atom) {
    if (--self->state.left == 0) {
      self->send(main, done_atom::value);
      self->quit();
    }
  }};
}

struct spawner_state {
  int64_t left;
};

// Spawns in chunks, sending itself a message between chunks (as hive's
// spawner does).
behavior spawner_actor(stateful_actor<spawner_state>* self, int64_t n,
                       actor collector) {
  self->state.left = n;
  self->send(self, more_atom::value);
  return {[=](more_atom) {
    auto& left = self->state.left;
    for (int64_t i = 0; i < spawn_chunk && left > 0; ++i, --left)
      self->send(self->spawn(spawn_child), go_atom::value, collector);
    if (left > 0)
      self->send(self, more_atom::value);
    else
      self->quit();
  }};
}

bench_result run_spawn(actor_system& sys, scoped_actor& self, int64_t n) {
  double t0 = now();
  auto collector = sys.spawn(counter_actor, n, actor{self});
  sys.spawn(spawner_actor, n, collector);
  await_done(self, 1);
  double secs = now() - t0;
  return {n, secs, n / secs};
}

// -- big A N -------------------------------------------------------------------

struct big_state {
  std::vector<actor> peers;
  uint64_t rng;
  int64_t left;
  int64_t id;
};

uint64_t xorshift64(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

void big_send_ping(stateful_actor<big_state>* self) {
  auto& st = self->state;
  auto a = static_cast<uint64_t>(st.peers.size());
  auto k = static_cast<int64_t>(xorshift64(st.rng) % (a - 1));
  if (k >= st.id)
    ++k;  // any peer but itself
  self->send(st.peers[k], ping_atom::value);
}

behavior big_actor(stateful_actor<big_state>* self, int64_t id, int64_t n,
                   actor sink) {
  self->state.id = id;
  self->state.left = n;
  self->state.rng = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(id + 1);
  return {
    [=](go_atom, std::vector<actor>& peers) {
      self->state.peers = std::move(peers);
      big_send_ping(self);
    },
    // Answer at once, also after this actor finished its own pings.
    [](ping_atom) { return pong_atom::value; },
    [=](pong_atom) {
      if (--self->state.left == 0)
        self->send(sink, done_atom::value);
      else
        big_send_ping(self);
    },
  };
}

bench_result run_big(actor_system& sys, scoped_actor& self, int64_t a, int64_t n) {
  if (a < 2) {
    std::fprintf(stderr, "big needs at least 2 actors\n");
    std::exit(2);
  }
  double t0 = now();
  std::vector<actor> peers;
  peers.reserve(a);
  for (int64_t i = 0; i < a; ++i)
    peers.push_back(sys.spawn(big_actor, i, n, actor{self}));  // main = sink
  for (auto& p : peers)
    self->send(p, go_atom::value, peers);
  await_done(self, a);
  double secs = now() - t0;
  kill_all(peers);
  return {2 * a * n, secs, 2.0 * a * n / secs};
}

// -- memory K ------------------------------------------------------------------

// Checks in with `counter`, then waits for a message that never comes.
behavior idle_actor(event_based_actor* self, actor counter) {
  self->send(counter, done_atom::value);
  return {[](never_atom) {}};
}

bench_result run_memory(actor_system& sys, scoped_actor& self, int64_t k) {
  // The handle array is written (made resident) before the first reading,
  // so it is not charged to the actors.
  std::vector<actor> idle(k);
  auto counter = sys.spawn(counter_actor, k, actor{self});
  long before = rss_bytes();
  double t0 = now();
  for (int64_t i = 0; i < k; ++i)
    idle[i] = sys.spawn(idle_actor, counter);
  await_done(self, 1);  // all K have started and checked in
  double secs = now() - t0;
  long after = rss_bytes();
  kill_all(idle);
  bench_result res{k, secs, 0};
  res.bytes = static_cast<double>(after - before) / static_cast<double>(k);
  return res;
}

// -- command line ----------------------------------------------------------------

struct workload {
  const char* name;
  std::vector<int64_t> defaults;
  const char* usage;
};

const workload workloads[] = {
  {"pingpong", {2000000}, "[N]"},
  {"threadring", {503, 10000000}, "[R [N]]"},
  {"fanout", {60, 250000}, "[A [M]]"},
  {"spawn", {1000000}, "[N]"},
  {"big", {120, 40000}, "[A [N]]"},
  {"memory", {100000}, "[K]"},
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s WORKLOAD [-w W] [SIZES...]\n", argv0);
  for (auto& w : workloads)
    std::fprintf(stderr, "  %s %s\n", w.name, w.usage);
  std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage(argv[0]);
  const workload* wl = nullptr;
  for (auto& w : workloads)
    if (std::strcmp(argv[1], w.name) == 0)
      wl = &w;
  if (wl == nullptr)
    usage(argv[0]);
  long workers = 0;
  std::vector<int64_t> sizes = wl->defaults;
  size_t nsizes = 0;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "-w") == 0 && i + 1 < argc) {
      workers = std::atol(argv[++i]);
    } else if (nsizes < sizes.size() && std::atoll(argv[i]) > 0) {
      sizes[nsizes++] = std::atoll(argv[i]);
    } else {
      usage(argv[0]);
    }
  }
  if (workers < 0)
    usage(argv[0]);
  // W=0 keeps CAF's own default, max(cores, 4) threads: what a CAF user
  // gets without tuning.
  bench_result res;
  {
    actor_system_config cfg;  // CAF's own CLI/INI parsing is not used
    if (workers > 0)
      cfg.set("scheduler.max-threads", static_cast<size_t>(workers));
    actor_system sys{cfg};
    scoped_actor self{sys};
    std::string name = wl->name;
    if (name == "pingpong")
      res = run_pingpong(sys, self, sizes[0]);
    else if (name == "threadring")
      res = run_threadring(sys, self, sizes[0], sizes[1]);
    else if (name == "fanout")
      res = run_fanout(sys, self, sizes[0], sizes[1]);
    else if (name == "spawn")
      res = run_spawn(sys, self, sizes[0]);
    else if (name == "big")
      res = run_big(sys, self, sizes[0], sizes[1]);
    else
      res = run_memory(sys, self, sizes[0]);
  } // scoped actor gone, then the system waits for every actor to finish
  if (res.bytes >= 0)
    std::printf("RESULT peer=caf bench=%s n=%" PRId64
                " secs=%.3f bytes_per_actor=%.0f\n",
                wl->name, res.n, res.secs, res.bytes);
  else
    std::printf("RESULT peer=caf bench=%s n=%" PRId64 " secs=%.3f rate=%.0f\n",
                wl->name, res.n, res.secs, res.rate);
  return 0;
}
