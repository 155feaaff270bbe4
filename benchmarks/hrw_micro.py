"""CPU cost of a ``highestRandomWeight`` pick (rendezvous hashing of the client IP) next to a ``weighted`` pick.

Three figures per child count: a client IP seen before (the remembered pick: one dict lookup), a client IP never
seen (the FNV-1a scores of every child, in Python), and the weighted round robin pick for scale. No sockets: the
balancers' ``pick`` is timed directly, so the figure is the balancing cost a request pays on top of the proxy.

Run: ``python benchmarks/hrw_micro.py [--children 2,8,32] [--picks 200000]`` (``--smoke``: a few thousand picks).
"""

from __future__ import annotations

import argparse
import ipaddress
import time
from collections.abc import Callable

from hanzo_edge.http.messages import Handler, Request, Response
from hanzo_edge.services.hrw import HighestRandomWeight
from hanzo_edge.services.wrr import WeightedRoundRobin


async def _child(req: Request) -> Response:  # never called: only picks are timed
    raise NotImplementedError


def _children(count: int) -> list[tuple[str, float, Handler]]:
    return [(f"svc-{n}@file", float(1 + n % 3), _child) for n in range(count)]


def _per_pick_us(pick: Callable[[int], object], picks: int) -> float:
    started = time.perf_counter()
    for n in range(picks):
        pick(n)
    return (time.perf_counter() - started) / picks * 1e6


def measure(count: int, picks: int) -> dict[str, float]:
    hrw = HighestRandomWeight(_children(count), "bench@file")
    wrr = WeightedRoundRobin(_children(count), "bench@file")
    known = [str(ipaddress.IPv4Address(0x0A000000 + n)) for n in range(1000)]
    for ip in known:
        hrw.pick(ip)
    # Fresh IPs every pick (more than the remembered picks hold, so the memory keeps being dropped and refilled).
    fresh = [str(ipaddress.IPv4Address(0x0B000000 + n)) for n in range(picks)]
    return {
        "hrw_known_ip_us": _per_pick_us(lambda n: hrw.pick(known[n % 1000]), picks),
        "hrw_new_ip_us": _per_pick_us(lambda n: hrw.pick(fresh[n]), picks),
        "wrr_us": _per_pick_us(lambda n: wrr.pick(), picks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", default="2,8,32", help="comma-separated child counts")
    parser.add_argument("--picks", type=int, default=200_000)
    parser.add_argument("--smoke", action="store_true", help="a few thousand picks: proves it runs, measures nothing")
    args = parser.parse_args()
    picks = 3_000 if args.smoke else args.picks
    print(f"{'children':>8} {'hrw known IP':>14} {'hrw new IP':>12} {'wrr':>8}   (us per pick, {picks} picks)")
    for count in (int(c) for c in args.children.split(",")):
        figures = measure(count, picks)
        print(
            f"{count:>8} {figures['hrw_known_ip_us']:>14.3f} {figures['hrw_new_ip_us']:>12.3f} "
            f"{figures['wrr_us']:>8.3f}"
        )


if __name__ == "__main__":
    main()
