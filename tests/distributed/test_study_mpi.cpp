// lat-study under `mpirun -np 2` on the CPU: the ranks divide the smoke study's runs, rank 0 writes the report,
// and its results equal those of one process running the whole study.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>

#include "core/json.h"
#include "support/shell.h"
#include "support/temp_dir.h"

using lat::Json;
using lat::testing::run_shell;
using lat::testing::TempDir;

namespace {

std::string results_of(const std::string& study_dir) {
  return Json::parse_file(study_dir + "/report.json").at("results").dump(1);
}

}  // namespace

TEST_CASE("lat-study under mpirun -np 2 gives the report of one process") {
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  TempDir dir("study_mpi");
  const std::string cd = "cd " + std::string(LAT_SOURCE_DIR) + " && OMP_NUM_THREADS=1 timeout 300 ";
  const std::string study = " recipes/study/smoke.toml --study-dir ";
  const auto one = run_shell(cd + LAT_STUDY_EXE + study + dir / "one");
  INFO(one.output);
  REQUIRE(one.exit_code == 0);
  const auto two = run_shell(cd + LAT_MPIRUN + " -np 2 --oversubscribe --bind-to none -x OMP_NUM_THREADS " +
                             LAT_STUDY_EXE + study + dir / "two");
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  CHECK(std::filesystem::exists(dir / "two/report.json"));
  CHECK(results_of(dir / "two") == results_of(dir / "one"));
}
