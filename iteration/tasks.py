"""Celery tasks of the iteration pillar: thin wrappers around the services, one module per area so
Celery's autodiscovery (which imports this module) registers them all."""

from iteration.tasks_imports import *  # noqa: F403
from iteration.tasks_metrics import *  # noqa: F403
from iteration.tasks_stalls import *  # noqa: F403
from iteration.tasks_suggestions import *  # noqa: F403
