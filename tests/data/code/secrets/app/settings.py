"""Django settings for the billing service."""
import os

DEBUG = False
ALLOWED_HOSTS = ["billing.internal"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "URL": "postgres://billing:Vx9-pq2Lm7zR@db.billing.internal:5432/billing",
    }
}

# TODO move to the vault
STRIPE_API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc9zQ"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY")
