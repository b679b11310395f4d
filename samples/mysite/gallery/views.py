from django.http import HttpResponse
from django.shortcuts import render

from .models import Photo


def index(request):
    """The photo list: a template page using static CSS/JS and the database."""
    return render(request, "gallery/index.html", {"photos": Photo.objects.all()})


def hello(request):
    """Benchmark endpoint: no template, no database."""
    return HttpResponse("Hello, world!")


def boom(request):
    """Always fails, to test 500 handling."""
    raise RuntimeError("boom from /boom/")
