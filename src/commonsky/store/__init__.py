"""Recorder and replay: every input a node receives is recorded before it is processed."""

from commonsky.store.recording import InputEvent, Recorder, batch_to_bytes, plots_from_bytes, read_events, read_meta

__all__ = ["InputEvent", "Recorder", "batch_to_bytes", "plots_from_bytes", "read_events", "read_meta"]
