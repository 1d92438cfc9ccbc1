"""Named models: family, configuration, download URL and checksum.

Names: genforce's SeFa zoo (`pggan_*`, `stylegan_*`, `stylegan2_*`) and NVlabs' PyTorch pickles
(`stylegan2-ffhq-1024x1024`, `stylegan3-r-afhqv2-512x512`, `stylegan2-ada-ffhq`, ...). `resolve(name)` gives the
verified checkpoint: `$GANSEMANTICS_CHECKPOINTS/<file>` when that is set, else `./checkpoints/`, then the user cache,
where a missing file is downloaded (see `utils.download`).
"""

import difflib
import os
from dataclasses import dataclass, field

from utils.download import cache_dir, cached_file, verify

CHECKPOINTS_ENV = 'GANSEMANTICS_CHECKPOINTS'   # A folder that replaces both default places.
LEGACY_DIR = 'checkpoints'                     # Relative to the working folder.


@dataclass(frozen=True)
class ZooEntry:
    """One named model."""

    name: str                  # Zoo name, also the local file name (without extension).
    family: str                # 'pggan', 'stylegan', 'stylegan2' or 'stylegan3'.
    resolution: int            # Output resolution.
    url: str                   # Where the checkpoint is published.
    ext: str = '.pth'          # '.pth' (genforce) or '.pkl' (NVlabs pickle).
    sha256: str = None         # Checksum of the file, None when not published.
    config: dict = field(default_factory=dict)  # Hints: format, cfg, c_dim, dataset (readers infer the rest).


# ----------------------------------------------------------------------------
# genforce's SeFa zoo (models/model_zoo.py of genforce/sefa): genforce .pth files.

_ONEDRIVE = 'https://mycuhk-my.sharepoint.com/:u:/g/personal/1155082926_link_cuhk_edu_hk/'

_GENFORCE = {  # name: (resolution, share id and key)
    # PGGAN official.
    'pggan_celebahq1024': (1024, 'EW_3jQ6E7xlKvCSHYrbmkQQBAB8tgIv5W5evdT6-GuXiWw?e=gRifVa'),
    'pggan_bedroom256': (256, 'EUZQWGz2GT5Bh_GJLalP63IBvCsXDTOxDFIC_ZBsmoEacA?e=VNXiDb'),
    'pggan_livingroom256': (256, 'Efzh6qQv6QtCm0YN1lulH-YByqdE3AqlI-E6US_hXMuiig?e=ppdyB2'),
    'pggan_diningroom256': (256, 'EcLb3_hGUkdClompZo27xk0BNmotgbFqdIeu-ZOGJsBMRg?e=xjYpN3'),
    'pggan_kitchen256': (256, 'ESCyg6hpNn1LlHVX_un1wLsBZAORUNkW9MO2kU1X5kafAQ?e=09TbGC'),
    'pggan_church256': (256, 'EQ8cKujs2TVGjCL_j6bsnk8BqD9REF2ME2lBnpbTPsqIvA?e=zH55fT'),
    'pggan_tower256': (256, 'EeyBJvgRVGJClKr1KKYDF_cBT1FDepRU1-GLqYNh8W9-fQ?e=nrpa5N'),
    'pggan_bridge256': (256, 'EZ2QScfPy19PiDERLJQ3gPMBP4WmvZHwhNFLzfaP2YD8hQ?e=bef1U9'),
    'pggan_restaurant256': (256, 'ERvJ4pz8jgtMrcuJXUfcOQEBDugZ099_TetCQs-9-ILCVg?e=qYsVdQ'),
    'pggan_classroom256': (256, 'EUU9SCOPUxhMoUS4Ceo9kl0BQkVK7d69lA-JeOP-zOWvXw?e=YIB4no'),
    'pggan_conferenceroom256': (256, 'EX8AF0_6NoJAl5vKFewHWnsBk0r4PK4WsqsMrJyj84TrqQ?e=oNQIZS'),
    'pggan_person256': (256, 'EWu4SqR42YpCoqsVJOcM2cMBcdfXA0j5wZ2hno9X0R9ydQ?e=KuDRns'),
    'pggan_cat256': (256, 'EQdveyUNOMtAue52n6BxoHoB6Yup5-PTvBDmyfUn7Un4Hw?e=7acGbT'),
    'pggan_dog256': (256, 'ESaKyXA5fGlOvXJYDDFbT2kB9c0HlXh9n_wnyhiP05nhow?e=d4aKDV'),
    'pggan_bird256': (256, 'Ef2p4Pd3AKVCmSm00YikCIABhylh2dLPaFjPfPVn3RiTXA?e=9bRitp'),
    'pggan_horse256': (256, 'EXwCPdv6XqJFtuvFFoswRScBmLJbhKzaC5D_iovl1GFOTw?e=WDdD77'),
    'pggan_sheep256': (256, 'ER6J5EKjAUNFtm9VwLf-uUsBZ5dnqxeKsPxY9ijiPtMhcQ?e=OKtfva'),
    'pggan_cow256': (256, 'ERZLxw7N7xJPm72FyePTbpcByzrr0pH-Fg7qyLt5tYGXwQ?e=ovIPCl'),
    'pggan_car256': (256, 'EfGc2we47aFDtAY1548pRvsByIju-uXRbkZEFpJotuPKZw?e=DQqVj8'),
    'pggan_bicycle256': (256, 'Ed1dN_FgwmdBgeNWhaRUry8BgwT88-n2ppicSDPx-f7f_Q?e=bxTxnf'),
    'pggan_motorbike256': (256, 'EV3yQdeJXIdPjZbMO0mp2-MBJbKuuBdypzBL4gnedO57Dw?e=tXdvtD'),
    'pggan_bus256': (256, 'Ed7-OYLnq0RCqRlM8qK8wZ8B87dz_NUxIKBrvyFUwRCEbg?e=VP5bmX'),
    'pggan_train256': (256, 'EedE2cozKOVAkhvbdLd4SfwBknFW8vWZnKiqgeIBbAvCCA?e=BrLpTl'),
    'pggan_boat256': (256, 'Eb39waqQFr9Bp4wO0rC5NHwB0Vz2NGCuqbRPucguBIkDrg?e=lddSyL'),
    'pggan_airplane256': (256, 'Ee6FzIx3KjNDhxrS5mDvpCEB3iQ7TgErmKhbwbV-eF07iw?e=xflPXa'),
    'pggan_bottle256': (256, 'EWhoy2AFCTZGtEG1UoayWjcB9Kdc_wreJ8p4RlBB93nbNg?e=DMZceU'),
    'pggan_chair256': (256, 'EbQRTfwdostBhXG30Uacn7ABsEUFa-tEW3oxiM5zDYQbRw?e=FkB7T0'),
    'pggan_pottedplant256': (256, 'EWg7hnoGATBOuJvXWr4m7CQBJL9o7nqnD6nOMRhtH2SKXg?e=Zi3hjD'),
    'pggan_tvmonitor256': (256, 'EVXwttoJVtBMuhHNDdK3cMwBdMiZARJV38PMTsL6whnFlA?e=RbG0ru'),
    'pggan_diningtable256': (256, 'EXVzBkbmTCVImMtuHLCTBeMBXZmv0RWyx5KXQQAe7-7D5w?e=6RYSnm'),
    'pggan_sofa256': (256, 'EaADQYDXwY9NrzbiUFcRYRgBOu1GdJMG8YgNZZmbNjbn-Q?e=DqKrXG'),
    # StyleGAN official.
    'stylegan_ffhq1024': (1024, 'EdfMxgb0hU9BoXwiR3dqYDEBowCSEF1IcsW3n4kwfoZ9OQ?e=VwIV58'),
    'stylegan_celebahq1024': (1024, 'EcCdXHddE7FOvyfmqeOyc9ABqVuWh8PQYFnV6JM1CXvFig?e=1nUYZ5'),
    'stylegan_bedroom256': (256, 'Ea6RBPddjcRNoFMXm8AyEBcBUHdlRNtjtclNKFe89amjBw?e=Og8Vff'),
    'stylegan_cat256': (256, 'EVjX8u9HuehLip3z0hRfIHcB7QtoFkTB7NiRDb8nrKOl2w?e=lHcp1B'),
    'stylegan_car512': (512, 'EcRJNNzzUzJGjI2X53S9HjkBhXkKT5JRd6Q3IIhCY1AyRw?e=FvMRNj'),
    # StyleGAN trained by genforce.
    'stylegan_celeba_partial256': (256, 'ET2etKNzMS9JmHj5j60fqMcBRJfQfYNvqUrujaIXxCvKDQ?e=QReLE6'),
    'stylegan_ffhq256': (256, 'ES-NAUCC2qdHg87BftvlBiQBVpbJ8-005Q4TNr5KrOxQEw?e=00AnWt'),
    'stylegan_ffhq512': (512, 'EZYrrwOiEgVOg-PfGv7QTegBzFQ9yq2v7o1WxNq5JJ9KNA?e=SZU8PI'),
    'stylegan_livingroom256': (256, 'EfFCYLHjqbFDmjOvCCFJgDcBZ1QYgETfZJxp4ZTHjLxZBg?e=InVd0n'),
    'stylegan_diningroom256': (256, 'ERsUza_hSFRIm4iZCag7P0kBQ9EIdfQKByw4QYt_ay97lg?e=Cimh7S'),
    'stylegan_kitchen256': (256, 'ERcYvoingQNKix35lUs0vUkBQQkAZMp1rtDxjwNlOJAoaA?e=a1Tcwr'),
    'stylegan_apartment256': (256, 'EfurPNSB2BRFtXdqGkmDD6YBwyKN8YK2v7nKwnJQdsbf6A?e=w3oYa4'),
    'stylegan_church256': (256, 'ETMgG1_d06tAlbUkJD1qA9IBaLZ9zJKPkG2kO-4jxhVV5w?e=Dbkb7o'),
    'stylegan_tower256': (256, 'Ebm9QMgqB2VDqyIE5rFhreEBgZ_RyKcRf8bQ333K453u3w?e=if8sDj'),
    'stylegan_bridge256': (256, 'Ed9QM6OP9sVHnazSp4cqPSEBb-ALfBPXRxP1hD7FsTYh8w?e=3vv06p'),
    'stylegan_restaurant256': (256, 'ESDhYr01WtlEvBNFrVpFezcB2l9lF1rBYuHFoeNpBr5B7A?e=uFWFNh'),
    'stylegan_classroom256': (256, 'EbWnI3oto9NPk-lxwZlWqPQB2atWpGiTWMIT59MzF9ij9Q?e=KvcNBg'),
    'stylegan_conferenceroom256': (256, 'Eb1gVi3pGa9PgJ4XYYu_6yABQZ0ZcGDak4FEHaTHaeYFzw?e=0BeE8t'),
    # StyleGAN third-party.
    'stylegan_animeface512': (512, 'EWDWflY6lBpGgX0CGQpd2Z4B5wTEVamTOA9JRYne7zdCvA?e=tOzgYA'),
    'stylegan_animeportrait512': (512, 'EXBvhTBi-v5NsnQtrxhFEKsBin4xg-Dud9Jr62AEwFTIxg?e=bMGK7r'),
    'stylegan_artface512': (512, 'Eca0OiGqhyZMmoPbKahSBWQBWvcAH4q2CE3zdZJflp2jkQ?e=h4rWAm'),
    # StyleGAN2 official.
    'stylegan2_ffhq1024': (1024, 'EX0DNWiBvl5FuOQTF4oMPBYBNSalcxTK0AbLwBn9Y3vfgg?e=Q0sZit'),
    'stylegan2_church256': (256, 'EQzDtJUdQ4ROunMGn2sZouEBmNeFX4QWvxjermVE5cZvNA?e=tQ7r9r'),
    'stylegan2_cat256': (256, 'EUKXeBwUUbZJr6kup7PW4ekBx2-vmTp8FjcGb10v8bgJxQ?e=nkerMF'),
    'stylegan2_horse256': (256, 'EconoT6tb69OuAIqfXRtGlsBZz4vBx01UmmFO-JAS356Jg?e=bcSCC4'),
    'stylegan2_car512': (512, 'EYSnUsxU8KJFuMHhZm-JLWoB0nHxdlbrLHNZ_Qkoe3b9LA?e=Ycjp5A'),
}

# ----------------------------------------------------------------------------
# NVlabs' official PyTorch pickles.

_NGC = 'https://api.ngc.nvidia.com/v2/models/nvidia/research/{repo}/versions/1/files/{name}.pkl'
_ADA = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/{name}.pkl'

_NVLABS_SG3 = [  # Listed in NVlabs/stylegan3's README.
    'stylegan3-t-ffhq-1024x1024', 'stylegan3-t-ffhqu-1024x1024', 'stylegan3-t-ffhqu-256x256',
    'stylegan3-r-ffhq-1024x1024', 'stylegan3-r-ffhqu-1024x1024', 'stylegan3-r-ffhqu-256x256',
    'stylegan3-t-metfaces-1024x1024', 'stylegan3-t-metfacesu-1024x1024',
    'stylegan3-r-metfaces-1024x1024', 'stylegan3-r-metfacesu-1024x1024',
    'stylegan3-t-afhqv2-512x512', 'stylegan3-r-afhqv2-512x512',
]
_NVLABS_SG2 = [  # StyleGAN2 networks for the stylegan3 code base, listed in NVlabs/stylegan3's README.
    'stylegan2-ffhq-1024x1024', 'stylegan2-ffhq-512x512', 'stylegan2-ffhq-256x256',
    'stylegan2-ffhqu-1024x1024', 'stylegan2-ffhqu-256x256',
    'stylegan2-metfaces-1024x1024', 'stylegan2-metfacesu-1024x1024',
    'stylegan2-afhqv2-512x512', 'stylegan2-afhqcat-512x512', 'stylegan2-afhqdog-512x512',
    'stylegan2-afhqwild-512x512', 'stylegan2-brecahad-512x512', 'stylegan2-cifar10-32x32',
    'stylegan2-celebahq-256x256', 'stylegan2-lsundog-256x256',
]
_NVLABS_ADA = {  # stylegan2-ada-pytorch README: file -> resolution.
    'ffhq': 1024, 'metfaces': 1024, 'afhqcat': 512, 'afhqdog': 512, 'afhqwild': 512, 'cifar10': 32,
    'brecahad': 512,
}


def _nvlabs_sg2(name, dataset, resolution, url, **hints):
    hints = {'format': 'NVlabs pickle', 'dataset': dataset, **hints, **({'c_dim': 10} if dataset == 'cifar10' else {})}
    return ZooEntry(name, 'stylegan2', resolution, url, '.pkl', config=hints)


def _build_zoo():
    zoo = {}
    for name, (resolution, share) in _GENFORCE.items():
        family, dataset = name.split('_', 1)
        zoo[name] = ZooEntry(name, family, resolution, f'{_ONEDRIVE}{share}&download=1', '.pth',
                             config={'format': 'genforce .pth', 'dataset': dataset})
    for name in _NVLABS_SG3:
        _, cfg, dataset, size = name.split('-')
        zoo[name] = ZooEntry(name, 'stylegan3', int(size.split('x')[0]), _NGC.format(repo='stylegan3', name=name),
                             '.pkl', config={'format': 'NVlabs pickle', 'cfg': cfg.upper(), 'dataset': dataset})
    for name in _NVLABS_SG2:
        _, dataset, size = name.split('-')
        zoo[name] = _nvlabs_sg2(name, dataset, int(size.split('x')[0]), _NGC.format(repo='stylegan2', name=name))
    for dataset, resolution in _NVLABS_ADA.items():
        zoo[f'stylegan2-ada-{dataset}'] = _nvlabs_sg2(f'stylegan2-ada-{dataset}', dataset, resolution,
                                                      _ADA.format(name=dataset), published_as=f'{dataset}.pkl')
    return zoo


ZOO = _build_zoo()


# ----------------------------------------------------------------------------
# Lookup and download.

def checkpoint_dir():
    """Folder that missing checkpoints are downloaded to: `$GANSEMANTICS_CHECKPOINTS`, else `<cache>/checkpoints`."""
    return os.environ.get(CHECKPOINTS_ENV) or cache_dir('checkpoints')


def zoo_names():
    return sorted(ZOO)


def is_zoo_name(source):
    """A zoo name is a registered name that is not an existing path."""
    return str(source) in ZOO and not os.path.exists(str(source))


def entry(name):
    """The `ZooEntry` of a name; ValueError naming close matches otherwise."""
    if name not in ZOO:
        close = difflib.get_close_matches(str(name), ZOO, n=3)
        hint = f'; did you mean {", ".join(close)}?' if close else ''
        raise ValueError(f'unknown model name {name!r}{hint}')
    return ZOO[name]


def candidates(name):
    """Where the checkpoint of a zoo model is looked for, in order; the last is where it is downloaded to."""
    filename = name + entry(name).ext
    if os.environ.get(CHECKPOINTS_ENV):
        return [os.path.join(os.environ[CHECKPOINTS_ENV], filename)]
    return [os.path.join(LEGACY_DIR, filename), os.path.join(checkpoint_dir(), filename)]


def local_path(name):
    """The checkpoint file of a zoo model: the first of `candidates(name)` that exists, else where it will go."""
    paths = candidates(name)
    return next((path for path in paths if os.path.isfile(path)), paths[-1])


def resolve(name, download=True, progress=True):
    """Local path of a zoo model's checkpoint, verified by SHA-256; downloaded first when it is missing."""
    item, what, path = entry(name), f'checkpoint {name}', local_path(name)
    if os.path.isfile(path):
        verify(path, item.sha256, what)
        return path
    return cached_file(path, item.url, item.sha256, what=what, download=download, progress=progress)

