"""Benchmarks 5 and 6: CLI start-up, and listing a results store of many runs.

The store is filled in one ``INSERT ... SELECT`` over DuckDB's ``range()`` into the ``runs``
table, after ``ResultsStore`` has created the schema (by saving and deleting one run). Only
``runs`` is filled: listing never reads the trades or equity tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from benchmarks.timing import console_script, repeat, run_command

STRATEGIES = ("sma_crossover", "mean_reversion", "momentum")


def bench_startup(repeats: int = 5) -> dict[str, Any]:
    """``research-lib --help`` and ``research-lib strategy list`` as subprocesses."""
    script = str(console_script("research-lib"))
    env = {"COLUMNS": "120"}
    out = {}
    for label, args in (("help", ["--help"]), ("strategy_list", ["strategy", "list"])):
        timing = run_command([script, *args], repeats, env=env)
        out[label] = {"command": f"research-lib {' '.join(args)}", **timing.to_json()}
    return out


def fill_results(path: Path, runs: int) -> Path:
    """A results store at ``path`` holding ``runs`` synthetic completed/failed runs."""
    from research_lib.model.run import RunRecord
    from research_lib.store import ResultsStore

    store = ResultsStore(path)
    seed = store.save_failure(RunRecord.failed("schema seed", strategy="sma_crossover"))
    store.delete([seed])
    with duckdb.connect(str(path)) as con:
        con.execute(_FILL_SQL, [runs])
    return path


_FILL_SQL = """
INSERT INTO runs (
    id, created_at, status, error, source, sweep_id, tags, strategy, strategy_path,
    config_path, config, config_hash, symbol, instrument_id, bar_type, start, "end", bar_count,
    currency, initial_capital, final_capital, total_return, trade_count, sharpe, sortino,
    max_drawdown, win_rate, profit_factor, cagr, stats, duration_seconds, data_source,
    data_fingerprint, settings, research_lib_version, nautilus_trader_version, versions,
    warnings, equity_length
)
SELECT
    uuid()::VARCHAR,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 60),
    CASE WHEN i % 25 = 0 THEN 'failed' ELSE 'completed' END,
    CASE WHEN i % 25 = 0 THEN 'DataRangeError: no bars' END,
    CASE WHEN i % 3 = 0 THEN 'sweep' ELSE 'python' END,
    CASE WHEN i % 3 = 0 THEN 'sweep-' || (i // 16)::VARCHAR END,
    CASE WHEN i % 7 = 0 THEN ['nightly'] ELSE []::VARCHAR[] END,
    s.name,
    'research_lib.strategies.' || s.name || ':Strategy',
    'research_lib.strategies.' || s.name || ':Config',
    ('{"fast_period":' || (i % 20 + 1)::VARCHAR || ',"slow_period":' || (i % 40 + 21)::VARCHAR
        || ',"trade_size":100}')::JSON,
    md5(i::VARCHAR),
    'AAPL', 'AAPL.NASDAQ', 'AAPL.NASDAQ-1-MINUTE-LAST-EXTERNAL',
    TIMESTAMPTZ '2024-01-02 14:30:00+00', TIMESTAMPTZ '2024-01-31 20:59:00+00', 8190,
    'USD', 100000.0, 100000.0 + h % 10000 - 5000, (h % 10000 - 5000) / 1e5,
    h % 500, (h % 400 - 200) / 100.0, (h % 401 - 200) / 100.0, -(h % 300) / 1000.0,
    h % 1000 / 1000.0, h % 301 / 100.0, (h % 403 - 200) / 1000.0,
    '{}'::JSON, 1.0 + (i % 50) / 10.0, 'mock', md5((i % 100)::VARCHAR),
    '{"data":"mock","seed":42}'::JSON, '0.1.0', '1.231.0',
    '{"nautilus_trader":"1.231.0"}'::JSON, '[]'::JSON, 0
FROM (SELECT i, (hash(i) % 1000003)::BIGINT AS h FROM range(?) AS r(i))
JOIN (VALUES (0, 'sma_crossover'), (1, 'mean_reversion'), (2, 'momentum')) AS s(k, name)
    ON s.k = i % 3
"""


def bench_list(runs: int, workdir: Path, repeats: int = 5) -> dict[str, Any]:
    """``ResultsStore(path).list(limit=20)`` and ``research-lib backtest list-results``."""
    from research_lib.store import ResultsStore

    path = workdir / f"results_{runs}.duckdb"
    if not path.exists():
        fill_results(path, runs)
    shown = {}

    def library() -> None:
        shown["rows"] = len(ResultsStore(path).list(limit=20))

    library()  # warm the OS file cache
    lib = repeat(library, repeats)
    script = str(console_script("research-lib"))
    cli = run_command(
        [script, "--results", str(path), "backtest", "list-results"], repeats, {"COLUMNS": "160"}
    )
    with duckdb.connect(str(path), read_only=True) as con:
        stored = con.sql("SELECT count(*) FROM runs").fetchall()[0][0]
    return {
        "runs": stored,
        "rows_listed": shown["rows"],
        "store_mb": path.stat().st_size / 2**20,
        "library": lib.to_json(),
        "cli": cli.to_json(),
    }
