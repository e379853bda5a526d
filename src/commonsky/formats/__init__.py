"""Adapters between the outside world's formats and the columnar batches of `commonsky.core`."""

from commonsky.formats.contracts import (
    read_plots,
    read_sensors,
    read_tracks,
    read_truth,
    write_plots,
    write_sensors,
    write_tracks,
    write_truth,
)

__all__ = [
    "read_plots",
    "read_sensors",
    "read_tracks",
    "read_truth",
    "write_plots",
    "write_sensors",
    "write_tracks",
    "write_truth",
]
