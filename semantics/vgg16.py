"""VGG16 features for the perceptual distance of image projection, from weights the user downloaded.

NVlabs' `projector.py` measures the distance of two images as LPIPS does: the squared difference of the unit-normalised
features of VGG16's five stages, here with equal weights, from torchvision's ImageNet weights
(https://download.pytorch.org/models/vgg16-397923af.pth, 528 MB). NVlabs' `vgg16.pt` is a TorchScript program, whose
undocumented internals are not read: it is refused, naming the file to use instead.
"""

import zipfile

import torch
import torch.nn.functional as F

from utils.fileio import sha256_of


TORCHVISION_SHA256_PREFIX = '397923af'
# Out channels of the 13 convolutions (each followed by a ReLU); 'M' is a 2x2 max pool, which ends a stage.
_LAYOUT = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']


class VGG16Error(ValueError):
    """A VGG16 weight file that cannot be used; the message names the file."""


class VGG16Features(torch.nn.Module):
    """The convolutional part of VGG16 (torchvision's `features`, same names), returning its five stages."""

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for item in _LAYOUT:
            if item == 'M':
                layers.append(torch.nn.MaxPool2d(2))
            else:
                layers += [torch.nn.Conv2d(channels, item, 3, padding=1), torch.nn.ReLU()]
                channels = item
        self.features = torch.nn.Sequential(*layers)
        # ImageNet's mean and spread of each colour
        self.register_buffer('mean', torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, images):
        """Features of the five stages (each before its pool) of images `[N, 3, H, W]` in [-1, 1], as NVlabs'."""
        if images.shape[-1] > 256:
            images = F.interpolate(images, size=(256, 256), mode='area')
        x = ((images + 1) / 2 - self.mean) / self.std
        features = []
        for layer in self.features:
            if isinstance(layer, torch.nn.MaxPool2d):
                features.append(x)
            x = layer(x)
        return features


def load_vgg16(path):
    """`(VGG16Features, note)`: the network of a torchvision VGG16 weight file (note: it is not the published one);
    VGG16Error for anything else."""
    problem, state = None, {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any('/code/' in name or name.endswith('constants.pkl') for name in archive.namelist()):
                problem = ("a TorchScript program (NVlabs' vgg16.pt), not weights; download torchvision's "
                           "https://download.pytorch.org/models/vgg16-397923af.pth instead")
    if problem is None:
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch raises many types for bad files
            problem = f'not a torch file of tensors ({" ".join(str(error).split())[:160]})'
    state = state if isinstance(state, dict) else {}
    network = VGG16Features().requires_grad_(False)
    for key, wanted in network.state_dict().items():
        value = state.get(key)
        if problem is None and not (isinstance(value, torch.Tensor) and value.shape == wanted.shape):
            found = f'shape {list(value.shape)}' if isinstance(value, torch.Tensor) else 'missing'
            problem = f"not VGG16 weights in torchvision's layout ({key}: {found}, expected {list(wanted.shape)})"
    if problem:
        raise VGG16Error(f'{path}: {problem}')
    sha = sha256_of(path)
    note = None if sha.startswith(TORCHVISION_SHA256_PREFIX) else \
        (f"{path}: VGG16 weights with SHA-256 {sha[:16]}..., not torchvision's published vgg16-397923af.pth; "
         f'using them as they are')
    network.load_state_dict({key: state[key].float() for key in network.state_dict()})
    return network.eval(), note


def perceptual_distance(network, synth, target_features):
    """LPIPS-style distance of `synth` `[N, 3, H, W]` to the target of `target_features` (its `network(target)`)."""
    distance = 0
    for mine, theirs in zip(network(synth), target_features):
        mine = mine / (mine.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
        theirs = theirs / (theirs.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
        distance = distance + (mine - theirs).square().sum(dim=1).mean()
    return distance / 5
