"""Direction files and prepared latent codes: the catalog, the shipped files, downloads, one reader and writer.
The built-in catalog (`catalog.json`) lists the directions ReSeFa publishes and the latent codes SeFa prepares, with
URLs and SHA-256s; the files are shipped here at their original paths. A user catalog adds one's own files by name.
"""

from .catalog import (BUILTIN_CATALOG, ENV_CATALOG, ENV_DIR, ENV_URL, FOLDER, KINDS, CatalogError, directions_dir,
                      fetch, file_status, load_catalog, resolve, user_catalog_path)
from .readers import (Direction, Latents, add_local_entry, check_codes, latents_array, read_direction, read_latents,
                      save_directions)

__all__ = ['BUILTIN_CATALOG', 'ENV_CATALOG', 'ENV_DIR', 'ENV_URL', 'FOLDER', 'KINDS', 'CatalogError', 'Direction',
           'Latents', 'add_local_entry', 'check_codes', 'directions_dir', 'fetch', 'file_status', 'latents_array',
           'load_catalog', 'read_direction', 'read_latents', 'resolve', 'save_directions', 'user_catalog_path']
