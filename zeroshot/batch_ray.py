"""Batch extraction through Ray Data, for inputs that outgrow one process.

``zeroshot extract --ray`` runs the same job as :class:`~zeroshot.batch.BatchRunner`
(same inputs, checks, output rows, resume) but hands the extraction to
``ray.data.Dataset.map_batches``: a pool of Ray actors, each of which builds the
engine once and extracts batch after batch, on this machine or on the cluster
at ``address``. The driver keeps reading, checking and writing: rows come back
as the actors finish them and are appended (and fsynced) at once, so a killed
run resumes like a local one. Records are sent in shards of ``shard_size`` so
memory stays bounded on long inputs; each shard is sorted by length (less
padding per batch) and starts a fresh actor pool. The engine's identity, which
the output records and a resume compares, comes from one Ray task that builds
the engine once where the actors will run.

Every worker must be able to import ``zeroshot`` with the engine's extra (on a
cluster: install the package on the nodes or pass a ``runtime_env``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from zeroshot.api import engine_name
from zeroshot.batch import (
    DEFAULT_MAX_CHARS,
    BatchRunner,
    Record,
    Summary,
    extract_rows,
    record_length,
)
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema

logger = logging.getLogger(__name__)


def _require_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ZeroshotError("--ray needs Ray Data: pip install 'zeroshot[ray]' "
                            f"({exc})") from None
    return ray


def _engine_identity(engine: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A Ray task: build the engine once and say what it is."""
    from zeroshot.api import build_engine

    built = build_engine(engine, **dict(options))
    try:
        return built.identity()
    finally:
        built.close()


class _ExtractActor:
    """One Ray actor: builds the engine once, then extracts batch after batch."""

    def __init__(self, engine: str, options: Mapping[str, Any], schema: Schema) -> None:
        from zeroshot.api import build_engine

        self.engine = build_engine(engine, **dict(options))
        self.schema = schema

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        records = [Record.from_dict(json.loads(s)) for s in batch["record"]]
        rows = extract_rows(self.engine, self.schema, records)
        return {"row": np.array([json.dumps(r, ensure_ascii=False) for r in rows],
                                dtype=object)}


class RayBatchRunner(BatchRunner):
    """:class:`BatchRunner` whose extraction runs in Ray actors.

    Args:
        engine: engine name (``gliner`` or ``llm``), built in every actor with
            ``options`` (see :func:`zeroshot.api.build_engine`).
        workers: actors in the pool (each holds one copy of the model).
        cpus_per_worker / gpus_per_worker: Ray resources per actor.
        address: a Ray cluster address; None starts (or joins) a local one.
        shard_size: records handed to Ray Data at a time.
    """

    def __init__(self, engine: str, schema: Schema, *, options: Mapping[str, Any] | None = None,
                 batch_size: int = 32, max_chars: int = DEFAULT_MAX_CHARS,
                 progress: bool = True, workers: int = 1, cpus_per_worker: float = 1.0,
                 gpus_per_worker: float = 0.0, address: str | None = None,
                 shard_size: int = 50_000) -> None:
        self.engine_spec = engine
        self.options = dict(options or {})
        self._configure(engine_name(engine, self.options), schema, batch_size, max_chars,
                        progress)
        self.workers = max(1, workers)
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.address = address
        self.shard_size = max(self.batch_size, shard_size)

    def run(self, records: Iterable[Record], out: str | Path, *, resume: bool = True,
            adopt: bool = False) -> Summary:
        ray = _require_ray()
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        try:
            return super().run(records, out, resume=resume, adopt=adopt)
        finally:
            if started:
                ray.shutdown()

    def identity(self) -> dict[str, Any]:
        ray = _require_ray()
        task = ray.remote(num_cpus=self.cpus_per_worker,
                          num_gpus=self.gpus_per_worker or None)(_engine_identity)
        return ray.get(task.remote(self.engine_spec, self.options))

    def _execute(self, todo: Iterator[Record],
                 write: Callable[[list[dict[str, Any]]], None]) -> None:
        ray = _require_ray()
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = self.progress
        shard: list[Record] = []
        for rec in todo:
            shard.append(rec)
            if len(shard) >= self.shard_size:
                self._run_shard(ray, shard, write)
                shard = []
        if shard:
            self._run_shard(ray, shard, write)

    def _run_shard(self, ray: Any, shard: list[Record],
                   write: Callable[[list[dict[str, Any]]], None]) -> None:
        shard.sort(key=record_length)
        blocks = -(-len(shard) // self.batch_size)
        ds = ray.data.from_items([{"record": json.dumps(r.to_dict(), ensure_ascii=False)}
                                  for r in shard], override_num_blocks=blocks)
        ds = ds.map_batches(
            _ExtractActor,
            fn_constructor_kwargs={"engine": self.engine_spec, "options": self.options,
                                   "schema": self.schema},
            batch_size=self.batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_cpus=self.cpus_per_worker, num_gpus=self.gpus_per_worker or None)
        logger.info("ray: %d records, %d actors, batches of %d", len(shard), self.workers,
                    self.batch_size)
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            write([json.loads(row) for row in batch["row"]])
