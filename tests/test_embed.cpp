// The command line run from another program (src/cli/embed.hpp): the tables handed back are
// the ones the CLI prints, nothing is printed, failures keep the CLI's exit codes and messages.
#include "helpers.hpp"

#include <algorithm>

#include "cli/embed.hpp"
#include "decodesim/writers.hpp"

using namespace decodesim;

namespace {

const cli::OptionSpec* option(const cli::CommandSpec& c, const std::string& name) {
  for (const cli::OptionSpec& o : c.options)
    if (o.name == name) return &o;
  return nullptr;
}

}  // namespace

TEST_CASE("run_embedded hands back the tables the CLI prints, and prints nothing", "[cli][embed]") {
  const cli::CommandRun run =
      cli::run_embedded({"simulate", "--model", "step3", "--hardware", "h800", "--deployment", "2A2F", "--batch", "6144",
                         "--context", "4096", "--format", "csv"});
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.empty());
  CHECK(run.err.empty());
  REQUIRE(run.tables.size() == 2);
  CHECK(run.tables[0].name == "simulate");
  CHECK(run.tables[1].name == "simulate_stages");
  const test::Result printed = test::run("simulate --model step3 --hardware h800 --deployment 2A2F --batch 6144 --context 4096 --format csv");
  REQUIRE(printed.code == 0);
  CHECK(printed.out == "# simulate\n" + render_csv(run.tables[0]) + "\n# simulate_stages\n" + render_csv(run.tables[1]));
}

TEST_CASE("run_embedded keeps the CLI's exit codes and messages", "[cli][embed]") {
  const cli::CommandRun bad_id = cli::run_embedded({"census", "--model", "no-such-model"});
  CHECK(bad_id.exit_code == 2);
  CHECK(bad_id.tables.empty());
  CHECK_THAT(bad_id.err, Catch::StartsWith("decodesim: unknown model id 'no-such-model'"));
  CHECK(bad_id.err == test::run("census --model no-such-model").err);

  const cli::CommandRun bad_option = cli::run_embedded({"simulate", "--kv-dtype=int4"});
  CHECK(bad_option.exit_code == 2);
  CHECK(bad_option.err == test::run("simulate --kv-dtype=int4").err);

  // A failed run leaves no tables behind for the next one.
  const cli::CommandRun next = cli::run_embedded({"census"});
  CHECK(next.exit_code == 0);
  CHECK(next.tables.size() == 1);
}

TEST_CASE("run_embedded still writes the files --out asks for", "[cli][embed]") {
  test::TempDir dir;
  const cli::CommandRun run = cli::run_embedded({"census", "--out", dir.path.string(), "--format", "csv"});
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.empty());
  REQUIRE(run.tables.size() == 1);
  CHECK(test::read_file(dir.path / "census.csv") == render_csv(run.tables[0]));
}

TEST_CASE("command_specs lists the commands and options main declares", "[cli][embed]") {
  const std::vector<cli::CommandSpec> specs = cli::command_specs();
  auto find = [&](const std::string& name) {
    auto it = std::find_if(specs.begin(), specs.end(), [&](const cli::CommandSpec& c) { return c.name == name; });
    REQUIRE(it != specs.end());
    return *it;
  };
  const cli::CommandSpec simulate = find("simulate");
  REQUIRE(option(simulate, "batch"));
  CHECK_FALSE(option(simulate, "batch")->flag);
  CHECK(option(simulate, "deployment")->default_value == "2A2F");
  CHECK(option(simulate, "calibration")->repeatable);
  CHECK_FALSE(option(simulate, "help"));
  CHECK(option(find("cost"), "afd")->flag);
  CHECK_FALSE(option(find("cost"), "afd")->repeatable);
  CHECK(option(find("run"), "scenario")->positional);
  CHECK(option(find("import"), "config")->required);
  for (const char* name : {"census", "cost", "sparsity", "budget", "plan", "traffic", "layer", "list", "calibrate"}) find(name);
}
