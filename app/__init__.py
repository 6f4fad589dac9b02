"""AttnScope: see attention inside transformers."""

import os

# OpenMP threads that spin while waiting stall for hundreds of ms when the cores are shared (a web
# server's threads, other processes): measured 25 ms vs 580 ms per MiniLM request. Sleep instead.
# Must be set before torch is first imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
