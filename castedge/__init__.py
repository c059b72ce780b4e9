"""castedge: self-hosted edge media delivery and caching (the ``castedge`` command)."""

__all__: list[str] = []
