// `import decodesim`: the command line as Python functions (docs/python.md).
//
// Each function turns its keyword arguments into the command's own options (batch=6144 ->
// --batch=6144) and runs the command through the CLI's parser and code (cli/embed.hpp), so that
// defaults, checks and messages are the CLI's, and an option the CLI gains is a keyword argument
// here with no change to this file. Results are the command's tables as lists of dicts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/embed.hpp"
#include "decodesim/loader.hpp"
#include "decodesim/table.hpp"

namespace py = pybind11;
using decodesim::Cell;
using decodesim::Table;
using decodesim::cli::CommandSpec;
using decodesim::cli::OptionSpec;

namespace {

// Commands of one configuration: their one-row result comes as a dict, not a list of one.
const std::vector<std::string> kOneConfigurationCommands = {"simulate", "traffic", "layer"};
// Tables a command prints beside its result, never its result (cost --units).
const std::vector<std::string> kSideTables = {"unit_cost"};
// The CLI's hint on a parse error; from Python, help(decodesim.<command>) is the help.
const std::string kHelpHint = " (see decodesim --help)";

PyObject* g_error = nullptr;        // decodesim.Error
PyObject* g_input_error = nullptr;  // decodesim.InputError, also a ValueError

// The commands as the CLI declares them, read once.
const std::vector<CommandSpec>& specs() {
  static const std::vector<CommandSpec> s = decodesim::cli::command_specs();
  return s;
}

const CommandSpec& spec_of(const std::string& command) {
  for (const CommandSpec& c : specs())
    if (c.name == command) return c;
  std::string known;
  for (const CommandSpec& c : specs()) known += (known.empty() ? "" : ", ") + c.name;
  throw py::value_error(fmt::format("decodesim: no command '{}' (commands: {})", command, known));
}

// An option's keyword argument: attention-hardware -> attention_hardware.
std::string keyword(std::string option) {
  for (char& c : option)
    if (c == '-') c = '_';
  return option;
}

// The function name of a command: `run` is decodesim.run(command, ...) itself, and `import` a keyword.
std::string python_name(const std::string& command) {
  if (command == "run") return "scenario";
  if (command == "import") return "import_";
  return keyword(command);
}

// A scalar argument as the option's text: numbers in the shortest form that reads back exactly.
std::string option_text(const py::handle& v, const std::string& where) {
  if (py::isinstance<py::bool_>(v))
    throw py::type_error(fmt::format("{}: takes a value, not True/False", where));
  if (py::isinstance<py::str>(v)) return v.cast<std::string>();
  if (py::hasattr(v, "__fspath__")) return py::module_::import("os").attr("fspath")(v).cast<std::string>();
  const py::module_ numbers = py::module_::import("numbers");
  if (py::isinstance(v, numbers.attr("Integral"))) return py::str(py::int_(py::reinterpret_borrow<py::object>(v))).cast<std::string>();
  if (py::isinstance(v, numbers.attr("Real"))) {
    const double d = py::float_(py::reinterpret_borrow<py::object>(v)).cast<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 1e15) return fmt::format("{}", static_cast<long long>(d));
    return fmt::format("{}", d);  // shortest round trip: 0.8, 1e-05
  }
  throw py::type_error(fmt::format("{}: expected a str, number, path or a list of them, got {}", where,
                                   py::str(py::type::handle_of(v).attr("__name__")).cast<std::string>()));
}

// Lists, tuples, ranges, numpy arrays, pandas Series: anything iterable but text, a mapping or a path.
bool is_list(const py::handle& v) {
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) return true;
  if (py::isinstance<py::str>(v) || py::isinstance<py::bytes>(v) || py::isinstance<py::dict>(v) || py::hasattr(v, "__fspath__"))
    return false;
  return py::hasattr(v, "__iter__");
}

std::string dashed(std::string name) {
  for (char& c : name)
    if (c == '_') c = '-';
  return name;
}

std::string option_names(const CommandSpec& c) {
  std::string names;
  for (const OptionSpec& o : c.options) names += (names.empty() ? "" : ", ") + keyword(o.name);
  return names;
}

// The command line for `command` with positional arguments `args` and options `kwargs`:
// name_with_underscores=value -> --name-with-underscores=value; a list -> a comma list (or the
// option once per value where it takes several); True -> the flag; None or False -> left out.
std::vector<std::string> command_line(const CommandSpec& c, const py::args& args, const py::kwargs& kwargs) {
  const std::string fn = "decodesim." + python_name(c.name) + "()";
  std::vector<std::string> argv = {c.name};
  std::vector<const OptionSpec*> positionals;
  for (const OptionSpec& o : c.options)
    if (o.positional) positionals.push_back(&o);
  if (args.size() > positionals.size())
    throw py::type_error(fmt::format("{} takes {} positional argument(s), got {}", fn, positionals.size(), args.size()));
  std::vector<std::string> positional_values(positionals.size());
  std::vector<bool> given(positionals.size(), false);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].is_none()) continue;
    positional_values[i] = option_text(args[i], fmt::format("{} argument {}", fn, positionals[i]->name));
    given[i] = true;
  }

  std::vector<std::string> options;
  for (const auto& [key, value] : kwargs) {
    const std::string name = dashed(key.cast<std::string>());
    const OptionSpec* o = nullptr;
    for (const OptionSpec& candidate : c.options)
      if (candidate.name == name) o = &candidate;
    if (!o)
      throw py::type_error(fmt::format("{} got an unexpected keyword argument '{}' (`decodesim {}` has no --{}); its options: {}",
                                       fn, key.cast<std::string>(), c.name, name, option_names(c)));
    if (value.is_none()) continue;
    const std::string where = fmt::format("{} argument {}", fn, key.cast<std::string>());
    if (o->positional) {
      for (size_t i = 0; i < positionals.size(); ++i)
        if (positionals[i] == o) {
          if (given[i]) throw py::type_error(fmt::format("{} got multiple values for argument '{}'", fn, key.cast<std::string>()));
          positional_values[i] = option_text(value, where);
          given[i] = true;
        }
    } else if (o->flag) {
      if (!py::isinstance<py::bool_>(value)) throw py::type_error(fmt::format("{}: a flag, True or False", where));
      if (value.cast<bool>()) options.push_back("--" + name);
    } else if (is_list(value)) {
      std::string joined;
      for (const py::handle& item : value) {
        const std::string text = option_text(item, where);
        if (o->repeatable) options.push_back(fmt::format("--{}={}", name, text));
        else joined += (joined.empty() ? "" : ",") + text;
      }
      if (!o->repeatable) options.push_back(fmt::format("--{}={}", name, joined));
    } else {
      options.push_back(fmt::format("--{}={}", name, option_text(value, where)));
    }
  }
  // Positionals in their declared order, up to the last one given.
  size_t last = 0;
  for (size_t i = 0; i < given.size(); ++i)
    if (given[i]) last = i + 1;
  for (size_t i = 0; i < last; ++i) {
    if (!given[i]) throw py::type_error(fmt::format("{} missing argument '{}'", fn, positionals[i]->name));
    argv.push_back(positional_values[i]);
  }
  argv.insert(argv.end(), options.begin(), options.end());
  return argv;
}

[[noreturn]] void raise(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

// Runs the command line; a failure raises the CLI's message, messages on success are warnings.
decodesim::cli::CommandRun run_line(const std::vector<std::string>& argv) {
  static std::mutex one_at_a_time;  // the CLI runs one command per process: its code is not made to run two at once
  decodesim::cli::CommandRun run;
  {
    py::gil_scoped_release nogil;  // other Python threads go on while a simulation runs
    std::lock_guard<std::mutex> lock(one_at_a_time);
    run = decodesim::cli::run_embedded(argv);
  }
  std::vector<std::string> messages;
  size_t start = 0;
  while (start < run.err.size()) {
    size_t end = run.err.find('\n', start);
    if (end == std::string::npos) end = run.err.size();
    std::string line = run.err.substr(start, end - start);
    start = end + 1;
    const std::string prefix = "decodesim: ";
    if (line.rfind(prefix, 0) == 0) messages.push_back(line.substr(prefix.size()));  // else a progress bar's text
  }
  if (run.exit_code != 0) {
    std::string message = messages.empty() ? fmt::format("decodesim {} failed (exit code {})", argv.front(), run.exit_code)
                                           : messages.back();
    if (message.size() >= kHelpHint.size() && message.compare(message.size() - kHelpHint.size(), kHelpHint.size(), kHelpHint) == 0)
      message.resize(message.size() - kHelpHint.size());
    raise(run.exit_code == 2 ? g_input_error : g_error, message);
  }
  for (const std::string& m : messages)
    if (PyErr_WarnEx(PyExc_RuntimeWarning, m.c_str(), 1) != 0) throw py::error_already_set();
  return run;
}

// Rows as dicts, column name -> value: text as str, numbers as float, or as int in a column
// whose every number is whole (counts: context, batch, gpus, rank).
py::list rows_of(const Table& t) {
  std::vector<bool> whole(t.columns.size(), true);
  for (const auto& row : t.rows)
    for (size_t i = 0; i < row.size() && i < whole.size(); ++i)
      if (const double* v = std::get_if<double>(&row[i]))
        whole[i] = whole[i] && std::isfinite(*v) && *v == std::floor(*v) && std::abs(*v) <= 9007199254740992.0;  // 2^53
  py::list rows;
  for (const auto& row : t.rows) {
    py::dict d;
    for (size_t i = 0; i < row.size() && i < t.columns.size(); ++i) {
      const py::str key(t.columns[i].name);
      if (const std::string* s = std::get_if<std::string>(&row[i])) d[key] = py::str(*s);
      else if (whole[i]) d[key] = py::int_(static_cast<long long>(std::get<double>(row[i])));
      else d[key] = py::float_(std::get<double>(row[i]));
    }
    rows.append(std::move(d));
  }
  return rows;
}

std::vector<std::string> column_names(const Table& t) {
  std::vector<std::string> names;
  for (const auto& c : t.columns) names.push_back(c.name);
  return names;
}

// The command's result: the rows of its first table that is not a side table, followed by the
// rows of later tables of the same columns (`plan` at several contexts: one table per context,
// each row then naming its table).
py::object result_rows(const std::string& command, const std::vector<Table>& tables) {
  const Table* main = nullptr;
  for (const Table& t : tables)
    if (std::find(kSideTables.begin(), kSideTables.end(), t.name) == kSideTables.end()) {
      main = &t;
      break;
    }
  if (!main) main = &tables.front();
  std::vector<const Table*> parts;
  for (const Table& t : tables)
    if (&t == main || (&t > main && column_names(t) == column_names(*main))) parts.push_back(&t);
  py::list rows;
  for (const Table* t : parts)
    for (const py::handle& row : rows_of(*t)) {
      if (parts.size() > 1) row.cast<py::dict>()["table"] = py::str(t->name);
      rows.append(row);
    }
  const bool one_configuration =
      std::find(kOneConfigurationCommands.begin(), kOneConfigurationCommands.end(), command) != kOneConfigurationCommands.end();
  if (one_configuration && rows.size() == 1) return rows[0];
  return rows;
}

py::object run_command(const std::string& command, const py::args& args, const py::kwargs& kwargs) {
  const decodesim::cli::CommandRun run = run_line(command_line(spec_of(command), args, kwargs));
  if (run.tables.empty()) return py::str(run.out);
  return result_rows(command, run.tables);
}

std::string docstring(const CommandSpec& c) {
  const bool one = std::find(kOneConfigurationCommands.begin(), kOneConfigurationCommands.end(), c.name) !=
                   kOneConfigurationCommands.end();
  std::string doc = fmt::format("{}(*args, **options)\n\n`decodesim {}`: {}.\n\nRuns `decodesim {} ...` with each keyword argument as its option "
                                "(name_x=v -> --name-x v; a list -> a comma list; True -> the flag; None -> the default).\n",
                                python_name(c.name), c.name, c.description, c.name);
  doc += one ? "Returns the result table's rows as a list of dicts, or the row itself (a dict) when there is one.\n"
             : "Returns the result table's rows as a list of dicts (pandas.DataFrame(rows) takes it).\n";
  doc += fmt::format("decodesim.run('{}', ...) returns every table by name. Raises decodesim.InputError (a ValueError) on bad "
                     "input, with the CLI's message.\n\nArguments and options (CLI defaults):\n",
                     c.name);
  for (const OptionSpec& o : c.options) {
    const std::string n = keyword(o.name);
    std::string how = o.positional ? " (positional)" : o.flag ? "=True" : o.default_value.empty() ? "" : "=" + o.default_value;
    if (o.repeatable) how += " (a list: several)";
    doc += fmt::format("  {}{}: {}\n", n, how, o.description);
  }
  return doc;
}

// Data folders and the ids in them, as `decodesim list` prints them.
py::dict known() {
  py::dict d;
  for (const char* folder : {"models", "hardware", "scenarios", "serving"}) d[folder] = decodesim::known_ids(folder);
  return d;
}

}  // namespace

PYBIND11_MODULE(decodesim, m) {
  m.doc() =
      "decodesim: analytical cost and performance simulator for LLM decoding.\n\n"
      "One function per command of the CLI (census, cost, sparsity, budget, simulate, plan, traffic, layer, ...) taking\n"
      "the command's options as keyword arguments with the CLI's defaults; decodesim.run(command, **options) returns\n"
      "every table a command produces. See docs/python.md.";
  m.attr("__version__") = DECODESIM_VERSION;
  py::options options;
  options.disable_function_signatures();  // each docstring opens with its own: the options are keyword arguments

  g_error = PyErr_NewExceptionWithDoc("decodesim.Error", "A decodesim command failed (the CLI's exit code 1).", PyExc_Exception,
                                      nullptr);
  const py::tuple input_bases = py::make_tuple(py::handle(g_error), py::handle(PyExc_ValueError));
  g_input_error = PyErr_NewExceptionWithDoc("decodesim.InputError",
                                            "Bad input: an unknown id, a bad option value, an invalid file (the CLI's exit code 2).",
                                            input_bases.ptr(), nullptr);
  if (!g_error || !g_input_error) throw py::error_already_set();
  m.attr("Error") = py::handle(g_error);
  m.attr("InputError") = py::handle(g_input_error);

  py::class_<Table>(m, "Table", "One table of a command's results: rows of named, typed columns; units per column.")
      .def_readonly("name", &Table::name, "file stem: census, cost, simulate, simulate_stages, ...")
      .def_readonly("title", &Table::title)
      .def_readonly("notes", &Table::notes, "the lines printed under the table")
      .def_property_readonly("columns", &column_names, "column names, in order")
      .def_property_readonly(
          "units",
          [](const Table& t) {
            py::dict units;
            for (const auto& c : t.columns) units[py::str(c.name)] = c.unit;
            return units;
          },
          "column name -> unit ('' where none)")
      .def_property_readonly("rows", &rows_of, "rows as dicts, column name -> str, float or int")
      .def("__len__", [](const Table& t) { return t.rows.size(); })
      .def("__getitem__",
           [](const Table& t, long i) {
             const long n = static_cast<long>(t.rows.size());
             if (i < 0) i += n;
             if (i < 0 || i >= n) throw py::index_error("decodesim.Table row index out of range");
             return rows_of(t)[static_cast<size_t>(i)];
           })
      .def("__iter__", [](const Table& t) { return py::iter(rows_of(t)); })
      .def("__repr__", [](const Table& t) {
        return fmt::format("<decodesim.Table '{}': {} rows x {} columns>", t.name, t.rows.size(), t.columns.size());
      });

  m.def(
      "run",
      [](const std::string& command, const py::args& args, const py::kwargs& kwargs) -> py::object {
        const decodesim::cli::CommandRun run = run_line(command_line(spec_of(command), args, kwargs));
        if (run.tables.empty()) return py::str(run.out);
        py::dict tables;
        for (const Table& t : run.tables) tables[py::str(t.name)] = py::cast(t);
        return tables;
      },
      py::arg("command"),
      "run(command, *args, **options)\n\nRuns `decodesim <command>` with the options given as keyword arguments (as the "
      "command's own function does) and returns every table it produced, {name: decodesim.Table}, in the order the CLI "
      "prints them; a command that produces no table returns the text it printed.");

  m.def(
      "commands", [] {
        std::vector<std::string> names;
        for (const CommandSpec& c : specs()) names.push_back(c.name);
        return names;
      },
      "commands()\n\nThe CLI's commands, as `decodesim --help` lists them.");
  m.def(
      "options",
      [](const std::string& command) {
        py::list out;
        for (const OptionSpec& o : spec_of(command).options) {
          py::dict d;
          d["name"] = o.name;
          d["keyword"] = keyword(o.name);
          d["positional"] = o.positional;
          d["flag"] = o.flag;
          d["repeatable"] = o.repeatable;
          d["required"] = o.required;
          d["default"] = o.default_value;
          d["description"] = o.description;
          out.append(std::move(d));
        }
        return out;
      },
      py::arg("command"), "options(command)\n\nThe options of a command as the CLI declares them (name, keyword, flag, default, description).");
  m.def("data_dirs", [] {
    std::vector<std::string> dirs;
    for (const auto& d : decodesim::data_dirs()) dirs.push_back(d.string());
    return dirs;
  }, "data_dirs()\n\nFolders searched for models/, hardware/ and scenarios/ ids: $DECODESIM_DATA if set, then the source tree built from.");

  // One function per command, made from the CLI's own declarations. A later command whose name
  // is taken here (run, options, ...) is reached through decodesim.run(command, ...).
  m.def("list", &known, "list()\n\nKnown ids, {'models': [...], 'hardware': [...], 'scenarios': [...]}, as `decodesim list`.");
  for (const CommandSpec& c : specs()) {
    const std::string command = c.name;
    if (py::hasattr(m, python_name(command).c_str())) continue;
    m.def(
        python_name(command).c_str(),
        [command](const py::args& args, const py::kwargs& kwargs) { return run_command(command, args, kwargs); },
        docstring(c).c_str());
  }
}
