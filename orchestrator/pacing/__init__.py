"""The account's limits, met: what rate-limit headers say (``headers``), waiting in line for
a place and a pace that yields and recovers (``gates``, with the read throttle and the
participant-list budget), and the dial pacer built on them (``dials``).

Nothing here knows the API's paths or the engine: the client's transport, the engine and
the sandbox's tests all build on it.
"""
