"""Bounds on what a person or a file may ask for, beyond which a run would fill the memory or the disk, or draw
NaN images instead of edits. Every edge (the click options, the file readers, the editor) takes them from here."""

MAX_INDEX = 65535       # layer and label indices: no model has more layers, no label map more labels ('0-10^12')
MAX_DISTANCE = 1e6      # edit distances: codes moved further leave what float32 synthesis can draw
MAX_STEPS = 1000        # distances per edit: a page or GIF of more frames is not a picture to look at
MAX_VIEW_SIZE = 4096    # pixels a side of an image drawn on a page
MAX_CODE = 1e6          # latent code values: z codes far beyond overflow their float32 normalisation
MAX_NAME_BYTES = 100    # a name that becomes a file name, with room for what a script adds within 255 bytes
