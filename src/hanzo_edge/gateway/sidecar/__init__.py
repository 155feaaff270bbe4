"""Hanzo's ingress sidecar (hanzoai/gateway ``cmd/ingress``): a host router configured by ``ingress.json``, served by
``gateway ingress -c ingress.json`` on the host-table code of the gateway's Hanzo chain (``gateway/hanzo/``)."""
