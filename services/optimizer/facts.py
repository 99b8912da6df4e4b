"""What the optimizer knows about a loadpoint's charger: phases, phase switching and current range.

One pure function for the control cycle and the setters alike, so a setter never refuses what the state
advertises: the capabilities come from the charger-actuator's :class:`~shared.messages.ChargerStatus`
(the single owner of ``chargerPhases1p3p``); before the first status the configuration stands in
(``phases: 0`` means a switching charger, IEC 61851's 6 A the lowest current).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import Config
from shared.messages import ChargerStatus
from shared.setters.values import IEC_MIN_CURRENT_A, MAX_CURRENT_A


@dataclass(frozen=True)
class LoadpointFacts:
    physical_phases: int = 3
    switchable: bool = False
    """The charger can switch between 1 and 3 phases (``chargerPhases1p3p``)."""
    min_current_a: float = IEC_MIN_CURRENT_A
    """The lowest current the charger accepts (A)."""
    max_current_a: float = MAX_CURRENT_A
    """The highest current the charger allows (A) — where circuits limit a loadpoint, their limit too."""


def loadpoint_facts(config: Config, lp_id: int, status: ChargerStatus | None) -> LoadpointFacts:
    if status is not None:
        return LoadpointFacts(
            physical_phases=status.physical_phases,
            switchable=status.phase_switching,
            min_current_a=status.min_current_a or IEC_MIN_CURRENT_A,
            max_current_a=MAX_CURRENT_A,
        )
    lp_config = config.loadpoints[lp_id - 1]
    physical = next((c.phases for c in config.chargers if c.name == lp_config.charger), 3)
    return LoadpointFacts(physical, lp_config.phases == 0, IEC_MIN_CURRENT_A, MAX_CURRENT_A)
