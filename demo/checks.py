"""The methods checked against the ground truth of the built-in face model.

Two measures, shared by `benchmarks/bench_semantics.py` and the tests:

- `resefa_locality`: ReSeFa's directions of a region (the steps of
  `compute_jacobian.py`, `compute_directions.py` and `manipulate.py --region`,
  at their defaults), and the share of each edit's pixel change that falls
  inside the region, against a random direction edited the same way.
- `own_direction_locality`: the same share in ReSeFa's most favourable setting
  (each code's own direction, small edits, every layer), a bound on what its
  directions can do in a given model.
- `code_steps`: not a method but the model: a step of one factor's `z`
  coordinate, drawn by the generator and by the renderer (the truth), and the
  share of each change inside the factor's region.
- `sefa_factors`: SeFa's top directions (`sefa.py -L all`), and which of the
  renderer's factors each one moves, read from the edited images by the factor
  reader of `demo.factors`.
"""

from dataclasses import dataclass

import numpy as np
import torch

from demo import faces
from demo import factors as factor_reader
from semantics import editing, jacobian, regions, resefa, sampling, sefa

__all__ = ['Locality', 'sample_jacobians', 'region_directions', 'resefa_locality', 'own_direction_locality',
           'contrast', 'CodeStep', 'code_steps', 'SefaFactor', 'sefa_factors', 'MANIPULATE_DISTANCES', 'SEFA_DISTANCES']

MANIPULATE_DISTANCES = (*editing.DEFAULT_DISTANCES, editing.DEFAULT_STEPS)  # manipulate.py's defaults
SEFA_DISTANCES = (-3.0, 3.0, 11)          # sefa.py's defaults
SEFA_TRUNCATION = (0.7, 8)                # sefa.py's --trunc_psi and --trunc_layers
JACOBIAN_SEED = 4                         # compute_jacobian.py's default seed


@dataclass
class Locality:
    """Where the edits of a region's first ReSeFa direction change the image."""

    region: str
    area: float                 # Share of the image the region covers.
    resefa_shares: np.ndarray   # [edit samples] share of each edit's pixel change inside the region.
    random_shares: np.ndarray   # [edit samples] the same for a random unit direction.
    eigenvalue: float           # The direction's ratio of change inside to change outside (pooled Gram matrices).

    @property
    def resefa(self):
        return float(np.nanmean(self.resefa_shares))

    @property
    def random(self):
        return float(np.nanmean(self.random_shares))


def sample_jacobians(generator, samples=8, seed=JACOBIAN_SEED):
    """The Jacobians `compute_jacobian.py` computes at its defaults: `samples` codes drawn with `seed`,
    untruncated, every layer moved together, constant noise (reference layout)."""
    ws = sampling.sample_ws(generator, samples, seed)
    return jacobian.compute_jacobians(generator, ws[:, 0])


def contrast(share, area):
    """How many times the mean pixel change inside a region of `area` exceeds that outside, for an edit
    that keeps `share` of its change inside (e.g. 80% inside 3.5% of the image needs about 110)."""
    share = np.asarray(share, dtype=np.float64)
    return share * (1 - area) / ((1 - share) * area)


def region_directions(jacobians, region, data_name='ffhq'):
    """`(directions [w_dim, w_dim], eigenvalues, mask)`: the pooled directions of `compute_directions.py`."""
    mask = regions.region_mask(data_name, region, jacobians.shape[-3])
    grams = (resefa.gram_matrices(sample, mask) for sample in jacobians)
    directions, eigenvalues = resefa.pooled_directions(grams)
    return directions, eigenvalues, mask


def resefa_locality(generator, jacobians, region, edit_samples=8, edit_seed=2026, data_name='ffhq', steps=None,
                    all_layers=False):
    """A region's first ReSeFa direction, and a random one, edited as `manipulate.py --region` does.

    The edits move codes other than those of the Jacobians (`edit_seed`), by `manipulate.py`'s
    default distances (or `steps`), on its default layers (ReSeFa's 4-7 where the model has them;
    every layer with `all_layers`).
    """
    directions, eigenvalues, mask = region_directions(jacobians, region, data_name)
    rng = np.random.RandomState(edit_seed)
    random = rng.randn(generator.w_dim)
    random /= np.linalg.norm(random)
    ws = sampling.sample_ws(generator, edit_samples, edit_seed)
    steps = editing.distances(*MANIPULATE_DISTANCES) if steps is None else steps
    layers = None if all_layers else editing.default_layers(generator.num_ws)
    shares = []
    for direction in (directions[0], random):
        grid = editing.edit_grid(generator, ws, direction[None], layers, steps, region_mask=mask)
        shares.append(np.array([edit.share for edit in grid]))
    return Locality(region, float(mask.mean()), shares[0], shares[1], float(eigenvalues[0]))


def own_direction_locality(generator, jacobians, region, distance=0.3, seed=JACOBIAN_SEED, data_name='ffhq'):
    """ReSeFa in its most favourable setting: a bound on how local its directions can be in this model.

    Each code of `sample_jacobians(generator, len(jacobians), seed)` is moved along the first direction
    of its own Jacobian alone (no pooling), by -`distance` and +`distance` (small: the linear range), on
    every layer (those the Jacobian was taken for).

    Returns:
        `(shares [N], eigenvalues [N])`: the share of each edit's change inside the region, and each
        direction's ratio of mean squared change inside to outside.
    """
    mask = regions.region_mask(data_name, region, jacobians.shape[-3])
    ws = sampling.sample_ws(generator, len(jacobians), seed)
    steps = np.array([-distance, distance], dtype=np.float32)
    shares, ratios = [], []
    for w, sample in zip(ws, jacobians):
        directions, eigenvalues = resefa.directions_for_sample(sample, mask)
        edit, = editing.edit_grid(generator, w[None], directions[:1], None, steps, region_mask=mask)
        shares.append(edit.share)
        ratios.append(eigenvalues[0])
    return np.array(shares), np.array(ratios)


@dataclass
class CodeStep:
    """A step of one factor's `z` coordinate, drawn by the generator and by the renderer."""

    factor: str
    region: str
    generator_share: float      # Share of the generator's pixel change inside the region (all codes pooled).
    renderer_share: float       # The same for the renderer's faces: the truth of the model's factor rule.
    response: float             # Generator's mean change inside the region over the renderer's.


@torch.no_grad()
def code_steps(generator, targets, factors, step=0.5, samples=32, seed=77):
    """Each of `factors` (names of `demo.faces.FACTORS` drawn in an ffhq region) moved by a step of its
    own `z` coordinate on `samples` codes.

    Args:
        targets: the renderer's faces of codes, `[N, z_dim]` numpy to `[N, 3, H, W]` in [-1, 1]
            (`demo.train.targets` for the built-in model: the rule the generator was trained on).
    """
    z = np.random.RandomState(seed).randn(samples, generator.z_dim).astype(np.float32)
    before = sampling.render(generator, sampling.to_ws(generator, z, 'z')).float().cpu()
    truth = targets(z)
    results = []
    for name in factors:
        index = faces.FACTOR_NAMES.index(name)
        region = faces.FACTORS[index].region
        mask = torch.from_numpy(regions.region_mask('ffhq', region, before.shape[-1]))
        moved = z.copy()
        moved[:, index] += step
        after = sampling.render(generator, sampling.to_ws(generator, moved, 'z')).float().cpu()
        change = (after - before).abs().sum(1)                 # [N, H, W]
        true_change = (targets(moved) - truth).abs().sum(1)
        results.append(CodeStep(name, region, float(change[:, mask].sum() / change.sum()),
                                float(true_change[:, mask].sum() / true_change.sum()),
                                float(change[:, mask].mean() / true_change[:, mask].mean())))
    return results


@dataclass
class SefaFactor:
    """Which factors of the renderer one SeFa direction moves."""

    index: int
    eigenvalue: float
    change: np.ndarray      # [NUM_FACTORS] mean movement of each factor between the ends of the edit (share of its range).

    def top(self, count=2):
        """`[(factor name, movement, share of the total movement)]` of the factors that move most."""
        order = np.argsort(-self.change)[:count]
        total = float(self.change.sum())
        return [(faces.FACTOR_NAMES[i], float(self.change[i]), float(self.change[i]) / total if total else 0.0)
                for i in order]


@torch.no_grad()
def sefa_factors(generator, reader, count=5, samples=16, seed=0, layers='all'):
    """The first `count` SeFa directions of `layers`, each with the factor movement it causes.

    Codes are drawn as `sefa.py` draws them (`seed`, truncation 0.7 on the first 8 layers); each is
    moved to both ends of `sefa.py`'s default distances, and the reader compares the two images.
    """
    layer_list, directions, eigenvalues = sefa.factorize(generator, layers)
    ws = sampling.sample_ws(generator, samples, seed, *SEFA_TRUNCATION)
    low, high, _ = SEFA_DISTANCES
    results = []
    for index in range(count):
        ends = editing.edit_codes(ws, directions[index], layer_list, [low, high])  # [N, 2, num_ws, w_dim]
        images = sampling.render(generator, ends.flatten(0, 1)).float().cpu()
        read = factor_reader.read_factors(reader, images).reshape(len(ws), 2, faces.NUM_FACTORS)
        change = factor_reader.factor_change(read[:, 0], read[:, 1]).mean(0).numpy()
        results.append(SefaFactor(index, float(eigenvalues[index]), change))
    return results
