"""High availability for environments that ask for it: a PodDisruptionBudget and pod anti-affinity."""

from pulumi_kubernetes.core.v1 import (
    AffinityArgs,
    PodAffinityTermArgs,
    PodAntiAffinityArgs,
    WeightedPodAffinityTermArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudget, PodDisruptionBudgetSpecArgs

from database_program.context import DatabaseContext


def pod_anti_affinity(ctx: DatabaseContext) -> AffinityArgs | None:
    """Spread replicas over nodes. Preferred, not required, so a small cluster still schedules them all."""
    if not ctx.environment.high_availability:
        return None
    return AffinityArgs(
        pod_anti_affinity=PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname",
                        label_selector=LabelSelectorArgs(match_labels=ctx.selector_labels),
                    ),
                )
            ]
        )
    )


def declare_disruption_budget(ctx: DatabaseContext) -> PodDisruptionBudget | None:
    """At most one pod down at a time through voluntary disruptions (drains, upgrades)."""
    if not ctx.environment.high_availability:
        return None
    annotations = {}
    if ctx.environment.availability_target:
        annotations["database.example.com/availability-target"] = ctx.environment.availability_target
    return PodDisruptionBudget(
        ctx.name,
        metadata=ctx.metadata(ctx.name, annotations=annotations or None),
        spec=PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=LabelSelectorArgs(match_labels=ctx.selector_labels)
        ),
    )
