"""``research-lib strategy list/create/validate`` and ``backtest run-config``: output and exit
codes, the create -> validate -> run-config round trip, and a fast ``strategy list``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from research_lib.cli import cli

EXAMPLES = Path(__file__).parents[1] / "configs" / "examples"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_list_shows_names_parameters_defaults_and_bounds():
    result = invoke("strategy", "list")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for expected in ("sma_crossover", "(alias sma)", "mean_reversion", "momentum"):
        assert expected in text
    assert "│ rsi_period │ int │ 14 │ >= 1 │" in text
    assert "│ num_std_dev │ float │ 2.0 │ > 0 │" in text
    assert "│ overbought_threshold │ float │ 70.0 │ > 0, < 100 │" in text


def test_list_does_not_import_nautilus():
    code = (
        "import sys\n"
        "from research_lib.cli import cli\n"
        "cli.main(['strategy', 'list'], standalone_mode=False)\n"
        "print('NAUTILUS', [m for m in sys.modules if m.startswith('nautilus_trader')])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "NAUTILUS []" in out  # Nautilus alone takes about 1-2.5 s to import


def test_create_writes_a_template_and_refuses_to_overwrite(tmp_path):
    output = tmp_path / "my_momentum.yaml"
    result = invoke("strategy", "create", "--type", "momentum", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.output
    text = output.read_text()
    assert "strategy: momentum" in text and "rsi_period: 14" in text
    output.write_text("mine")
    result = invoke("strategy", "create", "--type", "momentum", "--output", str(output))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {output} exists; pass --force to overwrite it"
    assert output.read_text() == "mine"
    result = invoke("strategy", "create", "-t", "sma", "-o", str(output), "--force")
    assert result.exit_code == 0
    assert "strategy: sma_crossover" in output.read_text()


def test_create_prints_without_output_and_names_unknown_types():
    result = invoke("strategy", "create", "--type", "mean_reversion")
    assert result.exit_code == 0
    assert result.output.startswith("# mean_reversion: ")
    result = invoke("strategy", "create", "--type", "momentun")
    assert result.exit_code == 1
    assert "Error: unknown strategy 'momentun'; did you mean 'momentum'?" in result.stderr


def test_validate_examples_ok():
    files = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    result = invoke("strategy", "validate", *files)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{file}: OK" for file in files]


def test_validate_reports_every_problem_of_every_file_and_fails(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("strategy: sma\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: sma\nconfig:\n  fast_period: 10\n  slow_period: 5\n  trade_sise: 1\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    missing = tmp_path / "missing.yaml"
    result = invoke("strategy", "validate", str(good), str(bad), str(empty), str(missing))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{good}: OK"
    assert lines[1] == f"{bad}:4: config.slow_period: must be greater than fast_period (10), was 5"
    assert lines[2].startswith(f"{bad}:5: config.trade_sise: unknown parameter of SMAConfig;")
    assert lines[3].startswith(f"{empty}: file is empty")
    assert lines[4] == f"{missing}: no such file"
    assert result.stderr.strip() == "3 of 4 files invalid"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "strategy: [sma\n",
            ":2: YAML syntax error: expected ',' or ']', but got '<stream end>' (column 1), "
            "while parsing a flow sequence started on line 1",
        ),
        ("- 1\n", ":1: expected a mapping (key: value lines) at the top level, got a list"),
        ("strategy: sma\nconfig:\n  fast_period: ten\n", ":3: config.fast_period: expected int"),
        ("stratgy: sma\n", ":1: stratgy: unknown key; did you mean 'strategy'?"),
    ],
)
def test_validate_bad_files(tmp_path, text, expected):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    result = invoke("strategy", "validate", str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{path}{expected}")


@pytest.mark.parametrize("name", ["sma_crossover", "mean_reversion", "momentum"])
def test_round_trip_create_validate_run_config(tmp_path, name):
    config = tmp_path / f"{name}.yaml"
    results = tmp_path / "results" / "results.duckdb"
    assert invoke("strategy", "create", "--type", name, "-o", str(config)).exit_code == 0
    validated = invoke("strategy", "validate", str(config))
    assert validated.exit_code == 0 and validated.output == f"{config}: OK\n"
    ran = invoke(
        "--results", str(results),
        "backtest", "run-config", str(config),
        "--data", "mock", "--end", "2024-01-02", "--tag", "round-trip",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    for label in ("Period", "Bars", "Trades", "Final capital", "Total return", "Max drawdown"):
        assert label in ran.output
    assert "Sharpe" in ran.output

    from research_lib.store import ResultsStore

    runs = ResultsStore(results).list()
    assert list(runs["strategy"]) == [name]
    assert list(runs["source"]) == ["cli"]


def test_run_config_flags_override_the_file(tmp_path):
    results = tmp_path / "results.duckdb"
    ran = invoke(
        "--results", str(results),
        "backtest", "run-config", str(EXAMPLES / "sma_config.yaml"),
        "--data", "mock", "--symbol", "MSFT", "--start", "2024-01-03", "--end", "2024-01-03",
        "--starting-balance", "50000", "-p", "fast_period=5", "--param", "slow_period=30",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    assert "sma_crossover on MSFT" in ran.output
    assert "2024-01-03" in ran.output
    assert "50,000.00" in ran.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "fast_period"], "Error: --param expects key=value, got 'fast_period'"),
        (["-p", "fast_period=50"], "slow_period: must be greater than fast_period (50), was 20"),
        (["-p", "fast_perod=5"], "did you mean 'fast_period'?"),
    ],
)
def test_run_config_bad_overrides(tmp_path, args, message):
    ran = invoke(
        "--results", str(tmp_path / "r.duckdb"),
        "backtest", "run-config", str(EXAMPLES / "sma_config.yaml"), "--data", "mock",
        "--end", "2024-01-02", *args,
    )  # fmt: skip
    assert ran.exit_code == 1
    assert message in ran.stderr


def test_run_config_bad_file(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("strategy: sma\nconfig:\n  slow_period: 5\n")
    ran = invoke("backtest", "run-config", str(path), "--data", "mock")
    assert ran.exit_code == 1
    assert ran.stderr.strip() == (
        f"Error: {path}:3: config.slow_period: must be greater than fast_period (10), was 5"
    )
    ran = invoke("backtest", "run-config", str(tmp_path / "none.yaml"))
    assert ran.exit_code == 1
    assert ran.stderr.strip() == f"Error: {tmp_path / 'none.yaml'}: no such file"


# -- trust: validate does not run code from outside the installed packages and the project


USER_STRATEGY = """\
from pathlib import Path
Path({marker!r}).write_text("imported")
from research_lib.strategies.sma_crossover import SMACrossover as Mine, SMAConfig as MineConfig
"""


@pytest.fixture
def untrusted_module(tmp_path, monkeypatch):
    """A module outside the installed packages and the project, on sys.path, whose import
    leaves a marker file; and a config naming it."""
    name = f"mine_{tmp_path.name.replace('-', '_')}"
    marker = tmp_path / "imported.txt"
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / f"{name}.py").write_text(USER_STRATEGY.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(folder))
    config = tmp_path / "mine.yaml"
    config.write_text(
        f"strategy_path: {name}:Mine\nconfig_path: {name}:MineConfig\n"
        "config:\n  fast_period: 3\n  slow_period: 7\n"
        "backtest:\n  data: mock\n  start: 2024-01-02\n  end: 2024-01-02\n"
    )
    yield name, marker, config, folder
    sys.modules.pop(name, None)


def test_validate_reads_untrusted_code_without_importing_it(untrusted_module):
    name, marker, config, folder = untrusted_module
    result = invoke("strategy", "validate", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{config}: OK (not imported: module {name} ({folder / (name + '.py')}) is outside "
        "the installed packages and the project; --import checks it)\n"
    )
    assert not marker.exists()


def test_validate_of_untrusted_code_still_finds_missing_classes(untrusted_module, tmp_path):
    name, marker, _, _ = untrusted_module
    config = tmp_path / "typo.yaml"
    config.write_text(f"strategy_path: {name}:Mien\nconfig_path: {name}:MineConfig\n")
    result = invoke("strategy", "validate", str(config))
    assert result.exit_code == 1
    assert f"{config}:1: strategy_path: " in result.stdout and "defines no class Mien" in (
        result.stdout
    )
    assert not marker.exists()


def test_validate_import_and_run_config_import_what_the_user_runs(untrusted_module, tmp_path):
    name, marker, config, _ = untrusted_module
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("slow_period: 7", "slow_period: 2"))
    result = invoke("strategy", "validate", "--import", str(bad))
    assert result.exit_code == 1
    assert result.stdout == (
        f"{bad}:5: config.slow_period: must be greater than fast_period (3), was 2\n"
    )
    assert marker.read_text() == "imported"
    marker.unlink()
    sys.modules.pop(name, None)
    base = ["--results", str(tmp_path / "r.duckdb")]
    ran = CliRunner().invoke(cli, [*base, "backtest", "run-config", str(config)])
    assert ran.exit_code == 0, ran.output
    assert marker.exists()


def test_validate_imports_installed_and_project_code_as_before(tmp_path):
    config = tmp_path / "sma.yaml"
    config.write_text(
        "strategy_path: research_lib.strategies.sma_crossover:SMACrossover\n"
        "config_path: research_lib.strategies.sma_crossover:SMAConfig\n"
        "config:\n  fast_period: 5\n  slow_period: 4\n"
    )
    result = invoke("strategy", "validate", str(config))
    assert (
        result.stdout
        == f"{config}:5: config.slow_period: must be greater than fast_period (5), was 4\n"
    )
