"""GPUs: live telemetry (``telemetry``), leases for runs (``leases``), the kernel benchmark harness (``bench``)."""
