from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo admin user if it does not exist, and print its login."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, username, password, url, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username, f"{username}@numbermgmt.example", password)
            created = "created"
        else:
            created = "exists"
        self.stdout.write(
            self.style.SUCCESS(
                f"Admin login ({created}): {url}  "
                f"user {username!r}" + (f" password {password!r}" if created == "created" else "")
            )
        )
