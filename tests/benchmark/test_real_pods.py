"""The real-pod figure's report and the objects and queries it is measured with (no cluster: pure functions)."""

import math

from benchmark.real_pods import FLOOR_PASSWORD, Login, floor_objects, query_command
from benchmark.report import Failover, FirstQuery, write_failover_table, write_first_query_table
from tests.e2e.ha import write_outage


def test_the_first_query_table_gives_each_engine_its_p50_spread_and_ratio_to_the_floor() -> None:
    results = [
        FirstQuery("postgresql", [14.0, 30.0, 12.0, 16.0, 15.0], [6.0, 5.0, 7.0, 4.0, 5.0], [3.0, 2.0, 4.0, 3.0, 3.0]),
        FirstQuery("mariadb", operator=[20.0], floor=[10.0], bare_server=[2.5]),
    ]
    lines = write_first_query_table(results).splitlines()
    assert lines[1].split() == ["postgresql", "(5x)", "15.0s", "12.0s", "30.0s", "5.0s", "3.0x", "3.0s"]
    assert lines[2].split() == ["mariadb", "(1x)", "20.0s", "20.0s", "20.0s", "10.0s", "2.0x", "2.5s"]
    figures = results[0].as_json()
    assert (figures["p50"], figures["floor_p50"], figures["ratio_p50"]) == (15.0, 5.0, 3.0)


def test_a_round_without_a_floor_has_no_ratio() -> None:
    assert math.isnan(FirstQuery("mariadb", operator=[20.0], floor=[], bare_server=[]).as_json()["ratio_p50"])


def test_queries_go_through_the_service_as_the_user_and_keep_the_password_out_of_argv() -> None:
    login = Login("app", "s3cret", "shop")
    for engine, client in (("postgresql", "psql -h shop -U app -d shop"), ("mariadb", "mariadb --connect-timeout=2")):
        command = query_command(engine, "shop", login)
        assert client in command[-1] and "'select 1'" in command[-1]
        assert all("s3cret" not in part for part in command)  # it goes over stdin


def test_the_floor_is_the_bare_server_on_a_claim_or_an_empty_dir_behind_a_service_of_its_own() -> None:
    claim, server, service = floor_objects("db-0", "mariadb", on_claim=True)
    assert (claim["kind"], server["kind"], service["kind"]) == ("PersistentVolumeClaim", "Pod", "Service")
    assert server["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "db-0"}}]
    assert service["spec"] == {"selector": {"app": "db-0"}, "ports": [{"port": 3306}]}
    script = server["spec"]["containers"][0]["command"][-1]
    assert "mariadb-install-db --datadir=/data/db" in script and f"IDENTIFIED BY '{FLOOR_PASSWORD}'" in script
    bare, _ = floor_objects("db-0", "postgresql", on_claim=False)
    assert bare["spec"]["volumes"] == [{"name": "data", "emptyDir": {}}]
    assert "initdb -D /data/db -U app" in bare["spec"]["containers"][0]["command"][-1]


def test_the_failover_time_is_the_longest_pause_between_acknowledged_writes_up_to_the_first_after_the_change() -> None:
    written = [("ok", 1, 100.0), ("ok", 2, 100.3), ("fail", 3, 102.0), ("fail", 4, 105.0), ("ok", 5, 107.3),
               ("ok", 6, 107.6), ("ok", 7, 120.0)]  # fmt: skip
    # The change of primary was seen at 106: the outage runs from the last write before (100.3) to 107.3; the
    # later pause (107.6 -> 120) is not the failover's.
    assert write_outage(written, changed_at=106.0) == 7.0
    assert write_outage(written, changed_at=121.0) is None  # nothing acknowledged after the change


def test_the_failover_table_gives_each_engine_its_p50_and_spread_and_states_the_delay() -> None:
    table = write_failover_table([Failover("postgresql", [9.0, 7.0, 8.0]), Failover("mariadb", [12.5])], 5.0)
    lines = table.splitlines()
    assert lines[1].split() == ["postgresql", "(3x)", "8.0s", "7.0s", "9.0s"]
    assert lines[2].split() == ["mariadb", "(1x)", "12.5s", "12.5s", "12.5s"]
    assert "failover after 5 s not ready" in table
    assert Failover("mariadb", [3.0, 1.0]).as_json()["p50"] == 1.0
