"""Kubernetes providers: the API client (`client`), connection settings (`kubeconfig`), resource descriptors
(`resources`), label selectors (`selectors`), the list+watch loop (`watch`) and the object cache that yields whole
cluster snapshots (`cache`). The Ingress and CRD providers translate those snapshots into dynamic configuration."""
