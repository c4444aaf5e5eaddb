"""The application layer: command line, demo, recipes, offline data, progress bars.

The library never imports this package (an import-direction test checks it)."""
