"""Bundled LLM prompt templates (data package)."""
