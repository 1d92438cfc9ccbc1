"""One table of the results `gpu_check.sh` wrote: tests, Jacobians, SeFa.

Usage: python benchmarks/gpu_table.py RESULTS_FOLDER
"""

import glob
import json
import os
import sys


def _load(path):
    with open(path, encoding='utf-8') as file:
        return json.load(file)


def rows(folder):
    """`(what, ours, reference, ratio, check)` rows of every result found in `folder`."""
    out = []
    tests = os.path.join(folder, 'tests.json')
    if os.path.isfile(tests):
        record = _load(tests)
        verdict = 'passed' if record['exit_code'] == 0 else f'FAILED (exit {record["exit_code"]})'
        out.append((f'test suite on {record["device"]}', f'{record["seconds"]} s', '', '',
                    f'{verdict}: {record["summary"].strip()}'))
    for path in sorted(glob.glob(os.path.join(folder, 'jacobian_*.json'))):
        r = _load(path)
        what = (f'Jacobian StyleGAN2 {r["res"]}x{r["res"]}, w_dim {r["w_dim"]}, channel_max {r["channel_max"]} '
                f'({r["device"]})')
        ours = f'{r["ours_seconds_per_sample"]:.3f} s/sample'
        ref = f'{r["reference_seconds_per_sample"]:.1f} s/sample' if 'reference_seconds_per_sample' in r else '-'
        if r.get('reference_extrapolated'):
            ref += f' ({r["reference_rows_timed"]} rows, extrapolated)'
        ratio = f'{r["speedup"]:.0f}x' if 'speedup' in r else '-'
        check = f'max rel. diff {r["max_relative_difference"]:.1e}' if 'max_relative_difference' in r else ''
        out.append((what, ours, ref, ratio, check))
    sefa = os.path.join(folder, 'sefa.json')
    if os.path.isfile(sefa):
        r = _load(sefa)
        for row in r['rows']:
            ref = row['reference_s']
            out.append((f'SeFa {row["what"]}, StyleGAN2 {r["resolution"]} ({r["device"]})', f'{row["ours_s"]:.4f} s',
                        '-' if ref is None else f'{ref:.4f} s', '-' if ref is None else f'{ref / row["ours_s"]:.1f}x',
                        ''))
    return out


def main(folder):
    header = ('what', 'ours', 'reference', 'ratio', 'check')
    table = [header] + rows(folder)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ['| ' + ' | '.join(cell.ljust(width) for cell, width in zip(row, widths)) + ' |' for row in table]
    lines.insert(1, '| ' + ' | '.join('-' * width for width in widths) + ' |')
    print('\n'.join(lines))


if __name__ == '__main__':
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        sys.exit('usage: python benchmarks/gpu_table.py RESULTS_FOLDER')
    main(sys.argv[1])
