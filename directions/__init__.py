"""Direction files and prepared latent codes: the catalog, the shipped files, downloads, and one reader.

The built-in catalog (`catalog.json` next to this file) lists the directions
that the ReSeFa repository publishes and the latent codes that the SeFa
repository prepares for its editor, each with its public URL and SHA-256; the
files themselves are shipped in this folder at their original paths
(`directions/ffhq/stylegan2/eyesize.npy`, `directions/latent_codes/...`). A
user catalog (`$GANSEMANTICS_DIRECTIONS_CATALOG`, default
`~/.config/gansemantics/directions.json`) adds one's own files by name. See README.md in this folder.

    direction = read_direction('eyesize', w_dim=512)   # or 'ffhq/stylegan2/eyesize', or any .npy path
    direction.array                                     # [K, w_dim] float32
    direction.recommended_layers                        # [4, 5, 6, 7]
    path, codes, entry = read_latents('stylegan_cat256')

Modules: `catalog` (entries and lookup), `files` (where files are; fetching,
verifying, resolving names), `readers` (the rules for direction and latent
files and sidecars, and the one writer of directions), `user_catalog` (adding one's own entries).
"""

from .catalog import (BUILTIN_CATALOG, ENV_CATALOG, ENV_DIR, ENV_URL, FOLDER, KINDS, Catalog, CatalogError, Entry,
                      directions_dir, load_catalog, user_catalog_path)
from .files import Resolved, fetch, file_status, resolve_direction, resolve_latents, verify
from .readers import Direction, Latents, check_codes, read_direction, read_latents, read_sidecar, save_directions
from .user_catalog import add_local_entry

__all__ = ['BUILTIN_CATALOG', 'ENV_CATALOG', 'ENV_DIR', 'ENV_URL', 'FOLDER', 'KINDS', 'Catalog', 'CatalogError',
           'Direction', 'Entry', 'Latents', 'Resolved', 'add_local_entry', 'check_codes', 'directions_dir', 'fetch',
           'file_status', 'load_catalog', 'read_direction', 'read_latents', 'read_sidecar', 'resolve_direction',
           'resolve_latents', 'save_directions', 'user_catalog_path', 'verify']
