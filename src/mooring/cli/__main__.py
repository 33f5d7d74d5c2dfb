"""`python -m mooring.cli` runs the `mooring` command."""

from mooring.cli.main import main

main()
