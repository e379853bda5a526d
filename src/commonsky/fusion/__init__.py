"""Track-to-track fusion: each node's own tracks and its partners' into one common recognised air picture.

Written by hand: time alignment (constant-velocity extrapolation, rejection by age, no
retrodiction), association across owners (persistent links with hysteresis, then GNN on a
chi-square distance with Mode S / Mode A hints), covariance-intersection fusion (consistent under
unknown cross-correlation), stable system track numbers and reporting responsibility. See
`commonsky.fusion.engine` for the rules.
"""

from commonsky.fusion.config import FusionConfig
from commonsky.fusion.engine import FusionState, FusionStats, fuse, new_fusion_state
from commonsky.fusion.system_tracks import SystemTracks

__all__ = ["FusionConfig", "FusionState", "FusionStats", "SystemTracks", "fuse", "new_fusion_state"]
