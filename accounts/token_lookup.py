"""The bearer-token lookup every API call makes, as one statement built once
(see portal.joined): the token, its user, the user's organization and robot
configuration, four tables and 41 columns. The configuration is a reverse
one-to-one, joined LEFT (a person has none), which portal.joined.Chain does
not do; the columns and the instances are made the same way.
"""

from functools import cache

from django.db import connections, router
from django.db.models import Model

from accounts.models import ApiToken, Organization, RobotConfiguration, User
from portal.joined import ModelColumns, instances, model_columns


@cache
def _statement(alias: str) -> tuple[str, tuple[ModelColumns, ...]]:
    quote = connections[alias].ops.quote_name
    parts, columns = [], []
    for model, name in (
        (ApiToken, "t"),
        (User, "u"),
        (Organization, "o"),
        (RobotConfiguration, "c"),
    ):
        part, part_columns = model_columns(model, name, alias)
        parts.append(part)
        columns += part_columns

    def table(model: type[Model], name: str) -> str:
        return f"{quote(model._meta.db_table)} {name}"

    def column(name: str, model: type[Model], field: str) -> str:
        return f"{name}.{quote(model._meta.get_field(field).column)}"

    # Only quoted names from the models' metadata go into the text; the digest
    # is a parameter.
    sql = " ".join(
        (
            f"SELECT {', '.join(columns)} FROM {table(ApiToken, 't')}",  # noqa: S608
            f"JOIN {table(User, 'u')}",
            f"ON {column('u', User, 'id')} = {column('t', ApiToken, 'user')}",
            f"JOIN {table(Organization, 'o')}",
            f"ON {column('o', Organization, 'id')} = {column('u', User, 'organization')}",
            f"LEFT JOIN {table(RobotConfiguration, 'c')}",
            f"ON {column('c', RobotConfiguration, 'robot')} = {column('u', User, 'id')}",
            f"WHERE {column('t', ApiToken, 'digest')} = %s",
        )
    )
    return sql, tuple(parts)


def token_with_owner(*, digest: str) -> ApiToken | None:
    """The token with this digest, its `user`, the user's `organization` and
    `robot_config` (a reverse one-to-one: cached as missing when there is
    none), all loaded by one statement; None when no token has the digest."""
    alias = router.db_for_read(ApiToken)
    sql, parts = _statement(alias)
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    token, user, organization, config = instances(alias, row, parts)
    if config.pk is None:  # the LEFT JOIN found no configuration
        config = None
    token.user = user
    user.organization = organization
    robot_field = RobotConfiguration._meta.get_field("robot")
    robot_field.remote_field.set_cached_value(user, config)
    if config is not None:
        robot_field.set_cached_value(config, user)
    return token
