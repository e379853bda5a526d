"""Adapters between the outside world's formats and the columnar batches of `commonsky.core`.

File contracts (CSV/Parquet) are written here; ASTERIX items come from `libasterix`'s generated
specifications, Mode S/ADS-B bit fields from `rs1090`, AIS from `pyais`: only the glue (framing,
CPR pairing, address confirmation, columns, fast paths validated against those libraries) is ours.

The public names below are imported on first use (PEP 562): the ASTERIX specifications take
seconds to load, and what needs only the format registry (`commonsky --help`) should not wait.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from commonsky.formats.ais import AisReports, decode_ais
    from commonsky.formats.asterix import (
        AsterixDecoded,
        ServiceMessages,
        decode_asterix,
        decode_recording,
        encode_cat021,
        encode_cat034,
        encode_cat048,
        encode_cat062,
        encode_cat063,
        encode_cat065,
    )
    from commonsky.formats.beast import BeastFrames, BeastReader, decode_beast, read_beast
    from commonsky.formats.containers import detect_format, read_recording
    from commonsky.formats.contracts import (
        TracksCsvWriter,
        read_plots,
        read_sensors,
        read_tracks,
        read_truth,
        write_plots,
        write_sensors,
        write_tracks,
        write_truth,
    )
    from commonsky.formats.modes import (
        ModeSBatch,
        ModeSDecoder,
        RawFrames,
        Replies,
        Velocities,
        decode_modes,
        decode_modes_text,
        read_modes_text,
    )
    from commonsky.formats.report import DecodeReport
    from commonsky.formats.sbs import decode_sbs, encode_sbs

_MODULES: dict[str, tuple[str, ...]] = {
    "ais": ("AisReports", "decode_ais"),
    "asterix": (
        "AsterixDecoded",
        "ServiceMessages",
        "decode_asterix",
        "decode_recording",
        "encode_cat021",
        "encode_cat034",
        "encode_cat048",
        "encode_cat062",
        "encode_cat063",
        "encode_cat065",
    ),
    "beast": ("BeastFrames", "BeastReader", "decode_beast", "read_beast"),
    "containers": ("detect_format", "read_recording"),
    "contracts": (
        "TracksCsvWriter",
        "read_plots",
        "read_sensors",
        "read_tracks",
        "read_truth",
        "write_plots",
        "write_sensors",
        "write_tracks",
        "write_truth",
    ),
    "modes": (
        "ModeSBatch",
        "ModeSDecoder",
        "RawFrames",
        "Replies",
        "Velocities",
        "decode_modes",
        "decode_modes_text",
        "read_modes_text",
    ),
    "report": ("DecodeReport",),
    "sbs": ("decode_sbs", "encode_sbs"),
}
"""Module of this package -> the public names it defines."""
_HOME = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AisReports",
    "AsterixDecoded",
    "BeastFrames",
    "BeastReader",
    "DecodeReport",
    "ModeSBatch",
    "ModeSDecoder",
    "RawFrames",
    "Replies",
    "ServiceMessages",
    "TracksCsvWriter",
    "Velocities",
    "decode_ais",
    "decode_asterix",
    "decode_beast",
    "decode_modes",
    "decode_modes_text",
    "decode_recording",
    "decode_sbs",
    "detect_format",
    "encode_cat021",
    "encode_cat034",
    "encode_cat048",
    "encode_cat062",
    "encode_cat063",
    "encode_cat065",
    "encode_sbs",
    "read_beast",
    "read_modes_text",
    "read_plots",
    "read_recording",
    "read_sensors",
    "read_tracks",
    "read_truth",
    "write_plots",
    "write_sensors",
    "write_tracks",
    "write_truth",
]


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
