"""API for stalls; routes join /api/ under the api namespace."""

urlpatterns: list = []
