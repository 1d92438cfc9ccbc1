"""Image helpers: the region outline drawn on pages."""

import numpy as np

from utils.images import outline


def test_outline_draws_the_border_of_the_mask_only():
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((16, 16), bool)
    mask[4:12, 2:10] = True  # rows 8-23, columns 4-19 at 32 pixels
    drawn = outline(image, mask, color=(255, 0, 0), width=2)
    red = (drawn == [255, 0, 0]).all(axis=2)
    assert red[8, 4:20].all() and red[23, 4:20].all() and red[8:24, 4].all() and red[8:24, 19].all()
    assert red[9, 10] and not red[10, 10]  # two pixels wide, the inside left as it was
    assert not red[:8].any() and not red[24:].any() and not red[:, :4].any() and not red[:, 20:].any()
    assert image.sum() == 0  # the input is not modified
