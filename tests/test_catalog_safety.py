"""The catalog under crashes, concurrency and damage: ``kill -9`` at every step of an import,
six imports at once, a held lock, truncated and stray files, ``data verify``."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from factories import file_digests as tree

from research_lib.cli import cli
from research_lib.data.catalog import Catalog
from research_lib.data.commit import KILL_ENV, LOCK_FILE, TIMEOUT_ENV, commit_steps
from research_lib.data.partitions import instruments_table
from research_lib.data.synthetic import generate_bars, write_csv
from research_lib.data.verify import QUARANTINE_DIR, verify_catalog

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL and flock")

PARTITION = Path("bars/symbol=AAPL/bar_spec=1-MINUTE-LAST/data.parquet")
IMPORT = """
import sys
from research_lib.data.catalog import Catalog
root, path, symbol = sys.argv[1:]
Catalog(root).import_csv(path, symbol)
"""


def run(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--catalog", str(root), *args])


def import_in_child(root: Path, path: Path, symbol: str, env: dict[str, str] | None = None):
    args = [sys.executable, "-c", IMPORT, str(root), str(path), symbol]
    return subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.fixture
def root(tmp_path) -> Path:
    """A catalog holding AAPL minute bars (prices with 2 decimals) for 2024-01-02..05."""
    write_csv(generate_bars("2024-01-02", "2024-01-05"), tmp_path / "aapl.csv")
    catalog = Catalog(tmp_path / "cat")
    catalog.import_csv(tmp_path / "aapl.csv", "AAPL")
    return catalog.root


@pytest.fixture
def more_aapl(tmp_path) -> Path:
    """Later AAPL bars with one 3-decimal price: the partition and the instruments file
    both change (the stored price precision grows)."""
    bars = generate_bars("2024-01-08", "2024-01-09", seed=5)
    bars.loc[0, "close"] = bars.loc[0, "low"] + 0.001
    write_csv(bars, tmp_path / "more.csv")
    return tmp_path / "more.csv"


# -- kill -9 at every step -----------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["AAPL", "MSFT"])  # replace both files / add a partition
@pytest.mark.parametrize("step", commit_steps(writes=2))
def test_a_kill_at_any_step_leaves_the_catalog_before_or_after(
    root, tmp_path, more_aapl, symbol, step
):
    before = tree(root)
    copy = tmp_path / "after"
    shutil.copytree(root, copy)
    Catalog(copy).import_csv(more_aapl, symbol)
    after = tree(copy)
    assert after != before

    child = import_in_child(root, more_aapl, symbol, {KILL_ENV: step})
    _, err = child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL, err.decode()

    listed = run(root, "data", "list")  # the next command finishes or discards the change
    assert listed.exit_code == 0, listed.output
    state = tree(root)
    assert state == (before if step in ("locked", "staged-1", "staged-2") else after)
    assert not (root / ".tmp").exists()
    verified = run(root, "data", "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.splitlines()[-1].endswith(": ok")
    stored = {s: spec.price_precision for s, spec in Catalog(root)._instruments().items()}
    if state == before:
        assert stored == {"AAPL": 2}
    else:
        assert stored == ({"AAPL": 3} if symbol == "AAPL" else {"AAPL": 2, "MSFT": 3})


# -- concurrency ---------------------------------------------------------------------------


def test_six_concurrent_imports_of_different_symbols_all_land(root, tmp_path):
    symbols = ["S1", "S2", "S3", "S4", "S5", "S6"]
    paths = []
    for i, symbol in enumerate(symbols):
        paths.append(tmp_path / f"{symbol}.csv")
        write_csv(generate_bars("2024-01-02", "2024-01-03", seed=i), paths[-1])
    children = [import_in_child(root, p, s) for p, s in zip(paths, symbols, strict=True)]
    for child in children:
        _, err = child.communicate(timeout=180)
        assert child.returncode == 0, err.decode()
    catalog = Catalog(root)
    rows = pq.read_table(root / "instruments.parquet").column("symbol").to_pylist()
    assert rows == ["AAPL", *symbols]
    listed = catalog.symbols()
    assert listed["symbol"].tolist() == ["AAPL", *symbols]
    assert listed["venue"].tolist() == ["NASDAQ"] * 7
    assert verify_catalog(root).ok


@pytest.fixture
def held_lock(root, monkeypatch):
    """Another process's exclusive lock on the catalog (an open file description of ours
    that the library does not know about), and a short wait."""
    monkeypatch.setenv(TIMEOUT_ENV, "0.2")
    fd = os.open(root / LOCK_FILE, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
    os.close(fd)


@pytest.mark.parametrize(
    "args",
    [
        ["data", "import-csv", "--file", "NEW", "--symbol", "MSFT"],
        ["data", "delete", "AAPL", "--yes"],
        ["data", "resample", "AAPL", "--to", "5-MINUTE"],
        ["data", "instrument", "AAPL", "--size-precision", "2"],
        ["data", "list"],
    ],
)
def test_every_writer_waits_for_the_lock_then_says_the_catalog_is_busy(
    root, tmp_path, held_lock, args
):
    write_csv(generate_bars("2024-01-02", "2024-01-03"), tmp_path / "new.csv")
    args = [str(tmp_path / "new.csv") if a == "NEW" else a for a in args]
    before = tree(root)
    result = run(root, *args)
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"the catalog at {root} is busy" in result.stderr
    assert TIMEOUT_ENV in result.stderr
    assert tree(root) == before


# -- damage --------------------------------------------------------------------------------


def truncate(path: Path, size: int = 1000) -> None:
    with path.open("r+b") as f:
        f.truncate(size)


@pytest.mark.parametrize(
    "args", [["data", "list"], ["data", "show", "AAPL"], ["data", "import-csv", "--file", "NEW"]]
)
def test_reading_a_truncated_partition_names_it_and_suggests_verify(root, tmp_path, args):
    truncate(root / PARTITION)
    write_csv(generate_bars("2024-01-08", "2024-01-09"), tmp_path / "new.csv")
    args = [str(tmp_path / "new.csv") if a == "NEW" else a for a in args]
    if args[1] == "import-csv":
        args += ["--symbol", "AAPL"]
    before = tree(root)
    result = run(root, *args)
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert str(root / PARTITION) in line
    assert "cannot read this catalog file" in line and "research-lib data verify" in line
    assert tree(root) == before


def test_verify_finds_a_truncated_partition_and_repair_quarantines_it(root, tmp_path):
    write_csv(generate_bars("2024-01-02", "2024-01-03", seed=2), tmp_path / "msft.csv")
    Catalog(root).import_csv(tmp_path / "msft.csv", "MSFT")
    truncate(root / PARTITION)
    damaged = (root / PARTITION).read_bytes()

    found = run(root, "data", "verify")
    assert found.exit_code == 1
    assert f"damaged: {PARTITION.as_posix()}: not a readable Parquet file" in found.stdout
    assert "--repair quarantines them" in found.stdout

    repaired = run(root, "data", "verify", "--repair")
    assert repaired.exit_code == 0, repaired.output
    (moved,) = list((root / QUARANTINE_DIR).rglob("data.parquet"))
    assert moved.read_bytes() == damaged
    assert moved.relative_to(root).as_posix() in repaired.stdout
    assert not (root / PARTITION).exists()
    listed = run(root, "data", "list")
    assert listed.exit_code == 0 and "MSFT" in listed.stdout
    assert run(root, "data", "verify").exit_code == 0


def test_verify_reports_stray_files_and_bars_without_an_instrument_row(root, tmp_path):
    stray = root / PARTITION.parent / "data.parquet.tmp"
    stray.write_bytes(b"half a file")
    write_csv(generate_bars("2024-01-02", "2024-01-03", seed=2), tmp_path / "msft.csv")
    catalog = Catalog(root)
    catalog.import_csv(tmp_path / "msft.csv", "MSFT")
    only_aapl = {"AAPL": catalog.instrument("AAPL")}  # a torn catalog of an older version
    pq.write_table(instruments_table(only_aapl), root / "instruments.parquet")

    listed = run(root, "data", "list")
    assert listed.exit_code == 0, listed.output
    assert "no instrument row for MSFT: run research-lib data verify" in listed.stdout
    report = verify_catalog(root)
    assert sorted(reason for _, reason in report.problems) == [
        "no instrument row for MSFT in instruments.parquet",
        "not a catalog file (a leftover of another program?)",
    ]
    repaired = verify_catalog(root, repair=True)
    assert [path for path, _ in repaired.quarantined] == [str(stray.relative_to(root))]
    assert not repaired.ok  # sound bars without an instrument row are kept, not quarantined
    assert "  kept: give it an instrument with research-lib data instrument" in "\n".join(
        repaired.lines()
    )
    assert [reason for _, reason in verify_catalog(root).problems] == [
        "no instrument row for MSFT in instruments.parquet"
    ]
    assert sorted(catalog.symbols()["symbol"]) == ["AAPL", "MSFT"]


def test_leftovers_of_an_interrupted_import_are_removed_by_the_next_command(root):
    before = tree(root)
    (root / ".tmp").mkdir()
    (root / ".tmp" / "0123abcd.parquet").write_bytes(b"staged, never committed")
    (root / ".trash").mkdir()
    (root / ".trash" / "x-symbol=OLD").mkdir()
    assert run(root, "data", "list").exit_code == 0
    assert tree(root) == before
    assert not (root / ".tmp").exists() and not (root / ".trash").exists()


def test_verify_says_it_finished_an_interrupted_import(root, more_aapl):
    child = import_in_child(root, more_aapl, "MSFT", {KILL_ENV: "moved-1"})
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    result = run(root, "data", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == ("finished an interrupted change (2 files, 0 removals)")
    assert Catalog(root).instrument("MSFT").price_precision == 3


def test_a_damaged_instruments_file_is_named(root):
    (root / "instruments.parquet").write_bytes(b"PAR1 not really")
    result = run(root, "data", "instrument", "AAPL")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert f"{root / 'instruments.parquet'}: cannot read this catalog file" in line
    assert verify_catalog(root).problems[0][0] == "instruments.parquet"


def test_readers_share_the_lock_and_writers_wait_for_them(root, tmp_path, monkeypatch):
    monkeypatch.setenv(TIMEOUT_ENV, "0.2")
    write_csv(generate_bars("2024-01-08", "2024-01-09"), tmp_path / "new.csv")
    fd = os.open(root / LOCK_FILE, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # another process reading
    try:
        assert run(root, "data", "list").exit_code == 0
        before = tree(root)
        result = run(
            root, "data", "import-csv", "--file", str(tmp_path / "new.csv"), "--symbol", "AAPL"
        )
        assert result.exit_code == 1 and "is busy" in result.stderr
        assert tree(root) == before
    finally:
        os.close(fd)
    result = run(
        root, "data", "import-csv", "--file", str(tmp_path / "new.csv"), "--symbol", "AAPL"
    )
    assert result.exit_code == 0, result.output


def test_an_unreadable_journal_is_moved_aside_not_a_dead_end(root):
    before = tree(root)
    (root / ".tmp").mkdir()
    (root / ".tmp" / "journal.json").write_text("{not json")
    result = run(root, "data", "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("moved an unreadable commit journal to quarantine/")
    kept = list((root / QUARANTINE_DIR).glob("*-tmp/journal.json"))
    assert len(kept) == 1 and kept[0].read_text() == "{not json"
    assert {k: v for k, v in tree(root).items() if not k.startswith(QUARANTINE_DIR)} == before
