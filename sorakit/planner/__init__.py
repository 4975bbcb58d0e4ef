"""Layout and physics planning: prompt -> scene graph -> simulated per-frame boxes (a plan)."""

from sorakit.planner.parse import Parse, parse
from sorakit.planner.plan import PlanError, check_plan, load_plan, make_plan, save_plan
from sorakit.planner.policy import Planner, Reading
from sorakit.planner.substitute import Substituter

__all__ = [
    "Parse",
    "PlanError",
    "Planner",
    "Reading",
    "Substituter",
    "check_plan",
    "load_plan",
    "make_plan",
    "parse",
    "save_plan",
]
