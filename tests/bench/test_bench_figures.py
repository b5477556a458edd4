"""The figures a fan-out report derives from its steps: CPU per delivery, what bound a step,
when a sweep stops, and the per-rate comparison of servers (no processes started)."""

from benchmarks.fanout import cpu_per_delivery, cpu_table, limited_by, summarize, sweep_ends_after
from benchmarks.report import cpu_per_delivery_markdown


def step(rate, *, server=0.5, generator=0.5, per_s=100_000.0, sustained=True, child=0.0):
    s = {"rate_per_room": rate, "server_cpu": [server], "server_child_cpu": [child], "redis_cpu": None,
         "generator_cpu": generator, "deliveries_per_s": per_s, "sustained": sustained,
         "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0}
    s["server_cpu_us_per_delivery"] = cpu_per_delivery(s)
    s["limited_by"] = limited_by(s, 1)
    return s


def test_cpu_per_delivery_counts_the_nodes_children():
    assert step(10, server=0.5, child=0.1, per_s=100_000)["server_cpu_us_per_delivery"] == 6.0
    assert cpu_per_delivery({"deliveries_per_s": None, "server_cpu": [0.5]}) is None


def test_a_step_is_limited_by_whichever_side_was_nearly_full():
    assert step(10, generator=0.9, server=0.9)["limited_by"] == "generator"
    assert step(10, generator=0.5, server=0.9)["limited_by"] == "server"
    assert step(10, generator=0.5, server=0.5)["limited_by"] == "neither"
    assert limited_by({"generator_cpu": 1.5, "server_cpu": [0.2]}, 2) == "neither"  # two cores


def test_the_sweep_goes_on_past_a_step_only_the_generator_could_not_keep_up_with():
    assert not sweep_ends_after(step(10))
    assert not sweep_ends_after(step(20, generator=0.95, sustained=False))
    assert sweep_ends_after(step(40, generator=0.5, server=0.95, sustained=False))
    summary = summarize([step(10), step(20, generator=0.95, per_s=150_000, sustained=False)])
    assert summary["peak_limited_by"] == "generator" and summary["generator_bound_steps"] == 1


def test_cpu_table_compares_every_server_at_each_rate():
    runs = [{"server": "livebridge", "members_per_room": 1000,
             "steps": [step(40, server=0.4), step(80, server=0.8, generator=0.9)]},
            {"server": "raw", "members_per_room": 1000,
             "steps": [step(40, server=0.5), step(80, server=1.0, generator=0.9)]}]
    rows = cpu_table(runs)
    assert [(r["rate_per_room"], r["us_per_delivery"]["livebridge"], r["livebridge_over"]["raw"])
            for r in rows] == [(40, 4.0, 0.8), (80, 8.0, 0.8)]
    text = "\n".join(cpu_per_delivery_markdown({"cpu_per_delivery": rows}))
    assert "| 1,000 | 80 | 8.00* | 10.00* | 0.80x |" in text


def test_a_server_run_twice_is_reported_twice():
    runs = [{"server": s, "members_per_room": 10, "steps": [step(2, server=x)]}
            for s, x in (("livebridge", 0.4), ("raw", 0.5), ("livebridge", 0.6))]
    (row,) = cpu_table(runs)
    assert row["us_per_delivery"] == {"livebridge": 4.0, "raw": 5.0, "livebridge 2": 6.0}


def test_joinstorm_limited_by_names_the_busy_side():
    from benchmarks.joinstorm import limited_by

    assert limited_by(0.9, 0.95) == "generator"  # a generator-bound fill says nothing of the server's ceiling
    assert limited_by(0.5, 0.9) == "server"
    assert limited_by(0.5, 0.6) == "neither"


def test_a_steps_commits_are_the_store_counters_difference():
    from benchmarks.fanout import store_step

    before = {"batches": 10, "appended": 100, "commit_lag_ms": {"mean": 2.0}}
    after = {"batches": 30, "appended": 600, "commit_lag_ms": {"mean": 4.0}}
    got = store_step(before, after)
    assert got == {"batches": 20, "appended": 500, "appends_per_batch": 25.0,
                   # (4.0 * 600 - 2.0 * 100) / 500
                   "commit_lag_mean_ms": 4.4}
    assert store_step(None, after) is None
    assert store_step({"error": "503"}, after) is None
    assert store_step(after, after)["appends_per_batch"] is None


def test_an_ack_echoing_the_sends_ref_is_an_ack_latency_of_its_step():
    from benchmarks.adapters import LiveBridgeAdapter, message_text

    recorded = []

    class Worker:
        def record_ack(self, step, latency_us):
            recorded.append((step, latency_us))

    class Member:
        worker = Worker()

    adapter = LiveBridgeAdapter("json")
    import json
    import time
    sent_at = time.time_ns() // 1000 - 5_000
    send = json.loads(adapter.send_payload("r1", message_text(sent_at, 7, 100)))
    ack = json.dumps({"type": "ack", "room": "r1", "status": "published", "id": "m", "offset": 3,
                      "epoch": "e", "ref": send["ref"]}, separators=(",", ":")).encode()
    adapter.other(Member(), ack)
    adapter.other(Member(), b'{"type":"presence","ref":"~A00"}')  # not an ack: nothing
    assert [step for step, _ in recorded] == [7]
    assert recorded[0][1] >= 5_000


def test_process_counters_add_up_over_processes():
    import os

    from benchmarks.sysinfo import counters_delta, proc_counters

    now = proc_counters(os.getpid())
    assert now["user_s"] >= 0 and now["voluntary_switches"] >= 0
    before = {1: {"user_s": 1.0, "sys_s": 0.5, "voluntary_switches": 3, "involuntary_switches": 1}}
    after = {1: {"user_s": 1.5, "sys_s": 0.75, "voluntary_switches": 10, "involuntary_switches": 1},
             2: {"user_s": 0.25, "sys_s": 0.0, "voluntary_switches": 2, "involuntary_switches": 0}}
    assert counters_delta(before, after) == {"user_s": 0.75, "sys_s": 0.25, "voluntary_switches": 9,
                                             "involuntary_switches": 0}
    assert proc_counters(2**22 + 12345)["user_s"] == 0.0  # no such process
