"""``python -m hanzo_edge`` runs the ``ingress`` command."""

from hanzo_edge.cli import ingress_main

raise SystemExit(ingress_main())
