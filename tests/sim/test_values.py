"""Distributions, the normal quantile, empirical data and the common-random-number draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auction_engine.sim.values import (
    Beta,
    Empirical,
    Exponential,
    Lognormal,
    Uniform,
    draw_population,
    make_dist,
    norm_cdf,
    norm_ppf,
    read_empirical,
)

from .conftest import make


def test_norm_ppf_inverts_the_cdf() -> None:
    u = np.array([1e-12, 1e-6, 0.01, 0.02425, 0.3, 0.5, 0.7, 0.97575, 0.999, 1 - 1e-10])
    assert np.max(np.abs(norm_cdf(norm_ppf(u)) - u) / u) < 1e-9
    assert norm_ppf(np.array([0.975]))[0] == pytest.approx(1.959963984540054, abs=1e-12)


@pytest.mark.parametrize(
    "dist",
    [
        Uniform(0.2, 1.7),
        Exponential(2.0, 0.5),
        Lognormal(0.1, 0.6),
        Beta(2.0, 5.0, 0.0, 2.0),
        Beta(0.5, 0.5),
        Empirical(tuple(np.linspace(1, 3, 11) ** 2), "x"),
    ],
)
def test_quantile_and_cdf_agree_and_means_match(dist) -> None:
    u = np.linspace(0.01, 0.99, 99)
    assert np.allclose(dist.cdf(dist.ppf(u)), u, atol=2e-4)
    sample = dist.sample(np.random.default_rng(3), 400_000)
    assert sample.mean() == pytest.approx(dist.mean, rel=0.01)
    assert sample.min() >= dist.lo - 1e-12


def test_make_dist_forms() -> None:
    assert make_dist({"dist": "lognormal", "median": 2.0, "sigma": 0.5}).ppf(np.array([0.5]))[0] == pytest.approx(2.0)
    mean = make_dist({"dist": "lognormal", "mean": 3.0, "sigma": 0.7}).mean
    assert mean == pytest.approx(3.0)
    assert make_dist({"dist": "point", "value": 0.4}).ppf(np.array([0.1, 0.9])).tolist() == [0.4, 0.4]


def test_read_empirical_names_the_bad_line(tmp_path) -> None:
    f = tmp_path / "v.csv"
    f.write_text("price,other\n1.5,a\n2.5,b\nnope,c\n")
    with pytest.raises(ValueError, match=r"v.csv:4: 'nope' is not a number"):
        read_empirical(f, "price")
    with pytest.raises(ValueError, match="no column 'prce'"):
        read_empirical(f, "prce")
    f.write_text("1\n2\n3\n")
    assert read_empirical(f, None) == [1.0, 2.0, 3.0]


def test_population_is_deterministic_and_bidder_columns_are_stable() -> None:
    a = draw_population(make().data, np.random.SeedSequence(5, spawn_key=(1, 2)))
    b = draw_population(make().data, np.random.SeedSequence(5, spawn_key=(1, 2)))
    assert np.array_equal(a.values, b.values)
    wider = make(population={"lots": 20, "bidders": 7})
    c = draw_population(wider.data, np.random.SeedSequence(5, spawn_key=(1, 2)))
    assert np.array_equal(c.values[:, :4], a.values)  # bidder j keeps its value when others join
    other = draw_population(make().data, np.random.SeedSequence(5, spawn_key=(1, 3)))
    assert not np.array_equal(other.values, a.values)


def test_poisson_population_and_common_values() -> None:
    sc = make(
        population={
            "arrival": {"process": "poisson", "per_day": 10.0, "days": 3.0},
            "bidders": {"dist": "poisson", "mean": 2.0, "min": 1, "max": 6},
        },
        values={
            "dist": "uniform",
            "common": {
                "kind": "signal",
                "dist": "uniform",
                "low": 0.4,
                "high": 0.6,
                "noise": {"dist": "uniform", "low": -0.05, "high": 0.05},
            },
        },
        strategy={"name": "truthful"},
    )
    pop = draw_population(sc.data, np.random.SeedSequence(1))
    assert 10 <= pop.lots <= 60 and np.all(np.diff(pop.arrival) >= 0)
    assert pop.n_bidders.min() >= 1 and pop.n_bidders.max() <= 6
    for i in range(pop.lots):
        n = pop.n_bidders[i]
        true = pop.true_values[i, :n]
        assert np.all(true == true[0]) and np.all(np.abs(pop.values[i, :n] - true) <= 0.05 + 1e-12)
        assert math.isnan(pop.values[i, n]) if n < pop.values.shape[1] else True
