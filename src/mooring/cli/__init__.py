"""The `mooring` command line: thin click commands over services and core."""
