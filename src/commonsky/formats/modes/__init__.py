"""Mode S / ADS-B frames (hex) to columnar plots, velocities and replies, with rs1090 for the bit-level decoding.

Input is a sequence of frames as hex strings (14 or 28 digits) with their reception times in UTC
seconds; `read_modes_text` reads the text containers (plain `HEX`, dump1090's `*HEX;`,
`TIME,HEX` and the pyModeS CSV layouts). `ModeSDecoder` keeps state between calls, so a live
feed can be decoded in chunks. What comes out (`ModeSBatch`):

- `plots`: one `Plots` row per resolved DF17/18 position (airborne TC 9-18 and 20-22, surface
  TC 5-8): `lat_deg`/`lon_deg`, barometric `altitude_m` (TC 9-18 only; NaN for GNSS-height
  TC 20-22 and surface), `mode_s`, and the latest `callsign` (TC 1-4, or BDS 2,0 in a trusted
  DF20/21), `squawk` (trusted DF5/21, TC 28) and `nacp` (TC 29/31) of that address. Range and
  azimuth are NaN. While no NACp of the address is known (version-0 transponders never send one),
  `nacp` is the one equivalent to the position's NUCp (`NUCP_AS_NACP`); -1 for NUCp 0.
- `velocities`: a `Velocities` row per TC 19 message and per surface position that carries a speed.
- `replies`: a `Replies` row per altitude (DF0/4/16/20) or identity (DF5/21) reply whose address
  is trusted.

Frames failing the CRC (`frames`) are counted as errors; replies whose AP address was not confirmed
first (`state`) are counted in `ModeSDecoder.stats["unconfirmed_replies"]` and otherwise ignored;
positions that neither a CPR pair nor a reference resolves in `stats["unresolved_positions"]`.

Modules: `schema` (the columns), `frames` (hex, downlink format, CRC), `cpr` (CPR maths),
`state` (what the stream remembers), `rs1090_adapter` (rs1090 fields), `decoder`, `text` (text containers).
"""

from commonsky.formats.modes.decoder import NUCP_AS_NACP as NUCP_AS_NACP
from commonsky.formats.modes.decoder import ModeSDecoder as ModeSDecoder
from commonsky.formats.modes.decoder import decode_modes as decode_modes
from commonsky.formats.modes.frames import REPLY_DFS as REPLY_DFS
from commonsky.formats.modes.schema import FPM_MPS as FPM_MPS
from commonsky.formats.modes.schema import FRAME_DTYPE as FRAME_DTYPE
from commonsky.formats.modes.schema import FT_M as FT_M
from commonsky.formats.modes.schema import KT_MPS as KT_MPS
from commonsky.formats.modes.schema import FrameCol as FrameCol
from commonsky.formats.modes.schema import ModeSBatch as ModeSBatch
from commonsky.formats.modes.schema import RawFrames as RawFrames
from commonsky.formats.modes.schema import Replies as Replies
from commonsky.formats.modes.schema import Velocities as Velocities
from commonsky.formats.modes.state import CONFIRM_TTL_S as CONFIRM_TTL_S
from commonsky.formats.modes.text import decode_modes_text as decode_modes_text
from commonsky.formats.modes.text import read_modes_text as read_modes_text
