"""The notes every HTML page starts with: the model, the codes and the settings that made the images."""

from utils.indices import format_indices

from .inputs import plural
from .options import describe_weights


def settings_notes(generator, codes, opts):
    """Lines naming the model, the codes (a `cli.inputs.Codes`), truncation, noise and transform (what the family
    uses), from the script's options `opts`."""
    lines = [describe_weights(generator), f'Codes: {codes.description}']
    psi, cutoff, num_ws = opts.get('trunc_psi', 1), opts.get('trunc_layers'), generator.num_ws
    if codes.space != 'z':
        lines.append(f'Codes read as {codes.space}: used as they are (no truncation)')
    elif generator.has_truncation and generator.has_truncation_cutoff and cutoff is not None:
        beyond = f' (--trunc_layers {cutoff} is more than the model has)' if cutoff > num_ws else ''
        lines.append(f'Truncation: psi {psi:g} on the first {plural(cutoff, "layer")}' if cutoff < num_ws else
                     f'Truncation: psi {psi:g} on all {num_ws} layers{beyond}')

    elif generator.has_truncation:
        lines.append(f'Truncation: {psi:g}')
    if generator.has_noise and opts.get('randomize_noise'):
        lines.append(f'Noise: {opts["randomize_noise"]}')
    tx, ty, rotate = (opts.get(key) or 0 for key in ('tx', 'ty', 'rotate'))
    if generator.has_transform and (tx or ty or rotate):
        lines.append(f'Transform: translate ({tx:g}, {ty:g}), rotate {rotate:g} degrees')
    return lines


def layers_note(layers, origin):
    """'Layers: 4-7 (recommended by ...)'."""
    return f'Layers: {format_indices(layers)} ({origin})'
