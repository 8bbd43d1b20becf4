"""The Python module against the CLI it wraps (CTest `python_api`, run by the interpreter the
module was built for, with PYTHONPATH at the built module).

Environment: DECODESIM_CLI (the executable), DECODESIM_PYTHON_DIR (the folder of the module
under test), DECODESIM_SOURCE_DIR, DECODESIM_INPLACE (1: the build also put the module in the
source root)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import decodesim

CLI = os.environ["DECODESIM_CLI"]
SOURCE_DIR = os.environ["DECODESIM_SOURCE_DIR"]

# The README's target: one deployment, one configuration.
TARGET = dict(model="step3", hardware="h800", deployment="2A2F", batch=6144, context=4096)
TARGET_ARGS = ["--model", "step3", "--hardware", "h800", "--deployment", "2A2F", "--batch", "6144", "--context", "4096"]


def target_args(**changes):
    """The target's CLI arguments with some options changed (each option once, as the module passes it)."""
    options = {**TARGET, **changes}
    return [text for key, value in options.items() for text in (f"--{key.replace('_', '-')}", str(value))]


def cli(*args, expect_rc=0):
    """Runs the CLI; returns (stdout, stderr)."""
    p = subprocess.run([CLI, *args], capture_output=True, text=True)
    if p.returncode != expect_rc:
        raise AssertionError(f"decodesim {' '.join(args)}: exit {p.returncode}, expected {expect_rc}: {p.stderr}")
    return p.stdout, p.stderr


def cli_json(*args):
    """The CLI's tables as {name: rows}, from --format json (several documents, one per table)."""
    text, _ = cli(*args, "--format", "json")
    tables, decoder, at = {}, json.JSONDecoder(), 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return tables
        doc, at = decoder.raw_decode(text, at)
        tables[doc["analysis"]] = doc["rows"]


def cli_error(*args):
    """The CLI's one-line message for a command that fails with bad input (exit code 2)."""
    _, err = cli(*args, expect_rc=2)
    line = err.strip().splitlines()[-1]
    assert line.startswith("decodesim: "), line
    return line[len("decodesim: "):].removesuffix(" (see decodesim --help)")


class Module(unittest.TestCase):
    def test_is_the_module_built_here(self):
        self.assertEqual(os.path.realpath(os.path.dirname(decodesim.__file__)),
                         os.path.realpath(os.environ["DECODESIM_PYTHON_DIR"]))

    def test_commands_are_the_clis(self):
        for command in ["census", "cost", "sparsity", "budget", "simulate", "plan", "traffic", "layer", "run", "list"]:
            self.assertIn(command, decodesim.commands())
        for name in ["census", "cost", "sparsity", "budget", "simulate", "plan", "traffic", "layer", "scenario"]:
            self.assertTrue(callable(getattr(decodesim, name)), name)
        keywords = {o["keyword"]: o for o in decodesim.options("simulate")}
        self.assertEqual(keywords["batch"]["flag"], False)
        self.assertEqual(keywords["deployment"]["default"], "2A2F")
        self.assertTrue(keywords["calibration"]["repeatable"])
        self.assertTrue({o["keyword"]: o for o in decodesim.options("cost")}["afd"]["flag"])
        self.assertIn("--batch", cli("simulate", "--help")[0])  # the same option list as the CLI's
        self.assertIn("  batch: requests decoding concurrently", decodesim.simulate.__doc__)
        self.assertIn("  deployment=2A2F: ", decodesim.simulate.__doc__)

    def test_list(self):
        ids = decodesim.list()
        self.assertIn("step3", ids["models"])
        self.assertIn("h800", ids["hardware"])
        text, _ = cli("list")
        self.assertIn("models: " + " ".join(ids["models"]), text)


class Results(unittest.TestCase):
    def test_simulate_tgs_is_the_clis(self):
        row = decodesim.simulate(**TARGET)
        self.assertIsInstance(row, dict)  # one configuration: the row itself
        expected = cli_json("simulate", *TARGET_ARGS)["simulate"]
        self.assertEqual(len(expected), 1)
        self.assertIsInstance(row["tgs"], float)
        self.assertEqual(row["tgs"], expected[0]["tgs"])  # exact: JSON carries the double whole
        self.assertEqual(row, expected[0])
        # The aligned table rounds to 4 significant digits: the same number as printed.
        table, _ = cli("simulate", *TARGET_ARGS)
        self.assertIn(f"{row['tgs']:.4g}", table)

    def test_readme_target_command(self):
        if os.environ.get("DECODESIM_INPLACE") != "1":
            self.skipTest("the build does not put the module in the source root (DECODESIM_PYTHON_INPLACE=OFF)")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        p = subprocess.run([sys.executable, "-c", "import decodesim; print(decodesim.simulate(model='step3', hardware='h800', "
                            "deployment='2A2F', batch=6144, context=4096)['tgs'])"],
                           cwd=SOURCE_DIR, env=env, capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(float(p.stdout), cli_json("simulate", *TARGET_ARGS)["simulate"][0]["tgs"])

    def test_several_rows_are_a_list(self):
        rows = decodesim.simulate(**{**TARGET, "context": [4096, 8192]})
        self.assertIsInstance(rows, list)
        self.assertEqual([r["context"] for r in rows], [4096, 8192])

    def test_census_rows(self):
        rows = decodesim.census(model=["step3", "deepseek-v3"], context="8k,32k")
        expected = cli_json("census", "--model", "step3,deepseek-v3", "--context", "8k,32k")["census"]
        self.assertEqual(rows, expected)
        self.assertEqual(len(rows), 4)
        self.assertEqual([(r["model"], r["context"]) for r in rows],
                         [("step3", 8192), ("step3", 32768), ("deepseek-v3", 8192), ("deepseek-v3", 32768)])
        self.assertIsInstance(rows[0]["context"], int)  # a column of whole numbers
        self.assertIsInstance(rows[0]["kv_bytes"], (int, float))
        # Every CSV column, in the CSV's order; the JSON's extra columns too (kv_bytes_per_token).
        csv_header = cli("census", "--format", "csv")[0].splitlines()[0].split(",")
        self.assertEqual([c for c in rows[0] if c in csv_header], csv_header)
        self.assertEqual(list(rows[0]), list(expected[0]))

    def test_cost_rows(self):
        rows = decodesim.cost(hardware="h800,h20")
        expected = cli_json("cost", "--hardware", "h800,h20")["cost"]
        self.assertEqual(rows, expected)
        self.assertEqual(len(rows), 3 * 2 * 2)  # default models x chips x contexts
        afd = decodesim.cost(afd=True)
        self.assertEqual(afd, cli_json("cost", "--afd")["afd"])
        self.assertEqual(afd[0]["attention_hardware"], "h20")
        # --units adds a side table; the function's result stays the cost table.
        self.assertEqual(decodesim.cost(hardware="h800,h20", units=True), rows)
        tables = decodesim.run("cost", hardware="h800,h20", units=True)
        self.assertEqual(list(tables), ["unit_cost", "cost"])

    def test_run_returns_every_table(self):
        tables = decodesim.run("simulate", **TARGET)
        self.assertEqual(list(tables), ["simulate", "simulate_stages"])
        summary = tables["simulate"]
        self.assertEqual(summary.units["tgs"], "tok/GPU/s")
        self.assertEqual(summary.units["tpot_ms"], "ms")
        self.assertEqual(summary.rows, [decodesim.simulate(**TARGET)])
        self.assertEqual(len(summary), 1)
        self.assertEqual(tables["simulate_stages"].rows, cli_json("simulate", *TARGET_ARGS)["simulate_stages"])
        self.assertTrue(any("timing" in n or "Calibrated" in n for n in summary.notes), summary.notes)

    def test_lists_and_numbers_become_the_clis_text(self):
        self.assertEqual(decodesim.census(model=["step3", "qwen3-32b"], context=[8192, 32768.0]),
                         decodesim.census(model="step3,qwen3-32b", context="8192,32768"))
        self.assertEqual(decodesim.census(model=("step3",), context=range(8192, 32769, 8192)),
                         decodesim.census(model="step3", context="8192,16384,24576,32768"))
        self.assertEqual(decodesim.sparsity(hardware="h800", nic_efficiency=0.8),
                         cli_json("sparsity", "--hardware", "h800", "--nic-efficiency", "0.8")["sparsity"])

    def test_plan_at_several_contexts(self):
        rows = decodesim.plan(model="step3", hardware="h800", context=[4096, 8192], timing="roofline", top=2)
        tables = cli_json("plan", "--model", "step3", "--hardware", "h800", "--context", "4096,8192", "--timing", "roofline",
                          "--top", "2")
        self.assertEqual([r["table"] for r in rows], ["plan_4096"] * 2 + ["plan_8192"] * 2)
        self.assertEqual([{k: v for k, v in r.items() if k != "table"} for r in rows],
                         tables["plan_4096"] + tables["plan_8192"])

    def test_out_writes_the_clis_files(self):
        with tempfile.TemporaryDirectory() as d:
            decodesim.census(out=d, format="csv")
            with open(os.path.join(d, "census.csv")) as f:
                self.assertEqual(f.read(), cli("census", "--format", "csv")[0])

    def test_dataframe(self):
        try:
            import pandas
        except ImportError:
            self.skipTest("pandas is not installed")
        expected = cli_json("cost")["cost"]
        df = pandas.DataFrame(decodesim.cost())
        self.assertEqual(df.shape, (len(expected), len(expected[0])))
        self.assertEqual(df.to_dict("records"), expected)
        self.assertEqual(str(df["total_usd_per_mtok"].dtype), "float64")
        self.assertEqual(str(df["context"].dtype), "int64")
        one = pandas.DataFrame([decodesim.simulate(**TARGET)])
        self.assertEqual(one.loc[0, "tgs"], decodesim.simulate(**TARGET)["tgs"])
        plans = pandas.DataFrame(decodesim.plan(model="step3", hardware="h800", timing="roofline", top=3))
        self.assertEqual(list(plans["rank"]), [1, 2, 3])


class Errors(unittest.TestCase):
    def test_input_error_is_a_value_error(self):
        self.assertTrue(issubclass(decodesim.InputError, ValueError))
        self.assertTrue(issubclass(decodesim.InputError, decodesim.Error))

    def test_bad_model_id(self):
        with self.assertRaises(decodesim.InputError) as e:
            decodesim.simulate(**{**TARGET, "model": "no-such-model"})
        self.assertEqual(str(e.exception), cli_error("simulate", *target_args(model="no-such-model")))
        self.assertIn("no-such-model", str(e.exception))

    def test_bad_option_values(self):
        for kwargs in [{"kv_dtype": "int4"}, {"batch": -1}, {"batch": "many"}, {"deployment": "2X2F"}]:
            with self.subTest(kwargs=kwargs):
                with self.assertRaises(decodesim.InputError) as e:
                    decodesim.simulate(**{**TARGET, **kwargs})
                self.assertEqual(str(e.exception), cli_error("simulate", *target_args(**kwargs)))

    def test_unknown_keyword(self):
        with self.assertRaises(TypeError) as e:
            decodesim.simulate(bacth=6144)
        self.assertIn("'bacth'", str(e.exception))
        self.assertIn("batch", str(e.exception))  # the options it has
        with self.assertRaises(TypeError):
            decodesim.cost(afd="yes")  # a flag takes True or False
        with self.assertRaises(TypeError):
            decodesim.simulate(batch=True)  # a value, not a flag
        with self.assertRaises(TypeError):
            decodesim.simulate(batch={"x": 1})
        with self.assertRaises(ValueError):
            decodesim.run("no-such-command")


class Data(unittest.TestCase):
    def test_ids_resolve_as_the_clis(self):
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "models"))
            with open(os.path.join(SOURCE_DIR, "models", "step3.json")) as f:
                doc = json.load(f)
            doc["id"] = "step3-copy"
            with open(os.path.join(d, "models", "step3-copy.json"), "w") as f:
                json.dump(doc, f)
            old = os.environ.get("DECODESIM_DATA")
            os.environ["DECODESIM_DATA"] = d
            try:
                self.assertIn("step3-copy", decodesim.list()["models"])
                rows = decodesim.census(model="step3-copy", context=8192)
            finally:
                if old is None:
                    del os.environ["DECODESIM_DATA"]
                else:
                    os.environ["DECODESIM_DATA"] = old
            base = decodesim.census(model="step3", context=8192)
            self.assertEqual({**rows[0], "model": "step3"}, base[0])
        with self.assertRaises(decodesim.InputError):
            decodesim.census(model="step3-copy")

    def test_paths_are_relative_to_the_working_directory(self):
        cwd = os.getcwd()
        try:
            os.chdir(SOURCE_DIR)
            self.assertEqual(decodesim.census(model="models/step3.json", context=8192),
                             decodesim.census(model="step3", context=8192))
        finally:
            os.chdir(cwd)


if __name__ == "__main__":
    unittest.main(verbosity=2)
