"""``data delete`` and ``data resample``: what they change, what they refuse, and what a crash
in the middle of a delete leaves (a real ``kill -9`` in a child process)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from factories import file_digests as tree_digest

from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.data.commit import KILL_ENV, commit_steps
from research_lib.data.maintenance import TRASH_DIR, delete_bars, plan_delete, resample
from research_lib.data.verify import verify_catalog
from research_lib.errors import CatalogError, UnknownSymbolError

GOOD = Path(__file__).resolve().parent / "data" / "good"
DAILY = GOOD / "daily_dates.csv"


def write_minutes(path: Path, seed: int = 7) -> pd.DataFrame:
    """1-minute bars over two sessions with gaps (missing minutes, a half-empty bucket)."""
    rng = np.random.default_rng(seed)
    times = [
        *pd.date_range("2024-01-02 14:30", "2024-01-02 16:02", freq="1min", tz="UTC"),
        *pd.date_range("2024-01-03 14:30", "2024-01-03 15:10", freq="1min", tz="UTC"),
    ]
    times = [t for i, t in enumerate(times) if i % 11 not in (3, 4)]  # holes in the grid
    opens = np.round(100 + np.cumsum(rng.normal(0, 0.2, len(times))), 2)
    closes = np.round(opens + rng.normal(0, 0.1, len(times)), 2)
    highs = np.round(np.maximum(opens, closes) + rng.uniform(0, 0.2, len(times)), 2)
    lows = np.round(np.minimum(opens, closes) - rng.uniform(0, 0.2, len(times)), 2)
    frame = pd.DataFrame(
        {
            "timestamp": [t.isoformat() for t in times],
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": rng.integers(100, 5000, len(times)),
        }
    )
    frame.to_csv(path, index=False)
    return frame


@pytest.fixture
def root(tmp_path) -> Path:
    """A catalog with AAPL 1-MINUTE-LAST and 1-DAY-LAST bars and MSFT 1-MINUTE-LAST bars."""
    minutes = tmp_path / "minutes.csv"
    write_minutes(minutes)
    catalog = Catalog(tmp_path / "cat")
    catalog.import_csv(minutes, "AAPL")
    catalog.import_csv(DAILY, "AAPL")
    catalog.import_csv(minutes, "MSFT")
    return catalog.root


@pytest.fixture
def invoke(root):
    def run(*args: str):
        return CliRunner().invoke(cli, ["--catalog", str(root), *args], catch_exceptions=False)

    return run


def assert_one_line_error(result, *parts: str) -> None:
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


# -- delete --------------------------------------------------------------------------------


def test_delete_without_yes_shows_the_plan_and_changes_nothing(invoke, root):
    before = tree_digest(root)
    result = invoke("data", "delete", "AAPL")
    assert_one_line_error(result, "nothing deleted: pass --yes to delete")
    assert result.stdout.splitlines() == [
        "would delete AAPL 1-DAY-LAST: 10 rows, 2024-01-02 00:00 .. 2024-01-15 00:00 UTC",
        "would delete AAPL 1-MINUTE-LAST: 110 rows, 2024-01-02 14:30 .. 2024-01-03 15:10 UTC",
        "would delete AAPL's instrument row",
    ]
    one = invoke("data", "delete", "AAPL", "--bar-spec", "1-DAY-LAST")
    assert one.exit_code == 1
    assert one.stdout.splitlines() == [
        "would delete AAPL 1-DAY-LAST: 10 rows, 2024-01-02 00:00 .. 2024-01-15 00:00 UTC"
    ]
    assert tree_digest(root) == before


def test_delete_one_spec_keeps_the_other_and_the_instrument(invoke, root):
    catalog = Catalog(root)
    minutes = catalog.fingerprint("AAPL", bar_spec="1-MINUTE-LAST")
    msft = catalog.fingerprint("MSFT")
    result = invoke("data", "delete", "AAPL", "--bar-spec", "1-DAY-LAST", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("deleted AAPL 1-DAY-LAST: 10 rows")
    assert catalog.bar_specs("AAPL") == ["1-MINUTE-LAST"]
    assert catalog.fingerprint("AAPL") == minutes  # the only spec left: no bar_spec needed
    assert catalog.fingerprint("MSFT") == msft
    assert catalog.instrument("AAPL").venue == "NASDAQ"
    assert not (root / TRASH_DIR).exists()
    with pytest.raises(CatalogError, match="no 1-DAY-LAST bars for AAPL"):
        catalog.bars("AAPL", bar_spec="1-DAY-LAST")


def test_delete_all_removes_bars_and_instrument_and_allows_reimport(invoke, root, tmp_path):
    catalog = Catalog(root)
    msft = catalog.fingerprint("MSFT")
    report = delete_bars(catalog, "AAPL")
    assert report.done and report.instrument
    assert [(p.bar_spec, p.rows) for p in report.partitions] == [
        ("1-DAY-LAST", 10),
        ("1-MINUTE-LAST", 110),
    ]
    assert catalog.symbols()["symbol"].tolist() == ["MSFT"]
    assert catalog.sql("SELECT count(*) AS n FROM bars WHERE symbol = 'AAPL'")["n"][0] == 0
    with pytest.raises(UnknownSymbolError, match="the catalog has: MSFT"):
        catalog.instrument("AAPL")
    assert not (root / "bars" / "symbol=AAPL").exists()
    assert not (root / TRASH_DIR).exists()
    assert catalog.fingerprint("MSFT") == msft
    # a deleted symbol is gone for good: a new import may use another venue
    catalog.import_csv(DAILY, "AAPL", venue="NYSE")
    assert catalog.bar_specs("AAPL") == ["1-DAY-LAST"]
    assert catalog.instrument("AAPL").venue == "NYSE"


def test_delete_the_last_symbol_leaves_an_empty_catalog(root):
    catalog = Catalog(root)
    delete_bars(catalog, "AAPL")
    delete_bars(catalog, "MSFT")
    assert catalog.symbols().empty
    with pytest.raises(UnknownSymbolError, match="is empty"):
        plan_delete(catalog, "MSFT")


def test_delete_and_resample_a_pair_symbol(root, tmp_path):
    catalog = Catalog(root)
    minutes = tmp_path / "fx.csv"
    write_minutes(minutes)
    catalog.import_csv(minutes, "EUR/USD")
    assert resample(catalog, "EUR/USD", "1-HOUR").rows_out == 5  # 14..16h, 14..15h
    report = delete_bars(catalog, "EUR/USD", "1-MINUTE-LAST")
    assert [p.rows for p in report.partitions] == [110]
    assert catalog.bar_specs("EUR/USD") == ["1-HOUR-LAST"]
    delete_bars(catalog, "EUR/USD")
    assert sorted(set(catalog.symbols()["symbol"])) == ["AAPL", "MSFT"]
    assert not (root / "bars" / "symbol=EUR%2FUSD").exists()


def test_unknown_symbol_and_spec_are_one_line_listing_what_exists(invoke, root):
    before = tree_digest(root)
    assert_one_line_error(
        invoke("data", "delete", "AAPLE", "--yes"),
        "unknown symbol 'AAPLE'; did you mean 'AAPL'? the catalog has: AAPL, MSFT",
    )
    assert_one_line_error(
        invoke("data", "delete", "AAPL", "--bar-spec", "1-MINUTE-LAT", "--yes"),
        "no 1-MINUTE-LAT bars for AAPL; did you mean '1-MINUTE-LAST'? "
        "the catalog has: 1-DAY-LAST, 1-MINUTE-LAST",
    )
    assert_one_line_error(
        invoke("data", "delete", "MSFT", "--bar-spec", "5-MINUTE-LAST"),
        "no 5-MINUTE-LAST bars for MSFT;",
        "the catalog has: 1-MINUTE-LAST",
    )
    assert tree_digest(root) == before


def test_a_failed_instrument_write_changes_nothing(root, monkeypatch):
    from research_lib.data import partitions

    def broken(*args, **kwargs):
        raise OSError("disk full")

    before = tree_digest(root)
    monkeypatch.setattr(partitions, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        delete_bars(Catalog(root), "AAPL")
    assert tree_digest(root) == before
    assert Catalog(root).bar_specs("AAPL") == ["1-DAY-LAST", "1-MINUTE-LAST"]


# -- a real kill at every step of a delete -------------------------------------------------

CRASH = """
import sys
from research_lib.data import maintenance
from research_lib.data.catalog import Catalog

root, bar_spec = sys.argv[1:]
maintenance.delete_bars(Catalog(root), "AAPL", bar_spec or None)
"""


def killed_delete(root: Path, step: str, bar_spec: str = "") -> None:
    """Run delete_bars in a child that SIGKILLs itself at the commit step ``step``."""
    args = [sys.executable, "-c", CRASH, str(root), bar_spec]
    env = {**os.environ, KILL_ENV: step}
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == -signal.SIGKILL, done.stderr


posix_only = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")


def deleted_copy(root: Path, tmp_path: Path, bar_spec: str | None) -> dict[str, str]:
    """The tree of ``root`` after the delete, made in a copy."""
    copy = tmp_path / "after"
    shutil.copytree(root, copy)
    delete_bars(Catalog(copy), "AAPL", bar_spec)
    return tree_digest(copy)


@posix_only
@pytest.mark.parametrize(
    ("bar_spec", "step"),
    [(None, s) for s in commit_steps(writes=1, removals=1)]
    + [("1-DAY-LAST", s) for s in commit_steps(writes=0, removals=1)],
)
def test_a_kill_at_any_step_leaves_the_catalog_before_or_after(root, tmp_path, bar_spec, step):
    before, after = tree_digest(root), deleted_copy(root, tmp_path, bar_spec)
    killed_delete(root, step, bar_spec or "")
    catalog = Catalog(root)
    listed = catalog.symbols()  # a read finishes or discards the interrupted delete
    state = tree_digest(root)
    assert state in (before, after)
    if step in ("locked", *(f"staged-{i}" for i in (1, 2))):
        assert state == before
    if step in ("journal", "removed-1", "moved-1", "done"):
        assert state == after
    assert not (root / ".tmp").exists() and not (root / TRASH_DIR).exists()
    gone = bar_spec or "1-MINUTE-LAST"
    aapl = listed[listed["symbol"] == "AAPL"]["bar_spec"].tolist()
    assert (gone in aapl) == (state == before)
    if state == after and bar_spec is None:
        with pytest.raises(UnknownSymbolError):
            catalog.instrument("AAPL")
    assert verify_catalog(root).ok


# -- resample ------------------------------------------------------------------------------


def reference(bars: pd.DataFrame, freq: str) -> pd.DataFrame:
    """pandas' resample with the documented rules: epoch-aligned, labelled by bar open."""
    out = (
        bars.set_index("timestamp")
        .resample(freq, origin="epoch", label="left", closed="left")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna(subset=["open"])  # buckets without bars are not bars
        .reset_index()
    )
    out["timestamp"] = out["timestamp"].dt.as_unit("ns")
    return out


@pytest.mark.parametrize(
    ("to", "freq", "spec"),
    [
        ("5-MINUTE", "5min", "5-MINUTE-LAST"),
        ("7-MINUTE-LAST", "7min", "7-MINUTE-LAST"),  # not a divisor of a day: epoch-aligned
        ("1-HOUR", "1h", "1-HOUR-LAST"),
        ("1-DAY", "24h", "1-DAY-LAST"),  # fixed 24 h from the epoch: UTC days
    ],
)
def test_resample_matches_pandas(root, to, freq, spec):
    catalog = Catalog(root)
    if spec == "1-DAY-LAST":
        delete_bars(catalog, "AAPL", "1-DAY-LAST")  # resampling replaces it below anyway
    minutes = catalog.bars("AAPL", bar_spec="1-MINUTE-LAST")
    report = resample(catalog, "AAPL", to)
    got = catalog.bars("AAPL", bar_spec=spec)
    want = reference(minutes, freq)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert (report.source, report.bar_spec) == ("1-MINUTE-LAST", spec)
    assert (report.rows_in, report.rows_out) == (len(minutes), len(want))


def test_resample_cli_stores_a_new_spec_and_a_rerun_replaces_it(invoke, root, tmp_path):
    catalog = Catalog(root)
    result = invoke("data", "resample", "AAPL", "--to", "5-MINUTE", "--from", "1-MINUTE-LAST")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("AAPL 1-MINUTE-LAST -> 5-MINUTE-LAST: 110 bars in, 28 out,")
    assert catalog.bar_specs("AAPL") == ["1-DAY-LAST", "1-MINUTE-LAST", "5-MINUTE-LAST"]
    listed = catalog.symbols().query("symbol == 'AAPL'")
    assert listed.set_index("bar_spec").loc["5-MINUTE-LAST", "rows"] == 28

    changed = tmp_path / "changed.csv"
    write_minutes(changed, seed=8)
    catalog.import_csv(changed, "AAPL", bar_spec="1-MINUTE-LAST")
    again = invoke("data", "resample", "AAPL", "--to", "5-MINUTE")
    assert again.exit_code == 0, again.output
    assert "28 out, replaced 28 stored" in again.stdout
    want = reference(catalog.bars("AAPL", bar_spec="1-MINUTE-LAST"), "5min")
    pd.testing.assert_frame_equal(catalog.bars("AAPL", bar_spec="5-MINUTE-LAST"), want)
    assert len(catalog.bars("MSFT")) == 110  # other symbols untouched


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--to", "7-MINUTE", "--from", "5-MINUTE-LAST"],
            "cannot resample 5-MINUTE-LAST to 7-MINUTE-LAST: 7-MINUTE is not a whole multiple "
            "of 5-MINUTE",
        ),
        (
            ["--to", "1-MINUTE", "--from", "5-MINUTE-LAST"],
            "cannot resample 5-MINUTE-LAST to 1-MINUTE-LAST: the target interval must be larger",
        ),
        (
            ["--to", "5-MINUTE", "--from", "5-MINUTE-LAST"],
            "cannot resample 5-MINUTE-LAST to 5-MINUTE-LAST: the target interval must be larger",
        ),
        (
            ["--to", "1-DAY", "--from", "1-MINUTE-LST"],
            "no 1-MINUTE-LST bars for AAPL; did you mean '1-MINUTE-LAST'? the catalog has: "
            "1-DAY-LAST, 1-MINUTE-LAST, 5-MINUTE-LAST",
        ),
        (
            ["--to", "1-MINUTE"],
            "none of AAPL's bar specs can be resampled to 1-MINUTE: it has 1-DAY-LAST, "
            "1-MINUTE-LAST, 5-MINUTE-LAST",
        ),
        (
            ["--to", "1-HOUR-BID", "--from", "1-MINUTE-LAST"],
            "cannot resample 1-MINUTE-LAST to 1-HOUR-BID: LAST bars make LAST bars, not BID",
        ),
        (["--to", "5-MINUTES"], "invalid target '5-MINUTES'"),
    ],
)
def test_resample_errors_are_one_line_and_change_nothing(invoke, root, args, message):
    resample(Catalog(root), "AAPL", "5-MINUTE")
    before = tree_digest(root)
    assert_one_line_error(invoke("data", "resample", "AAPL", *args), message)
    assert tree_digest(root) == before


def test_resample_unknown_symbol(invoke):
    assert_one_line_error(
        invoke("data", "resample", "AAPLE", "--to", "5-MINUTE"),
        "unknown symbol 'AAPLE'; did you mean 'AAPL'?",
    )
