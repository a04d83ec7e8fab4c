"""The refine worker: rq's forking worker with the heavy imports done once, before the first fork.

rq runs each job in a forked child (a crashed or stopped job never takes the worker down). A child that imports
torch and transformers itself pays several seconds per job; forked from a parent that has them, it starts with
them. Run it as `rq worker -w server.refine_worker.RefineWorker --url REDIS_URL t2l-refine` (make serve does).
"""

from __future__ import annotations

from rq import Worker
import server.refine_job  # noqa: F401
import ground.prompt  # noqa: F401
from .settings import Settings


class RefineWorker(Worker):
    def __init__(self, *args, **kwargs) -> None:
        import os

        import torch  # noqa: F401  (imported for the forked children)
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

        # lazy: preloaded once in the worker process, so the jobs it forks start with them imported
        import hypernet.refine  # noqa: F401

        niceness = Settings().refine_nice
        if niceness > 0:  # serving first where the worker shares the service's cores (the children inherit it)
            os.nice(niceness)
        super().__init__(*args, **kwargs)
