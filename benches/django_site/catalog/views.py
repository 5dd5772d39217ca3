from django.shortcuts import render

from .models import Product


def page(request):
    products = Product.objects.all()[:50]
    return render(request, "catalog/page.html", {"products": products, "title": "Catalogue"})
