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
