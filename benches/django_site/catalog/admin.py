from django.contrib import admin

from .models import Product


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "stock", "created")
    list_filter = ("created",)
    search_fields = ("name", "sku")
