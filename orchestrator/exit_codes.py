"""Exit codes a script can rely on; the same numbers appear in JSON reports."""

OK = 0
FAILED = 1  # nothing could be done: invalid files, authentication, API unreachable
USAGE = (
    2  # the command line is wrong (validate, plan: also "changes present" with --detailed-exitcode)
)
# plan --detailed-exitcode and status share USAGE's number, as Terraform's plan does:
# 2 means "apply would change something" / "live state differs from the file".
CHANGES = 2
DRIFT = 2
PARTIAL = 3  # some participants did not converge
# Stopped by a signal: 128 + its number, as a shell reports a process the signal ended,
# so `timeout`, CI runners and `docker stop` see the signal they sent.
HUNG_UP = 129  # SIGHUP: the terminal closed, or a supervisor asked to stop
INTERRUPTED = 130  # SIGINT: Ctrl-C
TERMINATED = 143  # SIGTERM: timeout, CI cancellation, docker stop
