"""The forecasting module: accuracy on synthetic weekly series, and the short-history cases."""
import math

import numpy as np
import pytest

from shared.forecasting import (ETS_DAMPED, ETS_DAMPED_SEASONAL, INSUFFICIENT_HISTORY, MONTHLY,
                                WEEKLY, backtest, forecast_counts, poisson_band)


def synthetic_weekly(seed: int, weeks: int = 156) -> list[int]:
    """Damped trend + yearly seasonality + Poisson noise, from a fixed seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    level = rng.uniform(12, 30)
    slope = rng.uniform(-0.15, 0.25)
    trend = slope * (1 - 0.99 ** t) / (1 - 0.99)          # damped: flattens out
    amplitude = rng.uniform(0.15, 0.35) * level
    season = amplitude * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 2 * np.pi))
    return rng.poisson(np.maximum(level + trend + season, 0.5)).tolist()


@pytest.fixture(scope="module")
def pooled():
    return [forecast_counts(synthetic_weekly(seed), 8, **WEEKLY) for seed in range(20)]


def test_seasonal_method_beats_naive_on_average(pooled):
    assert {f.method for f in pooled} == {ETS_DAMPED_SEASONAL}
    mases = [f.backtest.mase for f in pooled]
    assert all(m is not None for m in mases)
    assert np.mean(mases) < 1


def test_95_interval_covers_at_least_85_percent_of_backtest_points(pooled):
    """Measured: 92.1 % (221 of 240) with the smooth seasonal start values."""
    points = [(a, b) for f in pooled for a, b in zip(f.backtest.actual, f.backtest.predicted)]
    assert len(points) == 240
    covered = sum(b.lo95 <= a <= b.hi95 for a, b in points)
    assert covered / len(points) >= 0.85


def test_forecast_bands_are_ordered_and_never_negative(pooled):
    for f in pooled:
        assert len(f.bands) == 8
        for b in f.bands:
            assert 0 <= b.lo95 <= b.lo80 <= b.mean <= b.hi80 <= b.hi95


def test_backtest_mae_and_mase_are_computed_against_the_naive_forecast():
    values = synthetic_weekly(3, weeks=60)
    test = backtest(values, 12, min_history=26, seasonal_history=104, period=52)
    assert test.points == 12
    assert test.mae == pytest.approx(np.mean([abs(a - b.mean)
                                              for a, b in zip(test.actual, test.predicted)]))
    naive = np.mean([abs(values[i] - values[i - 1]) for i in range(48, 60)])
    assert test.mase == pytest.approx(test.mae / naive)
    assert list(test.actual) == values[48:]


def test_mase_is_null_when_the_naive_forecast_is_perfect():
    values = [5] * 40
    assert backtest(values, 12, min_history=26, seasonal_history=104, period=52).mase is None


def test_between_26_and_104_weeks_the_model_has_no_seasonality():
    f = forecast_counts(synthetic_weekly(1, weeks=60), 4, **WEEKLY)
    assert f.method == ETS_DAMPED
    assert f.backtest is not None and f.backtest.points == 12


def test_ten_weeks_is_insufficient_history_with_poisson_intervals():
    values = [3, 5, 4, 6, 2, 4, 5, 3, 4, 4]
    f = forecast_counts(values, 8, **WEEKLY)
    assert f.method == INSUFFICIENT_HISTORY
    assert f.backtest is None
    assert len(f.bands) == 8
    band = f.bands[0]
    assert band.mean == pytest.approx(4.0)
    # Poisson(4): P(X<=1)=0.092, P(X<=7)=0.949, P(X<=0)=0.018, P(X<=8)=0.979
    assert (band.lo80, band.hi80, band.lo95, band.hi95) == (2, 7, 1, 8)


def test_no_data_is_insufficient_history_with_zero_mean_and_intervals():
    f = forecast_counts([], 3, **WEEKLY)
    assert f.method == INSUFFICIENT_HISTORY
    assert f.backtest is None
    assert [(b.mean, b.lo80, b.hi80, b.lo95, b.hi95) for b in f.bands] == [(0, 0, 0, 0, 0)] * 3


def test_monthly_settings_need_twelve_months():
    assert forecast_counts([4] * 11, 6, **MONTHLY).method == INSUFFICIENT_HISTORY
    f = forecast_counts([4, 6, 5, 7, 6, 8, 7, 9, 8, 10, 9, 11, 10, 12], 6, **MONTHLY)
    assert f.method == ETS_DAMPED and f.backtest.points == 6
    assert all(math.isfinite(b.hi95) for b in f.bands)


def test_poisson_band_of_zero_is_all_zero():
    assert poisson_band(0.0) == poisson_band(0)
    assert poisson_band(0.0).hi95 == 0


def test_seasonal_start_recovers_a_noise_free_line_and_wave_in_time_order():
    from shared.forecasting import seasonal_start
    t = np.arange(104)
    wave = 5 * np.sin(2 * np.pi * t / 52) + 2 * np.cos(2 * np.pi * 2 * t / 52)
    level, trend, season = seasonal_start((20 + 0.1 * t + wave).tolist(), 52)
    assert level == pytest.approx(20)
    assert trend == pytest.approx(0.1)
    assert len(season) == 52
    assert season == pytest.approx(wave[:52].tolist(), abs=1e-9)   # position 0 = first week
    assert sum(season) == pytest.approx(0, abs=1e-9)
