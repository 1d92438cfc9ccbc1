"""The face model checked against the renderer's ground truth: the measures of `benchmarks/bench_semantics.py`
and of the tests.

Every measure says where an edit changes the image with respect to a region (`Change`): the share of
the absolute pixel change inside it (what `manipulate.py` prints), the share of the squared change
(the energy that ReSeFa's quotient maximises), and the concentration (mean change of a pixel inside
over that of a pixel outside).

- `code_steps`: not a method but the model: a step of one factor's own `z` coordinate, drawn by the
  generator and by the renderer (the truth).
- `region_edits`: ReSeFa's pooled first direction of a region (the directions of
  `compute_directions.py`), a step on every layer, against a random direction; and which factors
  the step moves, read by the factor reader.
- `own_directions`: each code moved along the first direction of its own Jacobian alone.
- `sefa_factors`: SeFa's top directions (`sefa.py -L all`) and the factors each one moves.
"""

from dataclasses import dataclass

import numpy as np
import torch

from demo import faces
from demo import factors as factor_reader
from semantics import editing, jacobian, regions, resefa, sampling, sefa

SEFA_DISTANCES = (-3.0, 3.0)              # sefa.py's default ends
SEFA_TRUNCATION = (0.7, 8)                # sefa.py's --trunc_psi and --trunc_layers
JACOBIAN_SEED = 4                         # compute_jacobian.py's default seed
EDIT_SEED = 2026                          # codes edited to measure a direction: not those of the Jacobians
REGION_OF = {factor.name: factor.region for factor in faces.FACTORS}


@dataclass
class Change:
    """Where a change of images falls with respect to a region, pooled over the images."""

    share: float            # Share of the absolute change inside the region.
    energy: float           # Share of the squared change inside the region.
    concentration: float    # Mean absolute change of a pixel inside over that of a pixel outside.


def change_in(before, after, mask):
    """`Change` from images `before` to `after` `[N, C, H, W]` for a region `mask` bool `[H, W]`."""
    difference = (torch.as_tensor(after) - torch.as_tensor(before)).float().cpu()
    size, square = difference.abs().sum(1), difference.square().sum(1)    # [N, H, W]
    inside = torch.from_numpy(mask)
    return Change(float(size[:, inside].sum() / size.sum()), float(square[:, inside].sum() / square.sum()),
                  float(size[:, inside].mean() / size[:, ~inside].mean()))


def sample_jacobians(generator, samples=8, seed=JACOBIAN_SEED):
    """The Jacobians `compute_jacobian.py` computes at its defaults: `samples` codes drawn with `seed`,
    untruncated, every layer moved together, constant noise (reference layout)."""
    return jacobian.compute_jacobians(generator, sampling.sample_ws(generator, samples, seed)[:, 0])


def box(region, size=64):
    return regions.region_mask('ffhq', region, size)


@dataclass
class CodeStep:
    """A step of one factor's `z` coordinate, drawn by the generator and by the renderer."""

    factor: str
    region: str
    generator: Change
    renderer: Change        # The truth of the rule the model was trained on.
    response: float         # The generator's mean change inside the region over the renderer's.


@torch.no_grad()
def code_steps(generator, targets, factors, step=0.5, samples=32, seed=77):
    """Each of `factors` (drawn in an ffhq box) moved by a step of its own `z` coordinate on `samples` codes.

    Args:
        targets: the renderer's faces of codes, `[N, z_dim]` numpy to `[N, 3, H, W]` in [-1, 1]
            (`demo.train.targets`: the rule the model was trained on).
    """
    z = np.random.RandomState(seed).randn(samples, generator.z_dim).astype(np.float32)
    before = generator(torch.from_numpy(z)).cpu()
    truth = targets(z)
    rows = []
    for name in factors:
        moved = z.copy()
        moved[:, faces.FACTOR_NAMES.index(name)] += step
        mask = box(REGION_OF[name], before.shape[-1])
        after, true_after = generator(torch.from_numpy(moved)).cpu(), targets(moved)
        inside = torch.from_numpy(mask)
        response = (after - before).abs()[..., inside].mean() / (true_after - truth).abs()[..., inside].mean()
        rows.append(CodeStep(name, REGION_OF[name], change_in(before, after, mask),
                             change_in(truth, true_after, mask), float(response)))
    return rows


def region_directions(jacobians, region):
    """`(directions [w_dim, w_dim], eigenvalues)` of a region: the pooled directions of `compute_directions.py`."""
    mask = box(region, jacobians.shape[-3])
    return resefa.pooled_directions(resefa.gram_matrices(sample, mask) for sample in jacobians)


@torch.no_grad()
def step_images(generator, ws, direction, distance, layers=None):
    """Images of `ws` `[N, num_ws, w_dim]` before and after a step of `distance` along `direction` `[w_dim]`."""
    ends = editing.edit_codes(ws, direction, layers, [0.0, distance])     # [N, 2, num_ws, w_dim]
    images = sampling.render(generator, ends.flatten(0, 1)).float().cpu()
    return images[0::2], images[1::2]


def factor_movement(reader, before, after):
    """Mean movement of each factor `[NUM_FACTORS]` between two sets of images, as a share of its range."""
    read = factor_reader.read_factors(reader, torch.cat([before, after]))
    return factor_reader.factor_change(read[:len(before)], read[len(before):]).mean(0).numpy()


@dataclass
class RegionEdit:
    """A step along a region's pooled first ReSeFa direction, and along a random direction."""

    region: str
    resefa: Change
    random: Change
    own_factors: float      # Share of the factor reader's movement carried by the region's own factors.
    eigenvalue: float       # The direction's quotient: mean squared change inside over outside (pooled).


def region_edits(generator, jacobians, region, reader, distance=1.0, samples=16, layers=None, seed=EDIT_SEED):
    """A region's first ReSeFa direction and a random unit direction, each a step of `distance` on `layers`
    (all: those the Jacobians were taken for) of `samples` codes the Jacobians never saw."""
    directions, eigenvalues = region_directions(jacobians, region)
    rng = np.random.RandomState(seed)
    random = rng.randn(generator.w_dim)
    ws = sampling.sample_ws(generator, samples, seed)
    mask = box(region)
    before, after = step_images(generator, ws, directions[0], distance, layers)
    movement = factor_movement(reader, before, after)
    own = [i for i, name in enumerate(faces.FACTOR_NAMES) if REGION_OF[name] == region]
    return RegionEdit(region, change_in(before, after, mask),
                      change_in(*step_images(generator, ws, random / np.linalg.norm(random), distance, layers), mask),
                      float(movement[own].sum() / movement.sum()), float(eigenvalues[0]))


def own_directions(generator, jacobians, region, distance=1.0, seed=JACOBIAN_SEED):
    """Each code of `sample_jacobians(generator, len(jacobians), seed)` moved along the first direction of its
    own Jacobian alone (no pooling) by `distance` on every layer: `[Change]`, one per code."""
    mask = box(region, jacobians.shape[-3])
    ws = sampling.sample_ws(generator, len(jacobians), seed)
    changes = []
    for w, sample in zip(ws, jacobians):
        directions, _ = resefa.directions_for_sample(sample, mask)
        changes.append(change_in(*step_images(generator, w[None], directions[0], distance), mask))
    return changes


@dataclass
class SefaFactor:
    """Which factors of the renderer one SeFa direction moves."""

    index: int
    eigenvalue: float
    change: np.ndarray      # [NUM_FACTORS] mean movement of each factor between the ends of the edit.

    def top(self, count=2):
        """`[(factor name, movement, share of the total movement)]` of the factors that move most."""
        order = np.argsort(-self.change)[:count]
        total = float(self.change.sum())
        return [(faces.FACTOR_NAMES[i], float(self.change[i]), float(self.change[i]) / total) for i in order]


def sefa_factors(generator, reader, count=5, samples=16, seed=0, layers='all'):
    """The first `count` SeFa directions of `layers`, each with the factor movement it causes.

    Codes are drawn as `sefa.py` draws them (`seed`, truncation 0.7 on the first 8 layers); each is
    moved to both ends of `sefa.py`'s default distances, and the reader compares the two images.
    """
    layer_list, directions, eigenvalues = sefa.factorize(generator, layers)
    ws = sampling.sample_ws(generator, samples, seed, *SEFA_TRUNCATION)
    low, high = SEFA_DISTANCES
    rows = []
    for index in range(count):
        start = editing.edit_codes(ws, directions[index], layer_list, [low])[:, 0]
        before, after = step_images(generator, start, directions[index], high - low, layer_list)
        rows.append(SefaFactor(index, float(eigenvalues[index]), factor_movement(reader, before, after)))
    return rows
