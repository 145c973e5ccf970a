"""``python -m autogrid.cli``: how ``autogrid dev`` starts its children (same interpreter)."""

from autogrid.cli.group import main

main()
