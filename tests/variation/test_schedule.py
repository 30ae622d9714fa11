"""The noise schedule: noising then one exact step back gives x0; DDPM's step is its posterior."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.variation.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule()


@pytest.mark.parametrize("t", [0, 10, 500, 999])
def test_the_true_noise_takes_x_t_back_to_x0(t: int) -> None:
    rng = np.random.default_rng(t)
    x0, noise = rng.normal(size=(2, 16, 11)), rng.normal(size=(2, 16, 11))
    x_t = SCHEDULE.add_noise(x0, noise, t)
    np.testing.assert_allclose(SCHEDULE.step(noise, t, -1, x_t), x0, atol=2e-3)


def test_ddim_with_the_true_noise_stays_on_the_same_trajectory() -> None:
    rng = np.random.default_rng(0)
    x0, noise = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    x_prev = SCHEDULE.step(noise, 700, 300, SCHEDULE.add_noise(x0, noise, 700))
    np.testing.assert_allclose(x_prev, SCHEDULE.add_noise(x0, noise, 300), atol=1e-4)


def test_eta_one_at_adjacent_steps_is_the_ddpm_posterior() -> None:
    rng = np.random.default_rng(1)
    x0, eps, z = (rng.normal(size=(3, 5)) for _ in range(3))
    t = 400
    a, a_prev = SCHEDULE.alphas_cumprod[t], SCHEDULE.alphas_cumprod[t - 1]
    beta = 1 - a / a_prev
    x_t = SCHEDULE.add_noise(x0, eps, t)
    mean = (np.sqrt(a_prev) * beta * x0 + np.sqrt(1 - beta) * (1 - a_prev) * x_t) / (1 - a)
    std = np.sqrt(beta * (1 - a_prev) / (1 - a))
    got = SCHEDULE.step(eps, t, t - 1, x_t, eta=1.0, noise=z)
    np.testing.assert_allclose(got, mean + std * z, atol=1e-4)


def test_a_plan_descends_from_the_start_to_zero() -> None:
    assert SCHEDULE.plan(10) == [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]
    assert SCHEDULE.plan(4, 300) == [300, 200, 100, 0]
    assert SCHEDULE.plan(50, 3) == [3, 2, 1, 0]
