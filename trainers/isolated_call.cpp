#include "trainers/isolated_call.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/error.h"

namespace lat {

void run_isolated(const std::function<void()>& fn, const std::string& on_crash, const std::string& on_timeout,
                  double timeout_s) {
  int fds[2];
  if (::pipe(fds) != 0) LAT_THROW("cannot create a pipe: ", std::strerror(errno));
  std::fflush(nullptr);  // buffered output must not be written twice
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]), ::close(fds[1]);
    LAT_THROW("cannot fork a process to verify a file: ", std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    // Die by the signal: a crash handler the parent installed (a test framework's, say) must not report it.
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(sig, SIG_DFL);
    std::string message;
    int code = 0;
    try {
      fn();
    } catch (const std::exception& e) {
      message = e.what(), code = 1;
    } catch (...) {
      message = "unknown error", code = 1;
    }
    for (size_t done = 0; done < message.size();) {
      const ssize_t n = ::write(fds[1], message.data() + done, message.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(std::max(0.0, timeout_s)));
  auto ms_left = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 1 << 30));
  };
  auto give_up = [&] {
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    throw Error(on_timeout);
  };
  // The child writes its verdict and exits; the pipe's end of file is its exit (or its death).
  std::string message;
  char buffer[4096];
  for (;;) {
    pollfd p{fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, ms_left());
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      ::close(fds[0]);
      give_up();
    }
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n > 0)
      message.append(buffer, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      break;
  }
  ::close(fds[0]);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) break;
    if (ms_left() == 0) give_up();
    ::usleep(1000);
  }
  if (WIFSIGNALED(status)) LAT_THROW(on_crash, " (signal ", WTERMSIG(status), ")");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw Error(message.empty() ? on_crash : message);
}

}  // namespace lat
