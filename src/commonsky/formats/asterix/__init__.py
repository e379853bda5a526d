"""ASTERIX decode (CAT001, 002, 021, 034, 048, 062, 063, 065) and encode (all but 001/002) via libasterix."""

from commonsky.formats.asterix.decode import AsterixDecoded as AsterixDecoded
from commonsky.formats.asterix.decode import ServiceMessages as ServiceMessages
from commonsky.formats.asterix.decode import decode_asterix as decode_asterix
from commonsky.formats.asterix.decode import decode_recording as decode_recording
from commonsky.formats.asterix.decode import parse_sensor_id as parse_sensor_id
from commonsky.formats.asterix.decode import sensor_ids as sensor_ids
from commonsky.formats.asterix.encode import MAX_BLOCK_BYTES as MAX_BLOCK_BYTES
from commonsky.formats.asterix.encode import encode_cat021 as encode_cat021
from commonsky.formats.asterix.encode import encode_cat034 as encode_cat034
from commonsky.formats.asterix.encode import encode_cat048 as encode_cat048
from commonsky.formats.asterix.encode import encode_cat062 as encode_cat062
from commonsky.formats.asterix.encode import encode_cat063 as encode_cat063
from commonsky.formats.asterix.encode import encode_cat065 as encode_cat065
from commonsky.formats.asterix.specs import DEFAULT_EDITIONS as DEFAULT_EDITIONS
