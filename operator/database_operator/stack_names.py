"""How a Database is named in Pulumi: one stack of the `database` project per Database."""

import hashlib

PROJECT = "database"
STACK_NAME_LIMIT = 100


def stack_name(namespace: str, name: str) -> str:
    """`<namespace>.<name>`: namespaces cannot contain dots, so the first dot separates the two and distinct
    Databases never share a stack. Names over Pulumi's 100 characters keep a readable prefix plus a hash."""
    full = f"{namespace}.{name}"
    if len(full) <= STACK_NAME_LIMIT:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:12]
    return f"{full[: STACK_NAME_LIMIT - len(digest) - 1]}-{digest}"
