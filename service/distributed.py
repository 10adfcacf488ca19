"""Sharded encoding and data-parallel training on torch.distributed: ``torchrun --nproc-per-node N -m ddr <command>``.

Rank 0 runs the command as usual. Every other rank becomes a worker (:func:`worker_loop`):
whenever rank 0 needs passages that are not in the embedding cache, it sends the workers its
encoder (backbone name and weights hash, the general prefix's files, dtype and lengths) once, then
hands out the missing cache shards a round at a time, one shard per rank, and writes each shard as
it comes back. So the unit of work is the unit of resumption: a killed run keeps every shard that
came back, and the result is the same cache a single process writes (tests compare them).

train-general trains under DistributedDataParallel: rank 0 sends the workers the mined triples, the
training config and the prefix it starts from, and every rank trains on its slice of each batch
(:func:`ddr.trainer.general.train_general` with ``ddp=True``); rank 0 alone scores and registers.

Gloo on CPUs, NCCL on GPUs (``DDR_DEVICE=cuda``: rank r uses ``cuda:LOCAL_RANK``). Shards travel
through the process group, so workers on other nodes need only the backbone, not the home.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ddr.errors import UsageError

if TYPE_CHECKING:  # numpy and torch stay off the CLI's start-up path: every command passes through launched()
    import numpy as np

    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.config import GeneralTrainConfig
    from ddr.trainer.general import Triple

    EncodeMany = Callable[[list[tuple[int, Sequence[str]]]], Iterator[tuple[int, np.ndarray]]]

TIMEOUT = timedelta(hours=6)  # a worker waits this long for rank 0's next message (rank 0 may train for hours)


def launched() -> bool:
    """Started by torchrun (or another launcher setting WORLD_SIZE) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def _dist():
    import torch.distributed as dist

    if not dist.is_initialized():
        from ddr.modules.precision import pick_device

        device = pick_device()
        if device.startswith("cuda"):
            import torch

            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo", timeout=TIMEOUT)
    return dist


def _send(message: object) -> object:
    box = [message]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


# ---------------------------------------------------------------------------- rank 0


class _Pool:
    """Rank 0's side: the encoder the workers hold, and rounds of shards."""

    def __init__(self) -> None:
        self.sent: str | None = None  # the cache key of the encoder the workers hold

    def encode_many(self, encoder: DDREncoder, key: str, jobs: list[tuple[int, Sequence[str]]]) -> Iterator[tuple[int, np.ndarray]]:
        dist = _dist()
        world = dist.get_world_size()
        self._share(encoder, key)
        for start in range(0, len(jobs), world):
            batch = jobs[start : start + world]
            _send({"op": "round"})
            parts = [batch[r] if r < len(batch) else None for r in range(world)]
            mine: list = [None]
            dist.scatter_object_list(mine, parts, src=0)
            own = (batch[0][0], encoder.encode_passages(list(batch[0][1])).float().numpy())
            replies: list = [None] * world
            dist.gather_object(own, replies, dst=0)
            for reply in replies:
                if reply is None:
                    continue
                if reply[0] == "error":
                    raise UsageError(f"encoding worker failed: {reply[1]}")
                yield reply

    def _share(self, encoder: DDREncoder, key: str) -> None:
        """Send the workers this encoder unless they hold it: ``key`` is the embedding cache's key, which
        names everything passage embeddings depend on (backbone, general prefix content, length, dtype)."""
        if key == self.sent:
            return
        _send({"op": "encoder", **_encoder_message(encoder, encoder.general)})
        self.sent = key


_POOL: _Pool | None = None


def encoder_pool(encoder: DDREncoder, key: str) -> EncodeMany | None:
    """An ``encode_many`` for :meth:`ddr.retrieval.cache.EmbeddingCache.get_or_encode` under the cache key
    ``key`` (None: not launched)."""
    global _POOL
    if not launched() or rank() != 0:
        return None
    if _POOL is None:
        _POOL = _Pool()
    return lambda jobs: _POOL.encode_many(encoder, key, jobs)


def start_training(encoder: DDREncoder, module: PrefixModule, triples: list[Triple], config: GeneralTrainConfig) -> int:
    """Rank 0: have every worker join the training of ``module`` on ``triples``; returns the world size (0: not launched)."""
    if not launched() or rank() != 0:
        return 0
    _send({"op": "train_general", **_encoder_message(encoder, module), "train": config.to_dict(), "triples": triples})
    return _dist().get_world_size()


def _encoder_message(encoder: DDREncoder, module: PrefixModule | None) -> dict:
    """What a worker needs to rebuild ``encoder`` with ``module`` as its general prefix: the backbone's
    name and weights hash, the module's files, the encoder settings."""
    files: dict[str, bytes] = {}
    if module is not None:
        with tempfile.TemporaryDirectory(prefix="ddr-share-") as tmp:
            module.save(Path(tmp))
            files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
    return {"backbone": encoder.backbone.source or encoder.backbone.spec.name, "weights_sha256": encoder.backbone.spec.weights_sha256,
            "general": files, "config": dataclasses.asdict(encoder.config)}


def shutdown() -> None:
    """Rank 0, at the end of any command: release the workers (they exit 0)."""
    if not launched() or rank() != 0:
        return
    dist = _dist()
    _send({"op": "stop"})
    dist.destroy_process_group()


# ---------------------------------------------------------------------------- workers


def worker_loop() -> int:
    """Encode the shards rank 0 hands out until it says stop; returns shards encoded."""
    dist = _dist()
    encoder, error, done = None, None, 0
    while True:
        message = _send(None)
        op = message["op"]
        if op == "stop":
            dist.destroy_process_group()
            return done
        if op == "encoder":
            try:
                encoder, error = _build(message), None
            except Exception as exc:  # noqa: BLE001 - reported to rank 0 with the next round
                encoder, error = None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        if op == "train_general":
            _train(message)
            continue
        job: list = [None]
        dist.scatter_object_list(job, None, src=0)
        reply = None
        if job[0] is not None:
            n, texts = job[0]
            if error:
                reply = ("error", f"rank {rank()}: {error}")
            else:
                reply = (n, encoder.encode_passages(list(texts)).float().numpy())
                done += 1
        dist.gather_object(reply, None, dst=0)


def _train(message: dict) -> None:
    from ddr.trainer.config import GeneralTrainConfig
    from ddr.trainer.general import train_general

    trainer = _build(message)
    train_general(trainer, trainer.general, message["triples"], GeneralTrainConfig(**message["train"]), ddp=True)


_BACKBONES: dict = {}


def _build(message: dict) -> DDREncoder:
    from ddr.modules import DDREncoder, EncoderConfig, PrefixModule, load_backbone
    from ddr.modules.precision import pick_device

    key = (message["backbone"], message["weights_sha256"])
    if key not in _BACKBONES:  # loaded once per worker
        _BACKBONES.clear()
        _BACKBONES[key] = load_backbone(message["backbone"])
    backbone = _BACKBONES[key]
    if backbone.spec.weights_sha256 != message["weights_sha256"]:
        raise UsageError(f"backbone {message['backbone']!r} here has other weights than rank 0's")
    general = None
    if message["general"]:
        with tempfile.TemporaryDirectory(prefix="ddr-share-") as tmp:
            for name, data in message["general"].items():
                (Path(tmp) / name).write_bytes(data)
            general = PrefixModule.load(Path(tmp), backbone.spec)
    encoder = DDREncoder(backbone, general, [], None, EncoderConfig(**message["config"]))
    device = pick_device()
    return encoder if device == "cpu" else encoder.to(f"cuda:{os.environ.get('LOCAL_RANK', '0')}")
