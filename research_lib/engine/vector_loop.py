"""The vector engine's one stateful loop, compiled by numba: positions, fills, costs, cash.

One call runs one parameter point over every bar. Signals come in as arrays: ``targets``
(the direction wanted after each bar, or ``NO_SIGNAL``) for rules that do not depend on the
position, or the mean-reversion band flags (``bands``) for the one that does. The
rules are the event-driven engine's (:mod:`research_lib.strategies.base`,
:mod:`research_lib.model.execution`): a decision on a bar fills at its close (stamped with
its close time) or, with ``next_open``, at the next bar's open (stamped at that open but
never before the previous close + 1 ns; a decision on the last bar is dropped); a reversal
closes then opens at the same price; an entry whose notional exceeds the equity (balance plus
the open position's P&L at that price) is refused; the position left open is closed at the
last close. Prices are whole ticks; money is booked in cents, rounded half away from zero as
Nautilus's ``Money`` rounds (each fill's commission, each trade's gross P&L).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from research_lib.strategies.signals import LONG, MEAN_REVERSION, NO_SIGNAL, SHORT

FLAT = 0
SIZING_CODES = {"quantity": 0, "notional": 1, "equity": 2}


@njit(cache=True)
def _cents(amount: float) -> float:
    scaled = math.floor(abs(amount) * 100.0 + 0.5)
    return scaled / 100.0 if amount >= 0 else -scaled / 100.0


@njit(cache=True)
def _slipped(price: int, side: int, slip_ticks: int, slip_bps: float) -> int:
    if slip_bps > 0.0:
        raw = price * (1.0 + side * slip_bps / 1e4)
        return math.ceil(raw - 1e-9) if side > 0 else math.floor(raw + 1e-9)
    return price + side * slip_ticks


@njit(cache=True)
def _commission(qty: float, price: int, scale: float, point: float, rate: float, per_unit: float,
                per_order: float) -> float:  # fmt: skip
    """As Nautilus's fee models charge: a rate of the notional (itself in cents), a rate per
    unit, or a fixed amount per order; in cents. ``rate`` is ``(numerator, denominator)`` of
    the decimal rate: Nautilus multiplies the notional by it exactly (in decimals) before the
    result becomes a float and is rounded, so ``4.685`` rounds down as the float it is."""
    if rate[0] > 0.0:
        notional_cents = math.floor(abs(point * qty * (price / scale)) * 100.0 + 0.5)
        return _cents(notional_cents * rate[0] / (100.0 * rate[1]))
    if per_unit > 0.0:
        return _cents(per_unit * qty)
    return _cents(per_order)


@njit(cache=True)
def _pnl(direction: int, entry: int, exit_: int, qty: float, scale: float, point: float) -> float:
    """A position's P&L in cents, computed as Nautilus computes it (points x qty x mult)."""
    points = exit_ / scale - entry / scale if direction > 0 else entry / scale - exit_ / scale
    return _cents(points * qty * point)


@njit(cache=True)
def _band_target(i: int, direction: int, bands: np.ndarray, warm: int) -> int:
    """Mean reversion: a long exits at or above the middle, a short at or below it; flat,
    below the lower band goes long and above the upper one short."""
    if i < warm:
        return NO_SIGNAL
    if direction == LONG:
        return FLAT if bands[2, i] else NO_SIGNAL
    if direction == SHORT:
        return FLAT if bands[3, i] else NO_SIGNAL
    if bands[0, i]:
        return LONG
    if bands[1, i]:
        return SHORT
    return NO_SIGNAL


@njit(cache=True)
def run_point(
    rule, targets, bands, warm,
    opens, closes, open_ts, close_ts, next_open,
    scale, point, increment, sizing, trade_size, balance0,
    rate, per_unit, per_order, slip_ticks, slip_bps,
    equity_out, trades_int, trades_float, refused,
):  # fmt: skip
    """Run one point; fills ``equity_out`` (one value per bar) and, per closed trade, a row
    of ``trades_int`` (side, entry ns, exit ns, entry ticks, exit ticks) and of
    ``trades_float`` (quantity, P&L); returns the number of trades. ``refused`` (5 floats)
    gets the entries refused, as the strategy refuses them: their count, then the first
    one's kind (1: less than one size increment, 2: notional above equity), price,
    quantity and equity."""
    n = len(closes)
    balance = balance0  # starting balance + booked P&L of closed trades
    cash = balance0  # balance as fills move it (position values at fill prices)
    direction = FLAT
    qty = 0.0
    entry_price = 0
    entry_ts = 0
    entry_commission = 0.0
    held = 0.0
    trades = 0
    pending = NO_SIGNAL
    last = n - 1
    for i in range(n + 1):
        # the moves of this step: (target, price in ticks, stamp)
        target = NO_SIGNAL
        price = 0
        stamp = 0
        if i == n:  # the end: close what is open at the last close
            if n == 0 or direction == FLAT:
                break
            target, price, stamp = FLAT, closes[last], close_ts[last]
        elif pending != NO_SIGNAL:
            target, price = pending, opens[i]
            stamp = max(open_ts[i], close_ts[i - 1] + 1)
            pending = NO_SIGNAL
        for phase in range(2):  # 0: a pending move at this open; 1: this bar's decision
            if phase == 1:
                if i == n:
                    break
                if rule == MEAN_REVERSION:
                    wanted = _band_target(i, direction, bands, warm)
                else:
                    wanted = targets[i]
                if wanted in (NO_SIGNAL, direction):
                    break
                if next_open:
                    if i < last:
                        pending = wanted
                    break
                target, price, stamp = wanted, closes[i], close_ts[i]
            if target in (NO_SIGNAL, direction):
                continue
            equity = balance - entry_commission
            if direction != FLAT:
                equity += _pnl(direction, entry_price, price, qty, scale, point)
            if direction != FLAT:
                side = -direction
                exit_price = _slipped(price, side, slip_ticks, slip_bps)
                commission = _commission(qty, exit_price, scale, point, rate, per_unit, per_order)
                pnl = _pnl(direction, entry_price, exit_price, qty, scale, point)
                pnl -= entry_commission + commission
                if trades < len(trades_int):
                    trades_int[trades, 0] = direction
                    trades_int[trades, 1] = entry_ts
                    trades_int[trades, 2] = stamp
                    trades_int[trades, 3] = entry_price
                    trades_int[trades, 4] = exit_price
                    trades_float[trades, 0] = qty
                    trades_float[trades, 1] = pnl
                trades += 1
                balance += pnl
                cash -= side * qty * (exit_price / scale) * point + commission
                held = 0.0
                direction, qty, entry_commission = FLAT, 0.0, 0.0
            if target != FLAT:
                value = (price / scale) * point
                if sizing == 0:
                    size = trade_size
                else:
                    budget = trade_size if sizing == 1 else trade_size * equity
                    size = math.floor(budget / value / increment + 1e-9) * increment
                if size <= 0 or size * value > equity:
                    if refused[0] == 0:
                        refused[1] = 1.0 if size <= 0 else 2.0
                        refused[2], refused[3], refused[4] = price / scale, size, equity
                    refused[0] += 1
                else:
                    fill = _slipped(price, target, slip_ticks, slip_bps)
                    commission = _commission(size, fill, scale, point, rate, per_unit, per_order)
                    cash -= target * size * (fill / scale) * point + commission
                    held = target * size
                    direction, qty, entry_price, entry_ts = target, size, fill, stamp
                    entry_commission = commission
            target = NO_SIGNAL
        if i < n:
            equity_out[i] = cash + held * (closes[i] / scale) * point
        elif n > 0:  # the closing fill at the last close is part of the last bar's equity
            equity_out[last] = cash
    return trades


@njit(cache=True)
def path_stats(balance0, equity, start, closes, entries, exits):  # fmt: skip
    """Rules 9 and 11 of :mod:`research_lib.model.performance` over the path ``balance0``
    (finite, positive), ``equity`` (E_0 at ``start``, E_t at ``closes[t - 1]``) and trades
    open from ``entries`` to ``exits`` (ns), exactly as it computes them: (max drawdown, the
    longest spell below a peak in ns, exposure)."""
    peak = balance0  # never NaN: np.fmax.accumulate keeps it over NaN values
    deepest = balance0 / peak - 1.0
    longest = 0
    below_since = -1  # while below a peak: the time of the peak point before, else -1
    for t in range(len(equity)):
        value = equity[t]
        if value > peak:
            peak = value
        fall = value / peak - 1.0
        if fall < deepest:  # np.nanmin: NaN never wins
            deepest = fall
        if value < peak:
            if below_since < 0:
                below_since = start if t == 0 else closes[t - 1]
        elif below_since >= 0:
            longest = max(longest, closes[t] - below_since)
            below_since = -1
    if below_since >= 0 and len(closes):
        longest = max(longest, closes[len(closes) - 1] - below_since)
    return deepest, longest, _exposure(closes, entries, exits)


@njit(cache=True)
def _exposure(closes, entries, exits):
    """The share of ``closes`` with a trade open (entry <= close < exit; NaT entries are
    skipped, a NaT exit never closes), as rule 11 counts it."""
    nat, never = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    m = len(closes)
    if m == 0:
        return 0.0
    ordered = True  # entries and exits in time order (as engines book them): one sweep
    last_entry, last_exit = nat, nat
    for j in range(len(entries)):
        if entries[j] == nat:
            continue
        end = exits[j] if exits[j] != nat else never
        if entries[j] < last_entry or end < last_exit:
            ordered = False
            break
        last_entry, last_exit = entries[j], end
    covered = 0
    if ordered:
        k1 = 0
        k2 = 0
        reach = 0  # the union of the trades' close-index spans [first, after) so far
        for j in range(len(entries)):
            if entries[j] == nat:
                continue
            end = exits[j] if exits[j] != nat else never
            while k1 < m and closes[k1] < entries[j]:
                k1 += 1
            while k2 < m and closes[k2] < end:
                k2 += 1
            first, after = k1, max(k2, k1)
            if after > max(first, reach):
                covered += after - max(first, reach)
                reach = after
        return covered / m
    opened = np.zeros(m + 1, dtype=np.int64)
    for j in range(len(entries)):
        if entries[j] == nat:
            continue
        end = exits[j] if exits[j] != nat else never
        first = np.searchsorted(closes, entries[j], side="left")
        after = max(np.searchsorted(closes, end, side="left"), first)
        opened[first] += 1
        opened[after] -= 1
    running = 0
    for k in range(m):
        running += opened[k]
        if running > 0:
            covered += 1
    return covered / m
