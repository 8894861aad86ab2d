"""Pages for stalls."""

urlpatterns: list = []
