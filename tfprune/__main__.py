"""``python -m tfprune``: the ``tfprune`` command line (:mod:`tfprune.app.cli`).

Example:
    >>> callable(main)
    True
"""

from tfprune.app.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="tfprune")
