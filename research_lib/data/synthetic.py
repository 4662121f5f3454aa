"""Seeded synthetic OHLCV bars: the sample data and the ``mock`` data source.

The bars are a geometric random walk; the same arguments always give the same bars.
They are synthetic: no real market data is shipped or downloaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research_lib.errors import ConfigError
from research_lib.model.defaults import DEFAULT_SEED, MOCK_END

SESSIONS = {
    # name: (timezone, open, close) -- bars start at open, the last one starts a bar before close
    "nasdaq": ("America/New_York", "09:30", "16:00"),
    "24x7": ("UTC", None, None),
}
BAR_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
MAX_BARS = 5_000_000  # ~50 years of 1-minute NASDAQ sessions, ~500 MB of bars in memory
FIRST_YEAR, LAST_YEAR = 1678, 2261  # nanosecond times


def session_timestamps(
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    freq: str = "1min",
    session: str = "nasdaq",
) -> pd.DatetimeIndex:
    """Bar open times (UTC) from ``start`` to ``end`` inclusive (dates are whole days).

    ``nasdaq``: weekdays 09:30-16:00 America/New_York, without US exchange holidays;
    ``24x7``: every ``freq`` step around the clock.
    """
    if session not in SESSIONS:
        raise ValueError(f"unknown session {session!r}: one of {', '.join(SESSIONS)}")
    tz, open_, close = SESSIONS[session]
    start_ts, end_ts = _when("start", start), _when("end", end)
    try:
        step = pd.Timedelta(freq)
    except (TypeError, ValueError):
        step = pd.NaT
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise ConfigError(f"the bar interval must be positive, such as 1min or 5min, was {freq!r}")
    first, last = _utc(start_ts), _utc(end_ts)  # the instants asked for
    start_ts, end_ts = _naive_utc(start_ts).as_unit("ns"), _naive_utc(end_ts).as_unit("ns")
    if end_ts == end_ts.normalize() and last.tz is None:
        end_ts = end_ts + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    _check_count(start_ts, end_ts, freq, session)
    if open_ is None:
        idx = pd.date_range(start_ts, end_ts, freq=freq, tz="UTC")
        return idx.tz_convert("UTC").as_unit("ns")
    days = pd.date_range(start_ts.normalize(), end_ts.normalize(), freq="B")
    days = days[~days.isin(exchange_holidays(days.min(), days.max()))] if len(days) else days
    pieces = []
    for day in days:
        day_open = pd.Timestamp(f"{day.date()} {open_}", tz=tz)
        day_close = pd.Timestamp(f"{day.date()} {close}", tz=tz)
        pieces.append(pd.date_range(day_open, day_close - step, freq=step))
    if not pieces:
        return pd.DatetimeIndex([], tz="UTC").as_unit("ns")
    idx = pieces[0].append(pieces[1:]) if len(pieces) > 1 else pieces[0]
    idx = idx.tz_convert("UTC").as_unit("ns")
    if first.tz is not None or last.tz is not None:  # times of day asked for: keep to them
        low = first if first.tz is not None else first.tz_localize("UTC")
        high = last if last.tz is not None else _naive_utc(end_ts).tz_localize("UTC")
        idx = idx[(idx >= low) & (idx <= high)]
    return idx


def _when(label: str, value: str | pd.Timestamp) -> pd.Timestamp:
    """``value`` as a Timestamp within the years bar times can hold, or a ConfigError."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError, OverflowError):
        ts = pd.NaT
    if pd.isna(ts):
        raise ConfigError(f"{label} is not a date such as 2024-01-02, was {value!r}")
    if not FIRST_YEAR <= ts.year <= LAST_YEAR:
        raise ConfigError(
            f"{label} {value} is outside the years {FIRST_YEAR}-{LAST_YEAR} that bar times can hold"
        )
    return ts


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert("UTC") if ts.tz is not None else ts


def _naive_utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert("UTC").tz_localize(None) if ts.tz is not None else ts


def _check_count(start: pd.Timestamp, end: pd.Timestamp, freq: str, session: str) -> None:
    """Refuse more than :data:`MAX_BARS` bars before making any (``--freq 1ns`` over a year
    would need terabytes)."""
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(freq))
    except (ValueError, TypeError):
        return  # calendar frequencies (months...) make few bars; pandas checks the alias
    if step <= pd.Timedelta(0):
        raise ConfigError(f"the bar interval must be positive, was {freq!r}")
    span = max(end.tz_localize(None) - start.tz_localize(None), pd.Timedelta(0))
    if session != "24x7":  # 6.5 of every 24 hours, 5 of every 7 days
        span = min(span * (5 / 7) + pd.Timedelta(days=1), span) * (6.5 / 24)
    bars = int(span // step) + 1
    if bars > MAX_BARS:
        raise ConfigError(
            f"about {bars:,} bars of {freq} from {start:%Y-%m-%d} to {end:%Y-%m-%d}: more "
            f"than the limit of {MAX_BARS:,}; choose a shorter range or a longer interval"
        )


def exchange_holidays(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """US exchange holidays, approximated by the federal ones the exchanges also observe
    (Columbus and Veterans Day are trading days; Good Friday is not modelled)."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    calendar = USFederalHolidayCalendar()
    rules = [r for r in calendar.rules if r.name not in ("Columbus Day", "Veterans Day")]
    calendar = USFederalHolidayCalendar(rules=rules)
    return calendar.holidays(start=start, end=end)


def random_walk_bars(
    timestamps: pd.DatetimeIndex,
    seed: int = DEFAULT_SEED,
    start_price: float = 100.0,
    volatility: float = 0.001,
    drift: float = 0.0,
    price_precision: int = 2,
) -> pd.DataFrame:
    """OHLCV bars at ``timestamps`` from a seeded geometric random walk.

    Every bar is valid: ``low <= min(open, close) <= max(open, close) <= high``, prices > 0,
    integer volume >= 0, prices rounded to ``price_precision``.
    """
    rng = np.random.default_rng(seed)
    n = len(timestamps)
    if n == 0:
        return pd.DataFrame({c: [] for c in BAR_COLUMNS}).astype({"volume": "int64"})
    log_returns = rng.normal(drift, volatility, n)
    closes = start_price * np.exp(np.cumsum(log_returns))
    opens = np.concatenate(([start_price], closes[:-1]))
    wiggle = np.abs(rng.normal(0.0, volatility, (2, n)))
    tick = 10.0**-price_precision
    opens = np.maximum(np.round(opens, price_precision), tick)
    closes = np.maximum(np.round(closes, price_precision), tick)
    highs = np.round(np.maximum(opens, closes) * (1 + wiggle[0]), price_precision)
    lows = np.round(np.minimum(opens, closes) * (1 - wiggle[1]), price_precision)
    highs = np.maximum(highs, np.maximum(opens, closes))
    lows = np.maximum(np.minimum(lows, np.minimum(opens, closes)), tick)
    volumes = rng.integers(100, 10_000, n).astype("int64")
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(timestamps).tz_convert("UTC").as_unit("ns"),
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": volumes,
        }
    )


def generate_bars(
    start: str | pd.Timestamp = "2024-01-01",
    end: str | pd.Timestamp = MOCK_END,
    freq: str = "1min",
    session: str = "nasdaq",
    seed: int = DEFAULT_SEED,
    start_price: float = 100.0,
    volatility: float = 0.001,
) -> pd.DataFrame:
    """Seeded synthetic bars for a calendar range (the ``data generate`` command)."""
    timestamps = session_timestamps(start, end, freq=freq, session=session)
    return random_walk_bars(timestamps, seed=seed, start_price=start_price, volatility=volatility)


def mock_bars(
    n_bars: int = 5_000,
    seed: int = DEFAULT_SEED,
    start: str = "2024-01-02 14:30",
    freq: str = "1min",
    start_price: float = 100.0,
    volatility: float = 0.001,
) -> pd.DataFrame:
    """``n_bars`` consecutive seeded bars: the ``mock`` data source and the benchmarks' data."""
    timestamps = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n_bars, freq=freq)
    return random_walk_bars(
        timestamps.as_unit("ns"), seed=seed, start_price=start_price, volatility=volatility
    )


def write_csv(bars: pd.DataFrame, path: str, timezone: str = "America/New_York") -> None:
    """Write bars as a plain OHLCV CSV with ISO timestamps in ``timezone``."""
    out = bars.copy()
    out["timestamp"] = iso_timestamps(out["timestamp"], timezone)
    out.to_csv(path, index=False, columns=BAR_COLUMNS)


def iso_timestamps(timestamps: pd.Series, timezone: str = "UTC") -> np.ndarray:
    """ISO 8601 text with the UTC offset (``2024-01-02T09:30:00-05:00``), vectorised."""
    utc = timestamps.dt.tz_convert("UTC")
    local = utc.dt.tz_convert(timezone).dt.tz_localize(None)
    text = np.datetime_as_string(local.to_numpy(dtype="datetime64[s]"), unit="s")
    offset_min = ((local - utc.dt.tz_localize(None)).dt.total_seconds() // 60).astype(int)
    labels = {
        m: f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
        for m in offset_min.unique()
    }
    return np.char.add(text.astype(str), offset_min.map(labels).to_numpy().astype(str))
