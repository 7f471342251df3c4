"""The Envoy gateway: its bootstrap rendered from typed envoy-data-plane messages, the
descriptor set its transcoder loads, and the process that runs it."""
