"""Forms of the account pages: they parse and validate, the services change things."""

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import (
    password_validators_help_text_html,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils.translation import gettext_lazy as _

from accounts import credentials
from accounts.models import Language, Role, User
from accounts.permissions import manageable_roles

ROBOT = "robot"

ACCOUNT_TYPE_LABELS = {
    Role.ADMIN: _("Admin"),
    Role.INSTRUCTOR: _("Instructor"),
    Role.SIGNER: _("Signer"),
    ROBOT: _("Robot"),
}


phone_validator = RegexValidator(
    r"^\+?[0-9 ()./-]{3,31}\Z",
    _("Enter a phone number: digits, optionally starting with +."),
)
# No "@": the API names users as username@organization.
username_validator = RegexValidator(
    r"^[\w.+-]+\Z", _("Letters, digits and . + - _ only."), code="invalid_username"
)


def account_type_choices(actor: User) -> list[tuple[str, str]]:
    """The account types `actor` may create, in the order the select shows them."""
    allowed = manageable_roles(actor)
    types = [r for r in (Role.ADMIN, Role.INSTRUCTOR, Role.SIGNER) if r in allowed]
    if actor.is_admin:
        types.append(ROBOT)
    return [(t, ACCOUNT_TYPE_LABELS[t]) for t in types]


class LoginForm(forms.Form):
    organization = forms.CharField(
        label=_("Organization"),
        max_length=63,
        widget=forms.TextInput(attrs={"autocomplete": "organization", "autocapitalize": "none"}),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    error_messages = {
        # One message for every failure: it must not tell which field was wrong.
        "invalid_login": _("Organization, username or password are not correct."),
    }

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user_cache: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization")
        username = cleaned.get("username")
        password = cleaned.get("password")
        if organization and username and password:
            self.user_cache = authenticate(
                self.request,
                organization=organization.strip().lower(),
                username=username.strip(),
                password=password,
            )
            if self.user_cache is None:
                raise ValidationError(self.error_messages["invalid_login"], code="invalid_login")
        return cleaned

    def get_user(self) -> User | None:
        return self.user_cache


class PasswordLostForm(forms.Form):
    organization = forms.CharField(
        label=_("Organization"),
        max_length=63,
        widget=forms.TextInput(attrs={"autocomplete": "organization", "autocapitalize": "none"}),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )


class SetPasswordForm(forms.Form):
    new_password1 = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, user: User, *args, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_new_password2(self):
        first = self.cleaned_data.get("new_password1")
        second = self.cleaned_data.get("new_password2")
        if first and second and first != second:
            raise ValidationError(_("The two passwords do not match."), code="password_mismatch")
        if second:
            validate_password(second, user=self.user)
        return second


class UserForm(forms.Form):
    """Add User (with `account_type`) and Edit (without): people and robots in one form.

    A robot needs only a username and an application name; a person needs a
    name, a surname and an email, and may get a password now or a link by email.
    """

    account_type = forms.ChoiceField(label=_("Account Type"))
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[username_validator],
        help_text=_("Letters, digits and . + - _ only."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    application = forms.CharField(label=_("Application name"), max_length=200, required=False)
    name = forms.CharField(label=_("Name"), max_length=150, required=False)
    surname = forms.CharField(label=_("Surname"), max_length=150, required=False)
    email = forms.EmailField(
        label=_("Email"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=32,
        required=False,
        validators=[phone_validator],
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices, required=False)
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Optional. Without one, the user receives an email with a link to choose it."),
    )

    PERSON_FIELDS = ("name", "surname", "email", "phone", "language", "password")
    ROBOT_FIELDS = ("application",)

    def __init__(self, *args, actor: User, instance: User | None = None, **kwargs):
        self.actor = actor
        self.instance = instance
        if instance is not None:
            kwargs.setdefault(
                "initial",
                {
                    "username": instance.username,
                    "application": instance.extra_data.get("application", ""),
                    "name": instance.name,
                    "surname": instance.surname,
                    "email": instance.email,
                    "phone": instance.phone,
                    "language": instance.language,
                },
            )
        else:
            kwargs.setdefault(
                "initial", {"account_type": Role.SIGNER, "language": actor.organization.language}
            )
        super().__init__(*args, **kwargs)
        # Required whenever their group is shown; the server checks them in clean().
        for name in ("application", "name", "surname", "email"):
            self.fields[name].widget.attrs["aria-required"] = "true"
        if instance is None:
            self.fields["account_type"].choices = account_type_choices(actor)
        else:
            del self.fields["account_type"]
            drop = self.PERSON_FIELDS if instance.automatic else self.ROBOT_FIELDS
            for name in drop:
                del self.fields[name]
            if "password" in self.fields:
                self.fields["password"].label = _("New password")
                self.fields["password"].help_text = _("Leave empty to keep the current password.")

    @property
    def is_robot(self) -> bool:
        if self.instance is not None:
            return self.instance.automatic
        value = self.data.get("account_type") if self.is_bound else self.initial.get("account_type")
        return value == ROBOT

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        taken = User.objects.filter(organization_id=self.actor.organization_id, username=username)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(_("This username is already taken."), code="username_taken")
        return username

    def clean(self):
        cleaned = super().clean()
        if self.is_robot:
            if not cleaned.get("application", "").strip():
                self.add_error("application", _("Give the name of the application."))
            return cleaned
        for name in ("name", "surname", "email"):
            if name in self.fields and not cleaned.get(name) and name not in self.errors:
                self.add_error(name, _("This field is required."))
        password = cleaned.get("password")
        if password:
            candidate = User(
                username=cleaned.get("username", ""),
                name=cleaned.get("name", ""),
                surname=cleaned.get("surname", ""),
                email=cleaned.get("email", ""),
            )
            try:
                validate_password(password, user=candidate)
            except ValidationError as exc:
                self.add_error("password", exc)
        return cleaned

    def service_fields(self) -> dict:
        """The cleaned values as accounts.services expects them (model field names)."""
        data = self.cleaned_data
        if self.is_robot:
            extra = dict(self.instance.extra_data) if self.instance else {}
            extra["application"] = data["application"].strip()
            return {"username": data["username"], "extra_data": extra}
        return {
            "username": data["username"],
            "name": data["name"].strip(),
            "surname": data["surname"].strip(),
            "email": data["email"],
            "phone": data["phone"].strip(),
            "language": data["language"] or self.actor.organization.language,
        }


AUTH_MODE_CHOICES = [("", _("None")), ("basic", _("Basic")), ("digest", _("Digest"))]


class RobotConfigurationForm(forms.Form):
    """The robot's outbound settings: webhook URL, request headers and authentication.

    Header rows arrive as parallel `header_name` / `header_value` lists; a row
    left empty is dropped. The stored password and private key are never sent
    back to the page: leaving those fields empty keeps them.
    """

    webhook_url = forms.URLField(
        label=_("Webhook URL"),
        required=False,
        max_length=2000,
        assume_scheme="https",
        validators=[
            URLValidator(
                schemes=["http", "https"],
                message=_("Enter an http:// or https:// URL."),
                code="scheme",
            )
        ],
        help_text=_("Sigillo POSTs the DST notifications of this robot here."),
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/sigillo"}),
    )
    auth_mode = forms.ChoiceField(label=_("Mode"), choices=AUTH_MODE_CHOICES, required=False)
    auth_username = forms.CharField(label=_("Username"), max_length=200, required=False)
    auth_password = forms.CharField(
        label=_("Password"),
        max_length=200,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    client_cert = forms.CharField(
        label=_("Client certificate (PEM)"),
        required=False,
        max_length=credentials.MAX_PEM,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
    )
    client_key = forms.CharField(
        label=_("Client private key (PEM)"),
        required=False,
        max_length=credentials.MAX_PEM,
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "class": "mono", "autocomplete": "off"}
        ),
    )

    def __init__(self, *args, current: dict, **kwargs):
        """`current` is the configuration as services.robot_configuration_read returns it."""
        self.current = current
        auth = current.get("authentication") or {}
        # The API stores authMode "basic" by default even with no username:
        # without credentials there is no mode to show.
        has_credentials = bool(auth.get("username") or auth.get("password"))
        kwargs.setdefault(
            "initial",
            {
                "webhook_url": current.get("webhooks", {}).get("dst", ""),
                "auth_mode": auth.get("authMode", "") if has_credentials else "",
                "auth_username": auth.get("username", ""),
                "client_cert": credentials.pem_text(auth.get("clientCert", "")),
            },
        )
        super().__init__(*args, **kwargs)
        self.has_password = bool(auth.get("password"))
        self.has_key = bool(auth.get("clientKey"))
        if self.has_password:
            self.fields["auth_password"].help_text = _(
                "A password is stored. Leave empty to keep it."
            )
        if self.has_key:
            self.fields["client_key"].help_text = _(
                "A private key is stored. Leave empty to keep it; remove the certificate to "
                "remove both."
            )
        self.header_errors: list[str] = []
        if self.is_bound:
            names = self.data.getlist("header_name")
            values = self.data.getlist("header_value")
            self.header_rows = [(n.strip(), v.strip()) for n, v in zip(names, values, strict=False)]
        else:
            self.header_rows = [
                (name, value)
                for name, header_values in (current.get("requestHeaders") or {}).items()
                for value in header_values
            ]

    def rows_for_display(self) -> list[tuple[str, str]]:
        """The header rows to draw, with one empty row to type a new header into."""
        return [*[r for r in self.header_rows if r[0] or r[1]], ("", "")]

    def clean(self):
        cleaned = super().clean()
        cleaned["request_headers"] = self._clean_headers()
        cleaned["authentication"] = self._clean_authentication(cleaned)
        return cleaned

    def _clean_headers(self) -> dict[str, list[str]]:
        headers: dict[str, list[str]] = {}
        for name, value in self.header_rows:
            if not name and not value:
                continue
            if not name:
                self.header_errors.append(_("A header value needs a header name."))
            elif not credentials.HEADER_NAME.match(name):
                self.header_errors.append(
                    _("“%(name)s” is not a valid header name: no spaces, colons or symbols.")
                    % {"name": name[:100]}
                )
            elif not credentials.header_is_valid(name, value):
                self.header_errors.append(
                    _("The value of “%(name)s” must be one line.") % {"name": name}
                )
            else:
                headers.setdefault(name, []).append(value)
        if self.header_errors:
            # A non-field error makes is_valid() fail; the rows show the details.
            self.add_error(None, ValidationError(_("Check the request headers."), code="headers"))
        return headers

    def _clean_authentication(self, cleaned: dict) -> dict[str, str]:
        stored = self.current.get("authentication") or {}
        auth: dict[str, str] = {}
        mode = cleaned.get("auth_mode") or ""
        if mode:
            username = (cleaned.get("auth_username") or "").strip()
            password = cleaned.get("auth_password") or stored.get("password", "")
            if not username:
                self.add_error("auth_username", _("Basic and digest need a username."))
            if not password:
                self.add_error("auth_password", _("Basic and digest need a password."))
            auth.update(authMode=mode, username=username, password=password)
        cert_pem = credentials.pem_text(cleaned.get("client_cert") or "")
        key_pem = credentials.pem_text(cleaned.get("client_key") or "")
        if cert_pem and not key_pem:
            key_pem = credentials.pem_text(stored.get("clientKey", ""))
        if key_pem and not cert_pem:
            self.add_error("client_cert", _("A private key needs its certificate."))
        elif cert_pem:
            if not key_pem:
                self.add_error("client_key", _("A certificate needs its private key."))
            cert = self._parse_certificate(cert_pem)
            key = self._parse_private_key(key_pem) if key_pem else None
            if cert is not None and key is not None and not credentials.same_public_key(cert, key):
                self.add_error("client_key", _("This key does not belong to the certificate."))
            auth["clientCert"] = cert_pem + "\n"
            if key_pem:
                auth["clientKey"] = key_pem + "\n"
        if not auth:
            return {}
        # Stored in the shape the Robots API stores: every key present, "basic"
        # as the mode when no username makes it meaningless.
        return {
            "username": "",
            "password": "",
            "authMode": "basic",
            "clientKey": "",
            "clientCert": "",
            **auth,
        }

    def _parse_certificate(self, pem: str):
        try:
            return credentials.load_certificate(pem)
        except credentials.CredentialError as exc:
            self.add_error("client_cert", str(exc))
            return None

    def _parse_private_key(self, pem: str):
        try:
            return credentials.load_private_key(pem)
        except credentials.CredentialError as exc:
            self.add_error("client_key", str(exc))
            return None
