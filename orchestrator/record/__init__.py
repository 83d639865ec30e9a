"""The call record: every run kept as a folder of the local record, read back by ``history``.

A run folder (``.orchestrator/runs/<run-id>/``) holds the run's header
(``run.json``: the command, the files and their commits, the account, start,
end and exit code), its event log (``events.jsonl``: one event of the run
model's stream a line, then what ``history --fetch`` learned from the API), and
the recordings kept (``recordings/``). The providers keep none of this once a
call is over; the record is the team's own, like the YAML.
"""
