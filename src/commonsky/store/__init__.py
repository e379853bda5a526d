"""Recorder and replay: every input a node receives is recorded before it is processed; checkpoints bound restarts."""

from commonsky.store.recording import (
    Checkpoint,
    InputEvent,
    Recorder,
    batch_from_bytes,
    batch_to_bytes,
    checkpoints,
    plots_from_bytes,
    prune,
    read_events,
    read_meta,
    segments,
    write_atomically,
    write_checkpoint,
)

__all__ = [
    "Checkpoint",
    "InputEvent",
    "Recorder",
    "batch_from_bytes",
    "batch_to_bytes",
    "checkpoints",
    "plots_from_bytes",
    "prune",
    "read_events",
    "read_meta",
    "segments",
    "write_atomically",
    "write_checkpoint",
]
