"""Container HEALTHCHECK: exit 0 when GET /ready answers 200 (ready; Redis may be degraded), 1 otherwise.

Python's standard library only, so the image needs no curl. The port comes from T2L_PORT like the service's."""

import os
import sys
import urllib.error
import urllib.request

port = os.environ.get("T2L_PORT", "8000")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=4) as response:
        sys.exit(0 if response.status == 200 else 1)
except (urllib.error.URLError, OSError, ValueError) as exc:
    print(f"not ready: {exc}", file=sys.stderr)
    sys.exit(1)
