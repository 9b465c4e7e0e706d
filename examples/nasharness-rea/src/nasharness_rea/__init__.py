"""An example of a nasharness plugin package (see docs/plugins.md)."""
