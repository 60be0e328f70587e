#!/usr/bin/env python3
"""Generate Plackett-Luce test vectors with the reference OpenSkill implementation.

Usage: pip install openskill==6.2.0 && python3 generate_vectors.py > ../tests/vectors/plackett_luce.json

Each round is a game of one-player teams with random prior ratings and random ranks (ties
included), rated by `openskill.models.PlackettLuce` with the protocol's parameters. The
output is compact JSON read by `tests/openskill_vectors.rs`:

    {"library": "openskill 6.2.0", "params": {...},
     "rounds": [[[mu, sigma, rank, new_mu, new_sigma], ...], ...]}

Priors are rounded to 9 decimals so that they are exactly representable in the Rust
fixed-point type up to the float's own rounding. The seed is fixed: rerunning reproduces the
committed file byte for byte.
"""

import json
import random
import sys
from importlib.metadata import version

from openskill.models import PlackettLuce

PARAMS = {"mu": 25.0, "sigma": 25.0 / 3.0, "beta": 7.0, "tau": 0.1, "kappa": 1e-4}
ROUNDS = 500
SEED = 20240611


def game_size(rng: random.Random) -> int:
    """Mostly small games, some medium, a few up to 256 players."""
    roll = rng.random()
    if roll < 0.6:
        return rng.randint(2, 16)
    if roll < 0.9:
        return rng.randint(17, 64)
    return rng.randint(65, 256)


def ranks_for(rng: random.Random, n: int) -> list[int]:
    """A permutation half of the time, otherwise ranks drawn from fewer levels (ties)."""
    if rng.random() < 0.5:
        ranks = list(range(n))
        rng.shuffle(ranks)
        return ranks
    levels = rng.randint(1, n)
    # Sparse rank values: only their order may matter.
    return [rng.randrange(levels) * 3 for _ in range(n)]


def prior(rng: random.Random, wide: bool) -> tuple[float, float]:
    if rng.random() < 0.1:
        return PARAMS["mu"], PARAMS["sigma"]
    lo, hi = (-100.0, 150.0) if wide else (-10.0, 60.0)
    mu = round(rng.uniform(lo, hi), 9)
    sigma = round(rng.uniform(0.2, 9.5), 9)
    return mu, sigma


def main() -> None:
    rng = random.Random(SEED)
    model = PlackettLuce(**PARAMS)
    rounds = []
    for _ in range(ROUNDS):
        n = game_size(rng)
        wide = rng.random() < 0.1
        priors = [prior(rng, wide) for _ in range(n)]
        ranks = ranks_for(rng, n)
        teams = [[model.rating(mu=mu, sigma=sigma)] for mu, sigma in priors]
        rated = model.rate(teams, ranks=ranks)
        rounds.append(
            [
                [mu, sigma, rank, team[0].mu, team[0].sigma]
                for (mu, sigma), rank, team in zip(priors, ranks, rated)
            ]
        )
    out = {
        "library": f"openskill {version('openskill')}",
        "params": PARAMS,
        "seed": SEED,
        "rounds": rounds,
    }
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
