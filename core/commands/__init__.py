"""Sub-commands of ``python -m core``; see :mod:`core.cli`."""
