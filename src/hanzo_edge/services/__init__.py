"""Services: the handlers at the end of a router's chain (Traefik ``pkg/server/service``).

Every service is a :data:`~hanzo_edge.http.messages.Handler`; composite services wrap other services.

* :mod:`.wrr` / :mod:`.p2c` / :mod:`.hrw_servers` / :mod:`.leasttime` — load balancers over servers
  (``loadBalancer.strategy``), :mod:`.loadbalancer` assembles one with its health checks from plain arguments;
* :mod:`.sticky` — sticky-session cookies for any balancer level;
* :mod:`.health` (+ :mod:`.health_probe`) and :mod:`.passive` — active and passive health checks;
* :mod:`.weighted`, :mod:`.failover`, :mod:`.mirroring` — services over services;
* :mod:`.status` — health propagation (down via ``set_status``, up via status updaters);
* :mod:`.generation` — :class:`~hanzo_edge.services.generation.TaskScope`, the background tasks of one
  configuration generation.

This package imports only ``hanzo_edge.http``: configuration reaches it as plain constructor arguments.
"""
