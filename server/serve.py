"""Run the app under uvicorn with a drain before the graceful shutdown.

Behind a load balancer a replica that stops accepting at the first SIGTERM turns the requests already routed to it
into connection errors until the balancer's health check notices. With `drain_s` > 0 the first SIGTERM (or SIGINT)
only marks the app as draining: /ready answers 503 `draining` while every request is still served, so the balancer
takes the replica out; `drain_s` later uvicorn's own graceful shutdown starts (stop accepting, let in-flight requests
finish within `shutdown_grace_s`, then the lifespan closes the engine). A second signal skips the rest of the drain.
Kubernetes gets the same from a preStop sleep; the setting makes it work anywhere (compose + HAProxy, systemd).
"""

from __future__ import annotations

import logging
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .settings import Settings

log = logging.getLogger("t2l.server")


class DrainingServer(uvicorn.Server):
    """uvicorn.Server whose first exit signal starts a drain of `drain_s` seconds instead of the shutdown."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, drain_s: float):
        super().__init__(config)
        self.app, self.drain_s = app, drain_s
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_s <= 0 or self.should_exit:
            super().handle_exit(sig, frame)
            return
        if self._timer is not None:  # a second signal during the drain: shut down now
            self._timer.cancel()
            super().handle_exit(sig, frame)
            return
        self.app.state.draining = True
        log.info("signal %d: draining for %.1f s (/ready answers 503), then the graceful shutdown", sig, self.drain_s)
        # uvicorn's handler only sets flags, so calling it from the timer's thread is safe
        self._timer = threading.Timer(self.drain_s, super().handle_exit, args=(sig, None))
        self._timer.daemon = True
        self._timer.start()


def serve(app: FastAPI, settings: Settings) -> None:
    """Serve until stopped: drain (settings.drain_s), then uvicorn's graceful shutdown (settings.shutdown_grace_s)."""
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                            timeout_graceful_shutdown=settings.shutdown_grace_s)
    DrainingServer(config, app, settings.drain_s).run()
