"""ASTERIX decode (CAT001, 002, 021, 034, 048, 062, 063, 065) and encode (all but 001/002) via libasterix."""

from commonsky.formats.asterix.decode import (
    AsterixDecoded,
    ServiceMessages,
    decode_asterix,
    decode_recording,
    parse_sensor_id,
    sensor_ids,
)
from commonsky.formats.asterix.encode import (
    MAX_BLOCK_BYTES,
    encode_cat021,
    encode_cat034,
    encode_cat048,
    encode_cat062,
    encode_cat063,
    encode_cat065,
)
from commonsky.formats.asterix.specs import DEFAULT_EDITIONS

__all__ = [
    "DEFAULT_EDITIONS",
    "MAX_BLOCK_BYTES",
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
    "parse_sensor_id",
    "sensor_ids",
]
