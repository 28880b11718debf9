// How the tools read their command lines, in one place.
// - parse_command_line: CLI11's parse errors become one line, "<tool>: <what went wrong>", and exit code 2;
//   --help and --version print as CLI11 prints them and exit 0.
// - The numeric validators name the value and what it should be. CLI11's own (PositiveNumber,
//   NonNegativeNumber) answer "abc" with a range that ends at 1.8e308, written out in 300 digits.
#pragma once

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace lat::tools {

// Accepts a whole decimal integer (or, when `integer` is false, any finite number) that is ≥ least; the error names
// the value and `what` it should be, e.g. "'abc' is not a positive integer". `tag` is what --help shows after the
// type (INT:POSITIVE).
inline CLI::Validator number_at_least(double least, bool integer, const std::string& what, const std::string& tag) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        const char* begin = text.c_str();
        char* end = nullptr;
        errno = 0;
        const double value = integer ? static_cast<double>(std::strtoll(begin, &end, 10)) : std::strtod(begin, &end);
        const bool parsed = end != begin && *end == '\0' && errno == 0 && std::isfinite(value);
        return parsed && value >= least ? std::string() : "'" + text + "' is not " + what;
      },
      tag);
}
inline const CLI::Validator kPositiveInteger = number_at_least(1, true, "a positive integer", "POSITIVE");
inline const CLI::Validator kNonNegativeInteger = number_at_least(0, true, "a non-negative integer", "NONNEGATIVE");
inline const CLI::Validator kNonNegativeNumber = number_at_least(0, false, "a non-negative number", "NONNEGATIVE");

// Parses argv into `app` (running any subcommand callbacks, which may throw). Returns -1 when main should go on,
// else the exit code main should return.
inline int parse_command_line(CLI::App& app, int argc, char** argv, const char* tool) {
  try {
    app.parse(argc, argv);
    return -1;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    for (char& c : what)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "%s: %s\n", tool, what.c_str());
    return 2;
  }
}

}  // namespace lat::tools
