"""Who may see and change which users. Nothing crosses organizations."""

from accounts.models import Role, User


def can_manage_users(actor: User) -> bool:
    """Admins manage everyone; instructors and robots manage signers; signers nobody."""
    return actor.role in (Role.ADMIN, Role.INSTRUCTOR)


def manageable_roles(actor: User) -> set[str]:
    if actor.is_admin:
        return {Role.ADMIN, Role.INSTRUCTOR, Role.SIGNER}
    if actor.role == Role.INSTRUCTOR:
        return {Role.SIGNER}
    return set()


def can_manage(actor: User, target: User) -> bool:
    if actor.organization_id != target.organization_id:
        return False
    if actor.is_admin:
        return True
    return target.role in manageable_roles(actor) and not target.automatic


def users_visible_to(actor: User):
    users = User.objects.filter(organization_id=actor.organization_id)
    if actor.is_admin:
        return users
    return users.filter(role__in=manageable_roles(actor), automatic=False)
