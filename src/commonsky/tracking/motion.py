"""The IMM's motion models as a table: one row per model, which the compiled kernels iterate over.

A model is a kinematic prediction (constant velocity, or coordinated turn with an unknown rate)
with its process noise, plus the rate at which the IMM switches into it. Switching follows a
continuous-time Markov chain that jumps into model j at rate `entry_rate_hz[j]` from any other,
which for two models is the usual pair of mean sojourn times. Adding a model is adding a row.

There is one table per motion regime: in the air, on the ground (an aircraft reporting ADS-B
surface positions: slow, with sharp taxiway turns and no vertical motion), and on the water (a vessel:
nearly constant velocity with slow changes, a manoeuvre model for small fast craft and turns, no vertical
motion; an anchored vessel is a constant velocity of zero). A track's `on_ground` flag and domain pick
its table (`AIR`, `SURFACE`, `VESSEL`); all have the same models, so an aircraft's state carries over.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from commonsky.core.arrays import F64, I64
from commonsky.tracking.config import TrackerConfig

# Columns of a model table row, as the kernels read them.
M_TURN, M_Q, M_Q_TURN, M_Q_VERTICAL, M_ENTRY_RATE = 0, 1, 2, 3, 4
N_MODEL_COLUMNS = 5
AIR, SURFACE, VESSEL = 0, 1, 2
"""Index of each regime's table in `model_tables` and `gate_models`."""


def regime(on_ground: NDArray[np.bool_], vessel: NDArray[np.bool_]) -> I64:
    """Each track's regime, as the kernels index the tables by it: `VESSEL` in the surface domain, `SURFACE` for
    an aircraft on the ground, else `AIR`."""
    return np.where(vessel, VESSEL, np.where(on_ground, SURFACE, AIR)).astype(np.int64)


@dataclass(frozen=True)
class MotionModel:
    """One model of the IMM: how it predicts, how noisy it is, how often the target enters it."""

    name: str
    turn: bool
    """Coordinated turn (the turn rate is estimated) rather than constant velocity."""
    q_mps2: float
    """Horizontal acceleration noise density, sqrt(m^2/s^3)."""
    q_turn_rate_rps: float
    """Turn-rate noise density, rad/s per sqrt(s)."""
    q_vertical_mps2: float
    """Vertical acceleration noise density, sqrt(m^2/s^3)."""
    entry_rate_hz: float
    """Rate at which a target in any other model switches into this one."""
    initial_probability: float
    """Probability of this model for a new track."""

    def row(self) -> F64:
        """The model as one row of the kernels' table."""
        row = np.empty(N_MODEL_COLUMNS)
        row[M_TURN] = float(self.turn)
        row[M_Q] = self.q_mps2
        row[M_Q_TURN] = self.q_turn_rate_rps
        row[M_Q_VERTICAL] = self.q_vertical_mps2
        row[M_ENTRY_RATE] = self.entry_rate_hz
        return row


def motion_models(cfg: TrackerConfig) -> tuple[MotionModel, ...]:
    """The tracker's models: constant velocity (a little turn-rate noise keeps omega near zero) and turn."""
    q_turn = float(np.radians(cfg.q_turn_rate_dps))
    return (
        MotionModel("cv", False, cfg.q_cv_mps2, q_turn * 0.1, cfg.q_vertical_mps2, 1.0 / cfg.ct_mean_sojourn_s, 0.8),
        MotionModel("ct", True, cfg.q_ct_mps2, q_turn, cfg.q_vertical_mps2, 1.0 / cfg.cv_mean_sojourn_s, 0.2),
    )


def surface_models(cfg: TrackerConfig) -> tuple[MotionModel, ...]:
    """The same models on the ground: taxiing accelerations, taxiway turn rates, no vertical motion to speak of."""
    q_turn = float(np.radians(cfg.q_surface_turn_rate_dps))
    q_vertical = SURFACE_VERTICAL_Q_MPS2
    return (
        MotionModel("cv", False, cfg.q_surface_mps2, q_turn * 0.1, q_vertical, 1.0 / cfg.ct_mean_sojourn_s, 0.8),
        MotionModel("ct", True, cfg.q_surface_mps2, q_turn, q_vertical, 1.0 / cfg.cv_mean_sojourn_s, 0.2),
    )


def vessel_models(cfg: TrackerConfig) -> tuple[MotionModel, ...]:
    """A vessel's models: nearly constant velocity, and a manoeuvre (turn, speed change, a fast craft's dash)."""
    q_turn = float(np.radians(cfg.q_vessel_turn_rate_dps))
    q_vertical = SURFACE_VERTICAL_Q_MPS2
    return (
        MotionModel("cv", False, cfg.q_vessel_mps2, q_turn * 0.1, q_vertical, 1.0 / cfg.ct_mean_sojourn_s, 0.8),
        MotionModel("ct", True, cfg.q_vessel_manoeuvre_mps2, q_turn, q_vertical, 1.0 / cfg.cv_mean_sojourn_s, 0.2),
    )


REGIMES = (motion_models, surface_models, vessel_models)
"""Each regime's models, in the order of the regime indices."""

SURFACE_VERTICAL_Q_MPS2 = 0.01
"""Vertical noise of a track on the ground: its height hardly moves (surface positions carry none)."""


def model_tables(cfg: TrackerConfig) -> F64:
    """(R, M, N_MODEL_COLUMNS): the models of each regime (`AIR`, `SURFACE`, `VESSEL`), in the order of the state's
    model axis."""
    return np.stack([np.stack([m.row() for m in models(cfg)]) for models in REGIMES])


def gate_models(cfg: TrackerConfig) -> F64:
    """(R, N_MODEL_COLUMNS): per regime, the single generous model gating predicts with: constant velocity
    with the turn model's noise."""
    turns = [models(cfg)[1] for models in REGIMES]
    return np.stack(
        [replace(m, name="gate", turn=False, entry_rate_hz=0.0, initial_probability=1.0).row() for m in turns]
    )


def initial_probabilities(cfg: TrackerConfig) -> F64:
    """(M,) model probabilities of a new track."""
    return np.array([m.initial_probability for m in motion_models(cfg)])
