"""``python -m tfprune``: the command line, the same as the ``tfprune`` script.

Example:
    ``python -m tfprune run configs/demo-structured-mcu.yaml --out runs/demo``
"""

from tfprune.app.cli import main

if __name__ == "__main__":
    main(prog_name="tfprune")
