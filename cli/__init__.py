"""The `botmesh` command line."""
