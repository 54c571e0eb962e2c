"""Entry point for `pulumi preview` / `pulumi up` in this directory; the operator runs the same function inline."""

from database_program.program import declare_from_stack_config

declare_from_stack_config()
