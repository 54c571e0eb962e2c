"""The kopf controller: runs each Database custom resource as a Pulumi Automation API stack."""
