"""castedge package."""
