"""orchestrator's tests.

The suite starts four xdist workers and dozens of ``python -m orchestrator``
subprocesses. Where the environment says PYTHONDONTWRITEBYTECODE, each of them
compiled the whole package again and pytest rewrote every test module again:
a third of the suite's time on a 2-core machine. Bytecode is written for the
test run (``__pycache__`` is ignored by git); the subprocesses only read it.
"""

import sys

sys.dont_write_bytecode = False
