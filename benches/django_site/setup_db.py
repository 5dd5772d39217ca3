"""Creates the benchmark database (path in BENCH_DJANGO_DB): migrations, an admin user,
200 products, and a logged-in session whose cookie it prints (sessionid=...)."""
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
import django  # noqa: E402

django.setup()
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import Product  # noqa: E402

call_command("migrate", verbosity=0)
user = User.objects.create_superuser("admin", "admin@example.com", "bench-password")
start = timezone.now() - datetime.timedelta(days=200)
Product.objects.bulk_create(
    Product(name=f"product number {i}", sku=f"SKU{i:05d}", price=f"{i * 1.25:.2f}", stock=i * 3 % 97,
            created=start + datetime.timedelta(days=i))
    for i in range(200))
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(f"sessionid={session.session_key}")
