"""URL configuration for the mysite sample project."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import path

from gallery import views

urlpatterns = [
    path('', views.index, name='index'),
    path('hello/', views.hello, name='hello'),
    path('boom/', views.boom, name='boom'),
    path('admin/', admin.site.urls),
]

# Serves MEDIA_URL from MEDIA_ROOT only when DEBUG is on (static() is a no-op otherwise),
# as in a typical project; berth normally answers /media/ itself before Django sees it.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
