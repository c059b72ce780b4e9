"""The demo's player page: pick a city, watch the lesson through the locator's redirect."""

from castedge.player.app import STATIC, player_app

__all__ = ["STATIC", "player_app"]
