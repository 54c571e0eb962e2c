"""What went wrong with a stack operation, and whether trying again later can help."""

from pulumi import automation as auto

# Error texts that mean "this spec cannot be deployed": only a change of the spec helps. Everything else
# (API server unavailable, timeouts, conflicts like "the object has been modified", a webhook that could not be
# called, RBAC being fixed, a cut connection) is worth trying again later, within a visible retry budget.
_NEEDS_SPEC_CHANGE_MARKERS = (
    " is invalid: ",  # the API server refused the object: `<Kind> "<name>" is invalid: <field>: ...`
    "field is immutable",
    "denied the request",  # an admission webhook (ours or a policy engine) refused the object
    "specerror",  # the program refused the spec by our own rules (database_api.spec.SpecError)
)


_GENERIC_LINES = frozenset({"error: preview failed", "error: update failed", "error: destroy failed"})


class StackError(Exception):
    """A stack operation did not succeed."""

    transient = False
    reason = "OperationFailed"
    """The Reconciled condition's reason when this error stops a Database."""


class StackBusy(StackError):
    """Another live operation holds the stack's lock."""

    transient = True


class StackOperationFailed(StackError):
    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def classify(error: auto.CommandError) -> StackError:
    """Map an Automation API error to what the operator should do about it."""
    if isinstance(error, auto.ConcurrentUpdateError):
        return StackBusy("another operation holds the stack's lock")
    text = str(error)
    lowered = text.lower()
    # The CLI's error lines carry the useful part; keep them (once each, without the generic "preview failed"
    # that follows a specific one), drop the progress output.
    lines = [line[line.lower().index("error:") :].strip() for line in text.splitlines() if "error:" in line.lower()]
    unique = list(dict.fromkeys(lines))
    specific = [line for line in unique if line.lower() not in _GENERIC_LINES] or unique
    message = " ".join(specific)[:2000] if specific else text[-2000:]
    return StackOperationFailed(message, transient=not any(marker in lowered for marker in _NEEDS_SPEC_CHANGE_MARKERS))
