"""What keeps data and credentials: Pulumi options on the objects that hold them.

- The StatefulSet (its data volumes go with it under deletionPolicy Delete) and the credentials and replication
  Secrets are `protect`ed: the engine refuses any step that would delete or replace them. Only the operator's
  destroy of a deleted Database lifts the protection (`pulumi state unprotect`), and destroy then follows
  `retain_on_delete`.
- The StatefulSet ignores changes to its volume claim templates: a bigger `storage.size` never replaces it. The
  operator grows the data volumes in place and re-creates the StatefulSet around the running pods
  (database_operator.storage); the re-created one has the new template.
- Under deletionPolicy Retain the Secrets outlive the Database with the data volumes: re-created with the same
  name, the Database finds the passwords its data was initialised with.
- Pulumi never deletes a Secret (`retain_on_delete` under either policy): under Delete the garbage collector
  does, once the Database is gone (their ownerReference). The provider waits for each deletion it makes by
  listing and watching the kind, which would need the right to read every Secret of the namespace.
- The backup volume is never deleted by a stack update (turning backups off keeps the dumps) and never
  replaced because of its size (the operator grows it in place); the operator deletes it with a Database whose
  policy is Delete.
"""

import pulumi

from database_api.profiles import DeletionPolicy
from database_program.context import DatabaseContext

VOLUME_TEMPLATES = "spec.volumeClaimTemplates"
VOLUME_SIZE = "spec.resources"


def secrets_outlive_database(ctx: DatabaseContext) -> bool:
    return ctx.spec.deletion_policy is DeletionPolicy.RETAIN


def credentials_options() -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(protect=True, retain_on_delete=True)


def statefulset_options() -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(protect=True, ignore_changes=[VOLUME_TEMPLATES])


def backup_volume_options() -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(retain_on_delete=True, ignore_changes=[VOLUME_SIZE])
