from django.apps import AppConfig


class SalesprocConfig(AppConfig):
    name = "salesproc"
    verbose_name = "Process"
