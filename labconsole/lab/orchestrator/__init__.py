"""The lab loop, split by responsibility; see core.py for how the parts are wired."""

from labconsole.lab.orchestrator.agents import InFlight
from labconsole.lab.orchestrator.core import Orchestrator, OrchestratorOptions
from labconsole.lab.orchestrator.port import LabPort
from labconsole.lab.orchestrator.scheduling import MAX_ATTEMPTS, QUEUE_AHEAD

__all__ = ["MAX_ATTEMPTS", "QUEUE_AHEAD", "InFlight", "LabPort", "Orchestrator", "OrchestratorOptions"]
