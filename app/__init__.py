"""AttnScope's web app (installed as ``attnscope_server``): FastAPI routes, the page, the live class.

The library it serves is :mod:`attnscope`; this package adds the web stack (``attnscope[server]``).
"""

import os

# OpenMP threads that spin while waiting stall for hundreds of ms when the cores are shared (a web
# server's threads, other processes): measured 25 ms vs 580 ms per MiniLM request. Sleep instead.
# Must be set before torch is first imported, hence here (and in attnscope/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
