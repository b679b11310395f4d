from django.db import models


class Photo(models.Model):
    title = models.CharField(max_length=200)
    image = models.FileField(upload_to="photos/")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.title
