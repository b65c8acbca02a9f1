"""Bundled extraction schemas and the meta-schema that validates them (data package)."""
