"""Leader election settings: the oldest operator leads; peering is cluster-wide however many namespaces are served."""

import kopf

from database_operator.leadership import configure_peering, start_priority


def test_an_operator_started_earlier_outranks_one_started_later() -> None:
    leader, newcomer = start_priority(1_700_000_000_000_000_000), start_priority(1_700_000_000_000_001_000)
    assert leader > newcomer > 0  # a microsecond apart is enough: equal priorities would pause both


def test_peering_is_cluster_wide_with_the_configured_lifetime() -> None:
    settings = kopf.OperatorSettings()
    configure_peering(settings, lifetime_seconds=15)
    assert settings.peering.clusterwide and settings.peering.lifetime == 15
    assert settings.peering.priority > 0
