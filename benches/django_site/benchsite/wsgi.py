"""The benchmark's WSGI entry point. Loaded once in the master where the server preloads
(rwsgi, uWSGI, gunicorn --preload), then gc.freeze() moves everything imported so far out of
the collector's reach, so forked workers do not write to (and so copy) those pages."""
import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
# Import what the first request would, before the fork.
import django.contrib.admin.views.main  # noqa: E402,F401
import catalog.admin  # noqa: E402,F401

gc.collect()
gc.freeze()
