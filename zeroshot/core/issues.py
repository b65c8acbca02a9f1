"""Every issue kind a record can carry, in one place.

Kinds are short stable strings: they are keys in reports, batch summaries and
benchmark failure tables. Engines, the validator and the batch runner import
them from here, and reports iterate :data:`ISSUE_KINDS`, so a new kind cannot
be counted in one place and missed in another.
"""

from __future__ import annotations

# the validator (LLM output -> spans), see zeroshot.core.validate
INVALID_JSON = "invalid_json"  # nothing parseable in the answer
JSON_RECOVERED = "json_recovered"  # JSON found inside other text (repair)
SCHEMA_VIOLATION = "schema_violation"  # parsed, but not of the schema's shape
MALFORMED_ENTITY = "malformed_entity"  # one entity without a usable text/label
UNKNOWN_LABEL = "unknown_label"  # a label outside the schema (dropped)
LABEL_MAPPED = "label_mapped"  # a label matched to a schema label loosely (repair)
EMPTY_TEXT = "empty_text"  # an entity with an empty string
UNALIGNED = "unaligned"  # a string found nowhere in the text (kept aside, never guessed)
DUPLICATE = "duplicate"  # the same span twice (dropped)

# engines, see zeroshot.core.engine
ENGINE_ERROR = "engine_error"  # the model or its server failed on this window: a failed record
WINDOWED = "windowed"  # the text was longer than the window and was read in several
TRUNCATED = "truncated"  # generation hit its token budget before the answer was complete
LABEL_GROUPS = "label_groups"  # more labels than fit one prompt: read in several label groups
WORD_CUT = "word_cut"  # one word alone has more subwords than a window holds: its first ones read

VALIDATOR_KINDS = (INVALID_JSON, JSON_RECOVERED, SCHEMA_VIOLATION, MALFORMED_ENTITY,
                   UNKNOWN_LABEL, LABEL_MAPPED, EMPTY_TEXT, UNALIGNED, DUPLICATE)
ENGINE_KINDS = (ENGINE_ERROR, WINDOWED, TRUNCATED, LABEL_GROUPS, WORD_CUT)
ISSUE_KINDS = VALIDATOR_KINDS + ENGINE_KINDS

# Kinds that make a record fail: the engine or its backend could not answer for
# it (a server error, a timeout, a dropped connection, a response that is not a
# completion, the model raising). The batch runner writes such a record with
# ``error`` set, counts it as failed and extracts it again on resume. Every other
# kind is a counted issue of a result that stands: an unaligned string, a
# truncated answer or invalid JSON are what the model answered.
RECORD_ERROR_KINDS = (ENGINE_ERROR,)
