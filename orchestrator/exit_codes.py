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
INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT)
