"""The `sorakit` command line."""
