"""apply's HTTP face: the ``--listen`` server (callbacks that wake the watch, ``/healthz``,
``/metrics``) and the board, served as one aiohttp application."""
