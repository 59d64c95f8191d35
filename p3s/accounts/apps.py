from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "p3s.accounts"
    label = "accounts"
