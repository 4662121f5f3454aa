"""A study's figures and its HTML report, drawn from real small studies on mock bars: the
figures hold the folds' windows, the stitched out-of-sample curve, the in- and out-of-sample
metrics and the chosen parameters; the page holds the readings and the folds, and needs no
network."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from research_lib.cli import cli
from research_lib.ui.plots import fold_timeline, is_vs_oos, oos_equity, parameter_stability
from research_lib.ui.study_report import scheme_text, study_report_html, write_study_report
from research_lib.workflows.study import StudyResult, run_study

GRID = {"fast_period": [5, 10], "slow_period": [20, 30]}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return tmp_path_factory.mktemp("study") / "results.duckdb"


@pytest.fixture(scope="module")
def walk(store) -> StudyResult:
    """Four weekly folds of one-minute mock bars, 2 x 2 points."""
    return run_study("sma_crossover", GRID, walk_forward="train=1W,test=1W", data="mock",
                     start="2024-01-02", end="2024-01-31", results=store, progress=False,
                     workers=1)  # fmt: skip


@pytest.fixture(scope="module")
def split(store) -> StudyResult:
    """One train/test split: a study of one fold."""
    return run_study("sma_crossover", GRID, train="2024-01-02:2024-01-12",
                     test="2024-01-15:2024-01-19", data="mock", results=store,
                     progress=False, workers=1)  # fmt: skip


def naive(texts) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(texts), utc=True)).tz_localize(None)


def by_name(fig, name: str):
    [trace] = [t for t in fig.data if t.name == name]
    return trace


def test_the_study_has_several_folds(walk):
    assert walk.status == "completed" and len(walk.folds) == 4
    assert len(walk.readings) == 4 and not walk.oos_equity.empty


@pytest.mark.parametrize("part", ["train", "test"])
def test_timeline_bars_are_the_folds_windows(walk, part):
    fig = fold_timeline(walk)
    bars = by_name(fig, part)
    assert bars.orientation == "h" and fig.layout.xaxis.type == "date"
    assert list(bars.y) == [
        f"fold {f['number']}" + (" (partial)" if f["partial"] else "") for f in walk.folds
    ]
    starts = pd.DatetimeIndex(pd.to_datetime(list(bars.base)))
    assert list(starts) == list(naive(f[f"{part}_start"] for f in walk.folds))
    ends = starts + pd.to_timedelta(np.asarray(bars.x, dtype=float), unit="ms")
    want = naive(f[f"{part}_end"] for f in walk.folds)
    assert (abs(ends - want) < pd.Timedelta(milliseconds=1)).all()
    bars_text = [row[2] for row in bars.customdata]
    assert bars_text == [f"{f[f'{part}_bars']:,}" for f in walk.folds]
    chosen = [row[3] for row in bars.customdata]
    assert chosen == [f"fast={f['chosen']['fast_period']}, slow={f['chosen']['slow_period']}"
                      for f in walk.folds]  # fmt: skip


def test_timeline_marks_a_partial_fold():
    folds = [
        {"number": 1, "train_start": "2024-01-02", "train_end": "2024-01-05", "train_bars": 10,
         "test_start": "2024-01-08", "test_end": "2024-01-09", "test_bars": 5, "partial": False},
        {"number": 2, "train_start": "2024-01-04", "train_end": "2024-01-08", "train_bars": 10,
         "test_start": "2024-01-10", "test_end": "2024-01-10", "test_bars": 2, "partial": True},
    ]  # fmt: skip
    result = StudyResult("s", "completed", {}, folds, {}, pd.Series(dtype=float))
    fig = fold_timeline(result)
    assert list(by_name(fig, "test").y) == ["fold 1", "fold 2 (partial)"]
    assert list(by_name(fig, "test").marker.pattern.shape) == ["", "/"]
    assert "1 partial" in fig.layout.title.text
    folds[0].update(is_value=1.5, oos_metrics={"sharpe": 0.5})
    folds[1].update(is_value=2.0, oos_metrics={"sharpe": float("nan")})  # a day: no Sharpe
    points = by_name(is_vs_oos(result), "fold")
    assert (list(points.x), list(points.y), list(points.text)) == ([1.5], [0.5], ["fold 1"])


def test_oos_figure_is_the_stitched_curve_with_the_test_windows(walk):
    fig = oos_equity(walk)
    [line] = fig.data
    assert np.array_equal(np.asarray(line.y, dtype=float), walk.oos_equity.to_numpy())
    assert list(pd.DatetimeIndex(pd.to_datetime(list(line.x)))) == list(
        walk.oos_equity.index.tz_localize(None)
    )
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [pd.Timestamp(s.x0) for s in rects] == list(naive(f["test_start"] for f in walk.folds))
    assert [a.text for a in fig.layout.annotations] == [f"fold {f['number']}" for f in walk.folds]
    assert fig.layout.xaxis.rangebreaks  # nights and weekends without bars cut out
    assert "4 test windows stitched" in fig.layout.title.text


def test_scatter_points_are_the_folds_in_and_out_of_sample_metric(walk):
    fig = is_vs_oos(walk)
    points = by_name(fig, "fold")
    assert list(points.x) == [f["is_value"] for f in walk.folds]
    assert list(points.y) == [f["oos_metrics"]["sharpe"] for f in walk.folds]
    assert list(points.text) == [f"fold {f['number']}" for f in walk.folds]
    diagonal = by_name(fig, "y = x (no degradation)")
    assert list(diagonal.x) == list(diagonal.y)
    drop = walk.summary["degradation"]
    fitted = by_name(fig, "least squares")
    assert np.allclose(fitted.y, drop["intercept"] + drop["slope"] * np.asarray(fitted.x))
    assert fig.layout.xaxis.title.text == "In-sample Sharpe ratio"


def test_stability_traces_are_the_chosen_parameters(walk):
    fig = parameter_stability(walk)
    assert [t.name for t in fig.data] == ["fast_period", "slow_period"]
    for trace in fig.data:
        assert list(trace.x) == [f["number"] for f in walk.folds]
        assert list(trace.y) == [f["chosen"][trace.name] for f in walk.folds]
    low, high = fig.layout.yaxis.range  # the searched range of fast_period
    assert low < 5 and high > 10


def test_one_fold_draws_one_of_each(split):
    assert len(split.folds) == 1 and "degradation" in split.summary
    timeline = fold_timeline(split)
    assert [len(t.y) for t in timeline.data] == [1, 1]
    scatter = is_vs_oos(split)
    assert len(by_name(scatter, "fold").x) == 1
    assert "least squares" not in [t.name for t in scatter.data]  # one fold: no slope
    low, high = scatter.layout.xaxis.range
    assert low < split.folds[0]["is_value"] < high
    assert [len(t.y) for t in parameter_stability(split).data] == [1, 1]
    assert "1 test window," in oos_equity(split).layout.title.text
    assert "0 changes in 1 fold" in parameter_stability(split).layout.title.text
    want = "split: train 2024-01-02:2024-01-12, test 2024-01-15:2024-01-19"
    assert scheme_text(split.spec) == want


def test_a_study_without_folds_still_draws():
    result = StudyResult("s", "failed", {}, [], {"error": "boom"}, pd.Series(dtype=float))
    for build in (fold_timeline, oos_equity, is_vs_oos, parameter_stability):
        assert build(result).data == ()
    page = study_report_html(result)
    assert "boom" in page and "No fold finished." in page


def test_report_has_the_readings_the_folds_and_no_network(walk, tmp_path):
    path = write_study_report(walk, tmp_path / "out" / "study.html")
    assert path == tmp_path / "out" / "study.html"
    assert [p.name for p in path.parent.iterdir()] == ["study.html"]  # no temporary left
    page = path.read_text(encoding="utf-8")
    for reading in walk.readings:
        assert html.escape(reading) in page
    for fold in walk.folds:
        assert fold["oos_run_id"][:8] in page
        assert f"{fold['train_start'][:10]}..{fold['train_end'][:10]}" in page
    assert "walk-forward train=1W,test=1W" in page and walk.study_id in page
    assert "Study of sma_crossover" in page and "status completed" in page
    for div in ("study-timeline", "study-oos-equity", "study-is-vs-oos", "study-parameters"):
        assert f'id="{div}"' in page
    assert not re.search(r"<(script|link)[^>]*(src|href)=[\"']?(https?:)?//", page, re.I)
    assert page.count("<script>/**") == 1  # plotly.js inlined, once
    assert "plotly.js v" in page


def test_cli_writes_the_report(walk, store, tmp_path):
    out = tmp_path / "cli.html"
    done = CliRunner().invoke(
        cli, ["--results", str(store), "study", "report", walk.study_id[:8], "--output", str(out)],
        catch_exceptions=False,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"wrote {out}" in done.output.replace("\n", "")
    assert html.escape(walk.readings[0]) in out.read_text(encoding="utf-8")
