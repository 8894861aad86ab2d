"""API for imports; routes join /api/ under the api namespace."""

urlpatterns: list = []
