"""TLS: the Go ↔ OpenSSL vocabulary (cipher suites, versions) and what a TLS connection says about itself."""
