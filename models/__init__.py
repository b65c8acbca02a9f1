"""Bundled GLiNER models (data package ``zeroshot.models``): one folder per model,
each a gliner checkpoint (config, tokenizer, safetensors) plus ``zeroshot_model.json``
(the threshold its dev sets chose, its scores and provenance) and a model card."""
