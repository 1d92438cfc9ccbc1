"""Running the scripts in-process in tests, and reading what they print."""

import re
from pathlib import Path

from click.testing import CliRunner


def invoke(command, args):
    """Run a script module's `main` with `args` (any types), without catching its exceptions."""
    return CliRunner().invoke(command.main, [str(a) for a in args], catch_exceptions=False)


def invoke_ok(command, args):
    result = invoke(command, args)
    assert result.exit_code == 0, result.output
    return result


def printed(result, label):
    """The path a script printed last after `label` (e.g. 'HTML page'); progress bars may share its line."""
    found = re.findall(rf'{re.escape(label)}[^:\n]*: (\S+)', result.output)
    assert found, result.output
    return Path(found[-1])


def assert_one_line_error(result, *fragments):
    """A failed run whose error is one `Error:` line (only click's usage lines may come before, 'Try' after)."""
    assert result.exit_code != 0
    assert 'Traceback' not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if line.startswith('Error:')]
    assert len(starts) == 1, result.output
    assert all(line.startswith('Try ') for line in lines[starts[0] + 1:]), result.output
    for fragment in fragments:
        assert fragment in lines[starts[0]], result.output
