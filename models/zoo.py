"""Named models: family, configuration, download URL and checksum.

A name resolves to `checkpoints/<name>.pth` (or `.pkl`) under the checkpoint
folder (`$GANSEMANTICS_CHECKPOINTS`, default `./checkpoints`).
"""

import os

ZOO = {}


def checkpoint_dir():
    return os.environ.get('GANSEMANTICS_CHECKPOINTS', 'checkpoints')


def is_zoo_name(source):
    """A zoo name is a registered name that is not an existing path."""
    return source in ZOO and not os.path.exists(source)


def resolve(name):
    """Local path of a zoo model."""
    raise FileNotFoundError(name)
