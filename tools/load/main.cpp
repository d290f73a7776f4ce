// ringcast-load's parent process: parses the options, maps the shared counters, forks the worker
// processes (connections) and the publisher, drives the phases (connect -> hold -> publish -> drain
// -> finish), shows progress, and prints and writes the summary. Every child is killed and reaped
// on the way out, whatever ends the run (completion, --timeout, Ctrl-C, a child's failure).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tools/load/options.h"
#include "tools/load/publisher.h"
#include "tools/load/report.h"
#include "tools/load/shared.h"
#include "tools/load/tls.h"
#include "tools/load/worker.h"

namespace ringcast::load {
namespace {

constexpr uint64_t kTickNs = 50'000'000;
constexpr uint64_t kTtyProgressPeriodNs = 250'000'000;
constexpr uint64_t kLineProgressPeriodNs = 1'000'000'000;
// After Phase::finishing, workers write their accounting and exit; past this they are killed.
constexpr uint64_t kFinishWaitNs = 10'000'000'000;
constexpr uint64_t kStartDelayNs = 20'000'000;  // lets every worker set up before the first due connect

volatile sig_atomic_t g_signals = 0;

void on_signal(int) {
  g_signals = g_signals + 1;
}

struct Child {
  pid_t pid = -1;
  bool is_worker = false;
  uint32_t worker = 0;
  bool exited = false;
  int status = 0;
  double cpu_at_exit_s = 0;  // user + system CPU time, from wait4
};

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::connecting:
      return "connecting";
    case Phase::holding:
      return "holding";
    case Phase::publishing:
      return "publishing";
    case Phase::draining:
      return "draining";
    case Phase::finishing:
      return "finishing";
  }
  return "?";
}

void sleep_ns(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  nanosleep(&ts, nullptr);  // a signal cuts it short, which is what the loop wants
}

// CPU seconds (utime + stime of every thread) of a process from /proc/PID/stat; 0 once it is gone.
double process_cpu_s(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(in, text);
  const size_t comm_end = text.rfind(')');
  if (comm_end == std::string::npos) return 0;
  // After the command name: state is field 3, utime field 14, stime field 15.
  const char* p = text.c_str() + comm_end + 2;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return static_cast<double>(utime + stime) / ticks;
}

uint64_t process_rss_anon_bytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::strtoull(line.c_str() + 8, nullptr, 10) * 1024;
  return 0;
}

// Per CPU: seconds of user + system + irq + softirq + steal time from /proc/stat (idle, iowait and
// niced time left out).
std::vector<double> core_busy_s() {
  std::vector<double> busy;
  std::ifstream in("/proc/stat");
  std::string line;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (std::getline(in, line)) {
    if (line.rfind("cpu", 0) != 0) break;
    if (line.size() < 4 || line[3] == ' ') continue;  // the "cpu " total line
    unsigned long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (std::sscanf(line.c_str(), "%*s %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
                    &iowait, &irq, &softirq, &steal) < 7)
      continue;
    busy.push_back(static_cast<double>(user + system + irq + softirq + steal) / ticks);
  }
  return busy;
}

std::string describe_exit(const Child& c) {
  std::string who = c.is_worker ? "worker " + std::to_string(c.worker) : std::string("publisher");
  if (WIFSIGNALED(c.status)) return who + " killed by signal " + std::to_string(WTERMSIG(c.status));
  return who + " exited with status " + std::to_string(WEXITSTATUS(c.status));
}

class Parent {
 public:
  Parent(const Options& o, Shared& shared) : o_(o), shared_(shared), ctl_(shared.control()) {}
  int run();

 private:
  bool spawn(std::string& error);
  void reap();
  void step(uint64_t now);
  void progress(uint64_t now, bool final_line);
  void set_phase(Phase p) { ctl_.phase.set(static_cast<uint64_t>(p)); }
  void stop_children();
  // Samples CPU time (and the watched processes' memory) into `sample`, once.
  void sample_cpu(uint64_t now, CpuSample& sample);

  const Options& o_;
  Shared& shared_;
  ControlBlock& ctl_;
  std::vector<Child> children_;
  RunObservations seen_;
  bool tty_ = false;
  uint64_t hold_until_ns_ = 0;
  uint64_t drain_until_ns_ = 0;
  uint64_t finish_since_ns_ = 0;
  uint64_t last_progress_ns_ = 0;
  uint64_t last_progress_received_ = 0;
  bool done_ = false;
};

bool Parent::spawn(std::string& error) {
  const pid_t parent = getpid();
  std::fflush(stdout);
  std::fflush(stderr);
  auto fork_child = [&](bool is_worker, uint32_t worker) -> bool {
    const pid_t pid = fork();
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(errno);
      return false;
    }
    if (pid == 0) {
      // A child never outlives the parent, and leaves Ctrl-C to it (the parent then asks for a
      // summary instead of losing the counters).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      signal(SIGINT, SIG_IGN);
      signal(SIGTERM, SIG_DFL);
      const int code = is_worker ? run_worker(o_, shared_, worker) : run_publisher(o_, shared_);
      std::fflush(stderr);
      _exit(code);
    }
    children_.push_back({pid, is_worker, worker, false, 0});
    return true;
  };
  for (uint32_t w = 0; w < o_.processes; ++w)
    if (!fork_child(true, w)) return false;
  if (o_.publishes() && !fork_child(false, 0)) return false;
  return true;
}

void Parent::sample_cpu(uint64_t now, CpuSample& sample) {
  if (sample.taken) return;
  sample.taken = true;
  sample.at_ns = now;
  sample.core_busy_s = core_busy_s();
  for (int pid : o_.watch_pids) {
    sample.watched_s += process_cpu_s(pid);
    sample.watched_rss_anon_bytes += process_rss_anon_bytes(pid);
  }
  for (const Child& c : children_)
    (c.is_worker ? sample.workers_s : sample.publisher_s) += c.exited ? c.cpu_at_exit_s : process_cpu_s(c.pid);
}

void Parent::reap() {
  while (true) {
    int status = 0;
    rusage usage{};
    const pid_t pid = wait4(-1, &status, WNOHANG, &usage);
    if (pid <= 0) return;
    for (Child& c : children_) {
      if (c.pid != pid) continue;
      c.exited = true;
      c.status = status;
      c.cpu_at_exit_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
      const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      // A worker may only leave once told to finish; the publisher once done. Anything else
      // ends the run.
      const bool expected =
          clean && (c.is_worker ? shared_.phase() >= Phase::finishing : ctl_.publisher_done.get() == 1);
      if (!expected && seen_.stop_reason.empty()) seen_.stop_reason = describe_exit(c);
    }
  }
}

void Parent::step(uint64_t now) {
  const Phase phase = shared_.phase();
  if (phase == Phase::finishing) {
    bool all_final = true;
    for (uint32_t w = 0; w < shared_.workers(); ++w) all_final &= shared_.worker(w).final_done.get() == 1;
    bool all_exited = true;
    for (const Child& c : children_) all_exited &= c.exited || !c.is_worker;
    if ((all_final && all_exited) || now - finish_since_ns_ > kFinishWaitNs) done_ = true;
    return;
  }
  auto finish = [&] {
    if (seen_.cpu_start.taken) sample_cpu(now, seen_.cpu_end);
    seen_.end_ns = now;
    finish_since_ns_ = now;
    set_phase(Phase::finishing);
  };
  if (!seen_.stop_reason.empty()) return finish();
  if (g_signals) {
    seen_.stop_reason = "interrupted";
    return finish();
  }
  const uint64_t elapsed_ns = now > seen_.start_ns ? now - seen_.start_ns : 0;
  if (elapsed_ns > static_cast<uint64_t>(o_.timeout_s * 1e9)) {
    seen_.stop_reason = "timeout (--timeout " + std::to_string(static_cast<uint64_t>(o_.timeout_s)) + " s)";
    return finish();
  }

  switch (phase) {
    case Phase::connecting: {
      uint64_t resolved = 0;
      for (uint32_t w = 0; w < shared_.workers(); ++w)
        resolved += shared_.worker(w).joined.get() + shared_.worker(w).failed.get();
      const bool timed_out = elapsed_ns > static_cast<uint64_t>(o_.connect_timeout_s * 1e9);
      if (resolved >= o_.connections || timed_out) {
        seen_.connect_timed_out = resolved < o_.connections;
        seen_.connect_phase_end_ns = now;
        hold_until_ns_ = now + static_cast<uint64_t>(o_.hold_s * 1e9);
        set_phase(Phase::holding);
      }
      return;
    }
    case Phase::holding:
      if (now >= hold_until_ns_) {
        sample_cpu(now, seen_.cpu_start);
        if (!o_.publishes()) return finish();
        set_phase(Phase::publishing);
      }
      return;
    case Phase::publishing:
      if (seen_.publish_start_seen_ns == 0 && ctl_.publish_start_ns.get() != 0) {
        seen_.publish_start_seen_ns = now;
        seen_.received_at_publish_start = received_total(shared_);
      }
      if (ctl_.publisher_done.get() == 1) {
        seen_.publish_end_seen_ns = now;
        seen_.received_at_publish_end = received_total(shared_);
        drain_until_ns_ = now + static_cast<uint64_t>(o_.drain_timeout_s * 1e9);
        set_phase(Phase::draining);
      }
      return;
    case Phase::draining: {
      // Done when every worker, in a check made after the publisher's last answer, found no live
      // connection behind the last accepted seq of its rooms.
      const uint64_t answers_in_ns = ctl_.publisher_done_ns.get();
      bool caught_up = true;
      for (uint32_t w = 0; w < shared_.workers(); ++w) {
        const WorkerBlock& b = shared_.worker(w);
        const uint64_t checked = b.lagging_checked_ns.get();
        caught_up &= checked > answers_in_ns && b.lagging.get() == 0;
      }
      for (const Child& c : children_) caught_up &= !(c.is_worker && c.exited);
      if (caught_up) return finish();
      if (now >= drain_until_ns_) {
        seen_.drain_timed_out = true;
        return finish();
      }
      return;
    }
    case Phase::finishing:
      return;
  }
}

void Parent::progress(uint64_t now, bool final_line) {
  const uint64_t period = tty_ ? kTtyProgressPeriodNs : kLineProgressPeriodNs;
  if (!final_line && now - last_progress_ns_ < period) return;
  const uint64_t received = received_total(shared_);
  const double dt = last_progress_ns_ ? static_cast<double>(now - last_progress_ns_) / 1e9 : 0;
  const double rate = dt > 0 ? static_cast<double>(received - last_progress_received_) / dt : 0;
  last_progress_ns_ = now;
  last_progress_received_ = received;
  const std::string line =
      progress_line(o_, shared_, phase_name(shared_.phase()),
                    now > seen_.start_ns ? static_cast<double>(now - seen_.start_ns) / 1e9 : 0, rate);
  if (tty_)
    std::fprintf(stderr, "\r%s\x1b[K%s", line.c_str(), final_line ? "\n" : "");
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void Parent::stop_children() {
  // Ask first (SIGTERM), then insist: every child is reaped before the parent returns.
  for (const Child& c : children_)
    if (!c.exited) kill(c.pid, SIGTERM);
  const uint64_t deadline = monotonic_ns() + 2'000'000'000;
  while (true) {
    reap();
    bool all = true;
    for (const Child& c : children_) all &= c.exited;
    if (all) return;
    if (monotonic_ns() > deadline) break;
    sleep_ns(10'000'000);
  }
  for (Child& c : children_) {
    if (c.exited) continue;
    kill(c.pid, SIGKILL);
    waitpid(c.pid, &c.status, 0);
    c.exited = true;
  }
}

int Parent::run() {
  tty_ = isatty(STDERR_FILENO) == 1;
  seen_.start_ns = monotonic_ns() + kStartDelayNs;
  ctl_.start_ns.set(seen_.start_ns);
  set_phase(Phase::connecting);
  std::string error;
  if (!spawn(error)) {
    std::fprintf(stderr, "ringcast-load: %s\n", error.c_str());
    stop_children();
    return 1;
  }
  while (!done_) {
    const uint64_t now = monotonic_ns();
    reap();
    step(now);
    progress(now, false);
    if (g_signals > 1) break;  // a second Ctrl-C: no summary, just stop
    sleep_ns(kTickNs);
  }
  progress(monotonic_ns(), true);
  const bool hard_stop = g_signals > 1;
  stop_children();
  if (hard_stop) {
    std::fprintf(stderr, "ringcast-load: stopped\n");
    return 130;
  }
  if (seen_.end_ns == 0) seen_.end_ns = monotonic_ns();
  for (uint32_t w = 0; w < shared_.workers(); ++w)
    if (shared_.worker(w).final_done.get() != 1 && seen_.stop_reason.empty())
      seen_.stop_reason = "worker " + std::to_string(w) + " did not finish its accounting";

  const Summary summary = summarize(o_, shared_, seen_);
  print_summary(o_, summary);
  if (!o_.json_path.empty()) {
    std::string json_error;
    if (!write_json(o_.json_path, o_, summary, json_error)) {
      std::fprintf(stderr, "ringcast-load: %s\n", json_error.c_str());
      return 1;
    }
  }
  if (summary.stop_reason == "interrupted") return 130;
  return summary.problems.empty() ? 0 : 1;
}

}  // namespace
}  // namespace ringcast::load

int main(int argc, char** argv) {
  using namespace ringcast::load;
  Options options;
  bool help = false;
  std::string error;
  if (!parse_options(argc, argv, options, help, error)) {
    std::fprintf(stderr, "ringcast-load: %s (see --help)\n", error.c_str());
    return 2;
  }
  if (help) {
    std::fputs(help_text().c_str(), stdout);
    return 0;
  }

  // A CA file that cannot be loaded stops the run here, before any process starts (each worker and
  // the publisher make their own context after the fork).
  if (options.any_tls()) {
    SSL_CTX* ctx = new_client_context({options.ca_file, options.insecure}, error);
    if (ctx == nullptr) {
      std::fprintf(stderr, "ringcast-load: %s\n", error.c_str());
      return 2;
    }
    SSL_CTX_free(ctx);
  }

  // Each worker holds up to --per-proc sockets: take the whole hard limit, and refuse early when
  // even that is too small.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  const uint64_t per_worker = (uint64_t{options.connections} + options.processes - 1) / options.processes;
  if (files.rlim_cur != RLIM_INFINITY && per_worker + kFilesReservedPerProcess > files.rlim_cur) {
    std::fprintf(stderr,
                 "ringcast-load: %llu connections per process need more than the %llu open files allowed; "
                 "lower --per-proc (see --help)\n",
                 static_cast<unsigned long long>(per_worker),
                 static_cast<unsigned long long>(files.rlim_cur));
    return 2;
  }

  Shared shared;
  if (!shared.create(options.room_slots(), options.processes, error)) {
    std::fprintf(stderr, "ringcast-load: %s\n", error.c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Parent parent(options, shared);
  return parent.run();
}
