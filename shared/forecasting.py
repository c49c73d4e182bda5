"""Forecasts of count series, and how good they are.

Plain Python over statsmodels: no Flask, no database. A series is a list of counts, oldest
first, one per period (week or month). ``forecast_counts`` returns the next ``horizon`` periods
with 80 % and 95 % intervals, plus a rolling-origin backtest of one-step-ahead forecasts.

Method, chosen by the length of the history:

* fewer than ``min_history`` periods — ``insufficient_history``: the historical mean (0 with no
  data) and intervals from a Poisson distribution with that mean; no backtest;
* from ``min_history`` periods — ``ets_damped``: exponential smoothing with additive errors and an
  additive damped trend (statsmodels ``ETSModel``), intervals from its analytic forecast variance;
* from ``seasonal_history`` periods — ``ets_damped_seasonal``: the same plus additive seasonality
  of ``period``. The start values (level, trend and the ``period`` seasonal states) come from a
  least-squares fit of a line plus ``HARMONICS`` pairs of sines and cosines to the first two
  cycles: a smooth yearly shape instead of one noisy value per week, which keeps a fit in tens
  of milliseconds and the forecasts from echoing last year's noise.

The model's analytic forecast variance treats the estimated values as known; the intervals widen
it by the usual degrees-of-freedom factor √(n ÷ (n − k)), k the number of values estimated.

All bounds are clamped at 0: counts are never negative.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

INSUFFICIENT_HISTORY = "insufficient_history"
ETS_DAMPED = "ets_damped"
ETS_DAMPED_SEASONAL = "ets_damped_seasonal"

Z80 = 1.2815515655446004
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Band:
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float


@dataclass(frozen=True)
class Backtest:
    mae: float
    mase: float | None
    points: int
    actual: tuple[float, ...] = ()
    predicted: tuple[Band, ...] = ()


@dataclass(frozen=True)
class Forecast:
    method: str
    bands: tuple[Band, ...]
    backtest: Backtest | None


def choose_method(n: int, *, min_history: int, seasonal_history: int) -> str:
    if n < min_history:
        return INSUFFICIENT_HISTORY
    if n >= seasonal_history:
        return ETS_DAMPED_SEASONAL
    return ETS_DAMPED


def _poisson_quantile(mean: float, p: float) -> float:
    """The smallest k with P(X <= k) >= p for X ~ Poisson(mean)."""
    if mean <= 0:
        return 0.0
    from scipy.stats import poisson
    return float(poisson.ppf(p, mean))


def poisson_band(mean: float) -> Band:
    return Band(mean=mean,
                lo80=_poisson_quantile(mean, 0.10), hi80=_poisson_quantile(mean, 0.90),
                lo95=_poisson_quantile(mean, 0.025), hi95=_poisson_quantile(mean, 0.975))


HARMONICS = 3
"""Sine/cosine pairs of the seasonal start values (a smooth shape with up to three bumps a year)."""


def seasonal_start(values: Sequence[float], period: int,
                   harmonics: int = HARMONICS) -> tuple[float, float, list[float]]:
    """Start level, trend and seasonal states (in time order, one per period position, summing
    to about 0): least squares of a line plus ``harmonics`` sine/cosine pairs over the first two
    cycles of ``values``."""
    import numpy as np

    n = min(len(values), 2 * period)
    t = np.arange(n)
    columns = [np.ones(n), t.astype(float)]
    for k in range(1, harmonics + 1):
        columns += [np.sin(2 * np.pi * k * t / period), np.cos(2 * np.pi * k * t / period)]
    beta, *_ = np.linalg.lstsq(np.column_stack(columns), np.asarray(values[:n], dtype=float),
                               rcond=None)
    position = np.arange(period)
    season = sum(beta[2 * k] * np.sin(2 * np.pi * k * position / period)
                 + beta[2 * k + 1] * np.cos(2 * np.pi * k * position / period)
                 for k in range(1, harmonics + 1))
    return float(beta[0]), float(beta[1]), [float(v) for v in season]


def _estimated_values(method: str) -> int:
    """How many values a fit estimates: smoothing parameters (α, β, φ; γ) and start values."""
    return 2 + 2 * HARMONICS + 4 if method == ETS_DAMPED_SEASONAL else 2 + 3


def _fit_predict(values: Sequence[float], horizon: int, method: str, period: int) -> list[Band]:
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = pd.Series(np.asarray(values, dtype=float))
    if method == ETS_DAMPED_SEASONAL:
        level, trend, season = seasonal_start(values, period)
        model = ETSModel(y, error="add", trend="add", damped_trend=True, seasonal="add",
                         seasonal_periods=period, initialization_method="known",
                         initial_level=level, initial_trend=trend, initial_seasonal=season)
    else:
        model = ETSModel(y, error="add", trend="add", damped_trend=True,
                         initialization_method="estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = model.fit(disp=False)
        prediction = result.get_prediction(start=len(y), end=len(y) + horizon - 1)
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        std = np.sqrt(np.asarray(prediction.forecast_variance, dtype=float))
    n = len(y)
    widen = math.sqrt(n / max(n - _estimated_values(method), 1))
    bands = []
    for m, s in zip(mean, std):
        if not math.isfinite(m):
            m = float(np.mean(y))
        if not math.isfinite(s):
            s = float(np.std(y))
        s *= widen
        bands.append(Band(mean=max(0.0, float(m)),
                          lo80=max(0.0, float(m - Z80 * s)), hi80=max(0.0, float(m + Z80 * s)),
                          lo95=max(0.0, float(m - Z95 * s)), hi95=max(0.0, float(m + Z95 * s))))
    return bands


def predict(values: Sequence[float], horizon: int, *, min_history: int,
            seasonal_history: int, period: int) -> tuple[str, list[Band]]:
    """The next ``horizon`` bands from ``values`` alone, and the method used."""
    method = choose_method(len(values), min_history=min_history, seasonal_history=seasonal_history)
    if method == INSUFFICIENT_HISTORY:
        mean = sum(values) / len(values) if values else 0.0
        return method, [poisson_band(mean)] * horizon
    return method, _fit_predict(values, horizon, method, period)


def backtest(values: Sequence[float], points: int, *, min_history: int, seasonal_history: int,
             period: int) -> Backtest | None:
    """Rolling origin over the last ``points`` periods: each one-step-ahead forecast is fitted on
    all periods before it. ``mase`` = MAE ÷ MAE of the naive forecast (previous period's count)
    over the same periods; None when that is 0. An origin with less than ``min_history`` periods
    before it is forecast the way such a short series is (its mean). None when the series has no
    period before the first origin."""
    n = len(values)
    if points <= 0 or n <= points:
        return None
    actual, predicted = [], []
    for origin in range(n - points, n):
        _, bands = predict(values[:origin], 1, min_history=min_history,
                           seasonal_history=seasonal_history, period=period)
        actual.append(float(values[origin]))
        predicted.append(bands[0])
    mae = sum(abs(a - b.mean) for a, b in zip(actual, predicted)) / points
    naive = sum(abs(values[i] - values[i - 1]) for i in range(n - points, n)) / points
    return Backtest(mae=mae, mase=(mae / naive) if naive else None, points=points,
                    actual=tuple(actual), predicted=tuple(predicted))


def forecast_counts(values: Sequence[float], horizon: int, *, min_history: int = 26,
                    seasonal_history: int = 104, period: int = 52,
                    backtest_points: int = 12) -> Forecast:
    """Forecast of a count series: weekly by default (26 weeks for a model, seasonality of 52
    from 104 weeks, 12 backtest weeks); monthly with ``MONTHLY``."""
    method, bands = predict(values, horizon, min_history=min_history,
                            seasonal_history=seasonal_history, period=period)
    test = None
    if method != INSUFFICIENT_HISTORY:
        test = backtest(values, backtest_points, min_history=min_history,
                        seasonal_history=seasonal_history, period=period)
    return Forecast(method=method, bands=tuple(bands), backtest=test)


WEEKLY = dict(min_history=26, seasonal_history=104, period=52, backtest_points=12)
MONTHLY = dict(min_history=12, seasonal_history=24, period=12, backtest_points=6)


# --- periods, payloads and a cache shared by the services' forecast endpoints ---------------

def week_start(day):
    """The Monday of ``day``'s week."""
    from datetime import timedelta
    return day - timedelta(days=day.weekday())


def month_start(day):
    return day.replace(day=1)


def add_periods(start, count: int, unit: str):
    """``start`` moved by ``count`` weeks or months (``unit``: "week" | "month")."""
    from datetime import timedelta
    if unit == "week":
        return start + timedelta(weeks=count)
    index = start.year * 12 + start.month - 1 + count
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def period_counts(days, keys, *, first, last, unit: str) -> dict:
    """``{key: [count per period from first to last inclusive]}`` from event days (local dates)
    and their keys (None for the total)."""
    starts = []
    cursor = first
    while cursor <= last:
        starts.append(cursor)
        cursor = add_periods(cursor, 1, unit)
    index = {start: i for i, start in enumerate(starts)}
    bucket = week_start if unit == "week" else month_start
    counts: dict = {}
    for day, key in zip(days, keys):
        i = index.get(bucket(day))
        if i is None:
            continue
        counts.setdefault(key, [0] * len(starts))[i] += 1
    return counts


def _round(value: float) -> float:
    return round(float(value), 2)


def series_payload(key, *, counts: Sequence[int], fitted_from: int, shown: int, last_start,
                   horizon: int, unit: str, settings: dict) -> dict:
    """One item of ``series``: the last ``shown`` periods of ``counts`` (ending at
    ``last_start``) as history, the forecast fitted on ``counts[fitted_from:]``."""
    label = "week" if unit == "week" else "month"
    n = len(counts)
    history = [{label: add_periods(last_start, i - n + 1, unit).isoformat(), "count": counts[i]}
               for i in range(max(0, n - shown), n)]
    result = forecast_counts(list(counts[fitted_from:]), horizon, **settings)
    forecast = [{label: add_periods(last_start, h + 1, unit).isoformat(),
                 "mean": _round(b.mean), "lo80": _round(b.lo80), "hi80": _round(b.hi80),
                 "lo95": _round(b.lo95), "hi95": _round(b.hi95)}
                for h, b in enumerate(result.bands)]
    test = result.backtest
    return {"key": key, "method": result.method, "history": history, "forecast": forecast,
            "backtest": None if test is None else {
                "mae": _round(test.mae), "mase": None if test.mase is None else _round(test.mase),
                "points": test.points}}


class ForecastCache:
    """Computed answers by key (which names the data version), a few per process; one
    computation per key at a time, so a burst of requests waits for one fit instead of
    repeating it."""

    def __init__(self, size: int = 32):
        import threading
        self._size = size
        self._answers: dict = {}
        self._lock = threading.Lock()
        self._computing: dict = {}

    def get(self, key, compute):
        import threading
        with self._lock:
            if key in self._answers:
                return self._answers[key]
            event = self._computing.get(key)
            owner = event is None
            if owner:
                event = self._computing[key] = threading.Event()
        if not owner:
            event.wait(timeout=120)
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            return compute()
        try:
            answer = compute()
            with self._lock:
                if len(self._answers) >= self._size:
                    self._answers.pop(next(iter(self._answers)))
                self._answers[key] = answer
            return answer
        finally:
            with self._lock:
                self._computing.pop(key, None)
            event.set()
