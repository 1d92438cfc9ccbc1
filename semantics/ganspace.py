"""GANSpace (Härkönen et al., NeurIPS 2020): principal components of the latent `w` as editing directions.

Where SeFa factorises the weights that read `w`, GANSpace samples it: the principal axes of `w` over many random
codes, ordered by their variance.
"""

import numpy as np
import torch

from . import sampling


@torch.no_grad()
def principal_directions(generator, num_codes=10_000, seed=0, batch_size=1000):
    """`(directions [w_dim, w_dim], variances [w_dim], mean [w_dim])`: the principal axes of `w` over `num_codes`
    codes drawn with `seed`, most variance first, each signed so that its largest entry is positive."""
    z = sampling.sample_z(generator, num_codes, seed)
    ws = torch.cat([sampling.to_ws(generator, z[i:i + batch_size], 'z')[:, 0].double().cpu()
                    for i in range(0, num_codes, batch_size)])                  # [num_codes, w_dim]
    mean = ws.mean(0)
    _, singular, axes = torch.linalg.svd(ws - mean, full_matrices=False)     # axes [w_dim, w_dim], rows
    axes = axes.numpy()
    peak = axes[np.arange(len(axes)), np.abs(axes).argmax(1)]
    return axes * np.sign(peak)[:, None], singular.numpy() ** 2 / (num_codes - 1), mean.numpy()
