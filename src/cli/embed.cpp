#include "cli/embed.hpp"

#include <CLI/CLI.hpp>

#include <sstream>

#include "cli/cli.hpp"

namespace decodesim::cli {

namespace {

// Per thread, so that a caller's run never collects another thread's tables.
thread_local std::vector<Table>* tl_sink = nullptr;
thread_local std::vector<CommandSpec>* tl_specs = nullptr;

// Sets a thread-local pointer for one scope, and clears it however the scope ends.
template <typename T>
class Scoped {
 public:
  Scoped(T*& slot, T* value) : slot_(slot) { slot_ = value; }
  ~Scoped() { slot_ = nullptr; }
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;

 private:
  T*& slot_;
};

int main_with(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::vector<const char*> argv = {"decodesim"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return main(static_cast<int>(args.size() + 1), argv.data(), out, err);
}

}  // namespace

CommandRun run_embedded(const std::vector<std::string>& args) {
  CommandRun run;
  std::ostringstream out, err;
  {
    Scoped<std::vector<Table>> collecting(tl_sink, &run.tables);
    run.exit_code = main_with(args, out, err);
  }
  run.out = out.str();
  run.err = err.str();
  return run;
}

std::vector<CommandSpec> command_specs() {
  std::vector<CommandSpec> specs;
  std::ostringstream out, err;
  Scoped<std::vector<CommandSpec>> inspecting(tl_specs, &specs);
  main_with({}, out, err);
  return specs;
}

namespace embedded {

std::vector<Table>* table_sink() { return tl_sink; }

bool inspect(const CLI::App& app) {
  if (!tl_specs) return false;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    CommandSpec c{sub->get_name(), sub->get_description(), {}};
    for (const CLI::Option* o : sub->get_options()) {
      if (o == sub->get_help_ptr() || o == sub->get_help_all_ptr()) continue;
      OptionSpec s;
      s.positional = !o->nonpositional();
      s.name = s.positional ? o->get_name(true) : (o->get_lnames().empty() ? std::string() : o->get_lnames().front());
      if (s.name.empty()) continue;  // short-only options: none are declared
      s.flag = o->get_expected_max() == 0;
      // A vector option (--calibration) takes its values each as a --name of its own.
      s.repeatable = !s.flag && o->get_items_expected_max() > 1;
      s.required = o->get_required();
      s.default_value = o->get_default_str();
      s.description = o->get_description();
      c.options.push_back(std::move(s));
    }
    tl_specs->push_back(std::move(c));
  }
  return true;
}

}  // namespace embedded

}  // namespace decodesim::cli
