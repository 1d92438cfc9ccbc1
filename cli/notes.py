"""The notes every HTML page starts with: the model, the codes and the settings that made the images."""

from utils.indices import format_indices

from .options import describe_weights

__all__ = ['settings_notes', 'layers_note']


def settings_notes(generator, codes, opts, truncation=True):
    """Lines naming the model, the codes, truncation, noise and transform (only what the family uses).

    Args:
        codes: The `cli.inputs.Codes` rendered.
        opts: The script's options (`trunc_psi`, `trunc_layers`, `randomize_noise`, `tx`, `ty`, `rotate`).
        truncation: Whether the codes went through truncation (z codes drawn or read).
    """
    lines = [describe_weights(generator), f'Codes: {codes.description}']
    if truncation and codes.space == 'z' and generator.has_truncation:
        psi = opts.get('trunc_psi', 1)
        if generator.has_truncation_cutoff and opts.get('trunc_layers') is not None:
            cutoff, num_ws = opts['trunc_layers'], generator.num_ws
            if cutoff < num_ws:
                lines.append(f'Truncation: psi {psi:g} on the first {cutoff} layers')
            else:
                beyond = f' (--trunc_layers {cutoff} is more than the model has)' if cutoff > num_ws else ''
                lines.append(f'Truncation: psi {psi:g} on all {num_ws} layers{beyond}')
        else:
            lines.append(f'Truncation: {psi:g}')
    elif codes.space != 'z':
        lines.append(f'Codes read as {codes.space}: used as they are (no truncation)')
    if generator.has_noise and opts.get('randomize_noise'):
        lines.append(f'Noise: {opts["randomize_noise"]}')
    transform = tuple(opts.get(key) or 0 for key in ('tx', 'ty', 'rotate'))
    if generator.has_transform and any(transform):
        lines.append(f'Transform: translate ({transform[0]:g}, {transform[1]:g}), rotate {transform[2]:g} degrees')
    return lines


def layers_note(layers, origin):
    """'Layers: 4-7 (recommended by ...)'."""
    return f'Layers: {format_indices(layers)} ({origin})'
