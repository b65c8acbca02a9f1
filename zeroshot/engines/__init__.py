"""Engines: thin adapters behind :class:`zeroshot.core.engine.Engine`.

The GLiNER engine (issue #4) and the LLM engine (issue #5) land here.
"""
