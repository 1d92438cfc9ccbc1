"""The reference repository's name for `compute_directions.py`; same options."""

from compute_directions import main

if __name__ == '__main__':
    main()  # pylint: disable=no-value-for-parameter
