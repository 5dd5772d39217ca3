from django.contrib import admin
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def upload(request):
    """Reports what Django parsed from a POST: fields and uploaded file sizes."""
    import hashlib

    files = {name: hashlib.sha256(f.read()).hexdigest() for name, f in request.FILES.items()}
    return HttpResponse(repr(sorted(files.items())) + "|" + repr(sorted(request.POST.items())))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("upload/", upload),
]
