"""The Pulumi program: a Database's spec in, Kubernetes resources out. One module per kind of object."""
