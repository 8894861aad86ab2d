from django.apps import AppConfig


class IterationConfig(AppConfig):
    name = "iteration"
