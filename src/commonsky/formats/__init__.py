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
    from commonsky.formats.ais import AisReports as AisReports
    from commonsky.formats.ais import decode_ais as decode_ais
    from commonsky.formats.asterix import AsterixDecoded as AsterixDecoded
    from commonsky.formats.asterix import ServiceMessages as ServiceMessages
    from commonsky.formats.asterix import decode_asterix as decode_asterix
    from commonsky.formats.asterix import decode_recording as decode_recording
    from commonsky.formats.asterix import encode_cat021 as encode_cat021
    from commonsky.formats.asterix import encode_cat034 as encode_cat034
    from commonsky.formats.asterix import encode_cat048 as encode_cat048
    from commonsky.formats.asterix import encode_cat062 as encode_cat062
    from commonsky.formats.asterix import encode_cat063 as encode_cat063
    from commonsky.formats.asterix import encode_cat065 as encode_cat065
    from commonsky.formats.beast import BeastFrames as BeastFrames
    from commonsky.formats.beast import BeastReader as BeastReader
    from commonsky.formats.beast import decode_beast as decode_beast
    from commonsky.formats.beast import read_beast as read_beast
    from commonsky.formats.containers import detect_format as detect_format
    from commonsky.formats.containers import read_recording as read_recording
    from commonsky.formats.contracts import TracksCsvWriter as TracksCsvWriter
    from commonsky.formats.contracts import read_plots as read_plots
    from commonsky.formats.contracts import read_sensors as read_sensors
    from commonsky.formats.contracts import read_tracks as read_tracks
    from commonsky.formats.contracts import read_truth as read_truth
    from commonsky.formats.contracts import write_plots as write_plots
    from commonsky.formats.contracts import write_sensors as write_sensors
    from commonsky.formats.contracts import write_tracks as write_tracks
    from commonsky.formats.contracts import write_truth as write_truth
    from commonsky.formats.modes import ModeSBatch as ModeSBatch
    from commonsky.formats.modes import ModeSDecoder as ModeSDecoder
    from commonsky.formats.modes import RawFrames as RawFrames
    from commonsky.formats.modes import Replies as Replies
    from commonsky.formats.modes import Velocities as Velocities
    from commonsky.formats.modes import decode_modes as decode_modes
    from commonsky.formats.modes import decode_modes_text as decode_modes_text
    from commonsky.formats.modes import read_modes_text as read_modes_text
    from commonsky.formats.report import DecodeReport as DecodeReport
    from commonsky.formats.sbs import decode_sbs as decode_sbs
    from commonsky.formats.sbs import encode_sbs as encode_sbs

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
"""Module of this package -> the public names it defines (the type checker reads the same from the imports above)."""
_HOME = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
