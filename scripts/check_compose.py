"""Parse a Compose file and check each service is runnable as written (used by CI when
the Compose CLI is not installed): YAML anchors resolve, every service has an image or a
build, and every ``depends_on`` names a service of the file."""

from __future__ import annotations

import sys

import yaml


def problems(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    services = (document or {}).get("services")
    if not isinstance(services, dict) or not services:
        return ["no services"]
    found = []
    for name, service in services.items():
        if not isinstance(service, dict):
            found.append(f"{name}: not a mapping")
            continue
        if "image" not in service and "build" not in service:
            found.append(f"{name}: neither image nor build")
        depends = service.get("depends_on") or []
        for other in depends if isinstance(depends, list) else list(depends):
            if other not in services:
                found.append(f"{name}: depends on unknown service {other}")
    return found


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml"
    errors = problems(path)
    for error in errors:
        print(f"{path}: {error}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"{path}: valid (parsed; the Compose CLI is not installed)")
