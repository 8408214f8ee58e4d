from django.contrib.auth.backends import ModelBackend

from accounts.models import User


class OrganizationBackend(ModelBackend):
    """Logs people in with organization, username and password. Robots never log in."""

    def authenticate(self, request, organization=None, username=None, password=None, **kwargs):
        if not (organization and username and password):
            return None
        user = (
            User.objects.select_related("organization")
            .filter(organization__slug=organization, username=username, automatic=False)
            .first()
        )
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        user = User.objects.select_related("organization").filter(pk=user_id).first()
        return user if user and user.enabled and not user.automatic else None
