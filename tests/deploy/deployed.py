"""Where scripts/deploy puts the operator."""

OPERATOR_NAMESPACE = "database-operator"
SELECTOR = "app.kubernetes.io/name=database-operator"
