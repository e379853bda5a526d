"""The IMM's motion models as a table: one row per model, which the compiled kernels iterate over.

A model is a kinematic prediction (constant velocity, or coordinated turn with an unknown rate)
with its process noise, plus the rate at which the IMM switches into it. Switching follows a
continuous-time Markov chain that jumps into model j at rate `entry_rate_hz[j]` from any other,
which for two models is the usual pair of mean sojourn times. Adding a model is adding a row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from commonsky.tracking.config import TrackerConfig

F64 = NDArray[np.float64]

# Columns of a model table row, as the kernels read them.
M_TURN, M_Q, M_Q_TURN, M_Q_VERTICAL, M_ENTRY_RATE = 0, 1, 2, 3, 4
N_MODEL_COLUMNS = 5


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


def model_table(cfg: TrackerConfig) -> F64:
    """(M, N_MODEL_COLUMNS) table of the tracker's models, in the order of the state's model axis."""
    return np.stack([m.row() for m in motion_models(cfg)])


def gate_model(cfg: TrackerConfig) -> F64:
    """The single generous model gating predicts with: constant velocity with the turn model's noise."""
    q_turn = float(np.radians(cfg.q_turn_rate_dps))
    return MotionModel("gate", False, cfg.q_ct_mps2, q_turn, cfg.q_vertical_mps2, 0.0, 1.0).row()


def initial_probabilities(cfg: TrackerConfig) -> F64:
    """(M,) model probabilities of a new track."""
    return np.array([m.initial_probability for m in motion_models(cfg)])
