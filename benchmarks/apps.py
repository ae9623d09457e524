from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    """Benchmark commands and what only they use (synthetic tenants, SQL floors); no models."""

    name = "benchmarks"
    verbose_name = "Benchmarks"
