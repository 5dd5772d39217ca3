from django.contrib import admin
from django.urls import path

from catalog.views import page

urlpatterns = [
    path("admin/", admin.site.urls),
    path("page/", page),
]
