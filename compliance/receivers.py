"""Security events that have no service of their own to record them (issue 7, item 2).

* ``admin.add`` / ``admin.change`` / ``admin.delete`` / ``admin.action``: every write through the
  Django admin. Django's ``ModelAdmin.log_addition`` / ``log_change`` / ``log_deletions`` (the
  admin's own history, written in the same transaction as the change) and ``response_action``
  (custom and bulk actions) are wrapped once, at start-up, on the ``ModelAdmin`` base class, so
  every admin of every app is covered, including ones added later.
* ``role.changed``: a user's groups or direct permissions, or a group's permissions, change
  (``m2m_changed``: it fires inside the transaction of the change, wherever it comes from:
  admin, shell, a service).
* ``auth.login`` / ``auth.logout`` with ``details.channel = "session"``: session logins (the
  admin, the portal) through ``django.contrib.auth`` signals. The JWT endpoints record their
  own events (``accounts/api/auth_views.py``), so API failures are skipped here.

The design rule "audit rows are written by the service" holds where a service exists; these
events come from framework code (the admin, ``django.contrib.auth``) that has no service.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.admin import helpers
from django.contrib.admin.options import ModelAdmin
from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed

from compliance import audit

_INSTALLED = False


def _object_type(model: Any) -> str:
    return model._meta.label_lower


def _changes(message: Any) -> Any:
    # the admin's change message is a list of {"added"/"changed"/"deleted": {...}} dicts naming
    # fields, never values
    return message if isinstance(message, list | str) else str(message)


def _wrap_log_addition(original: Any) -> Any:
    @functools.wraps(original)
    def log_addition(self: ModelAdmin, request: Any, obj: Any, message: Any) -> Any:
        result = original(self, request, obj, message)
        audit.record("admin.add", actor=request.user, object_type=_object_type(obj),
                     object_id=obj.pk, details={"changes": _changes(message)})
        return result
    return log_addition


def _wrap_log_change(original: Any) -> Any:
    @functools.wraps(original)
    def log_change(self: ModelAdmin, request: Any, obj: Any, message: Any) -> Any:
        result = original(self, request, obj, message)
        audit.record("admin.change", actor=request.user, object_type=_object_type(obj),
                     object_id=obj.pk, details={"changes": _changes(message)})
        return result
    return log_change


def _wrap_log_deletions(original: Any) -> Any:
    @functools.wraps(original)
    def log_deletions(self: ModelAdmin, request: Any, queryset: Any) -> Any:
        result = original(self, request, queryset)
        for obj in queryset:
            audit.record("admin.delete", actor=request.user, object_type=_object_type(obj),
                         object_id=obj.pk, details={"repr": str(obj)[:200]})
        return result
    return log_deletions


def _wrap_response_action(original: Any) -> Any:
    @functools.wraps(original)
    def response_action(self: ModelAdmin, request: Any, queryset: Any) -> Any:
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        across = request.POST.get("select_across") == "1"
        actions = request.POST.getlist("action")
        try:
            index = int(request.POST.get("index", 0))
        except ValueError:
            index = 0
        name = actions[index] if 0 <= index < len(actions) else (actions[0] if actions else "")
        try:
            response = original(self, request, queryset)
        except Exception:
            audit.record("admin.action", actor=request.user, outcome="failure",
                         object_type=_object_type(self.model),
                         details={"action": name, "selected": len(selected),
                                  "select_across": across})
            raise
        if name and (selected or across):
            audit.record("admin.action", actor=request.user,
                         object_type=_object_type(self.model),
                         object_id=selected[0] if len(selected) == 1 else "",
                         details={"action": name, "selected": len(selected),
                                  "select_across": across, "ids": selected[:50]})
        return response
    return response_action


def _role_changed(sender: Any, instance: Any, action: str, reverse: bool, model: Any,
                  pk_set: set[Any] | None, **kwargs: Any) -> None:
    """``m2m_changed`` on user groups/permissions and group permissions: ``role.changed``."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if action != "post_clear" and not pk_set:
        return
    from django.contrib.auth.models import Group, Permission

    def names(target: Any, pks: set[Any] | None) -> list[str]:
        if not pks:
            return []
        if target is Group:
            return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
        if target is Permission:
            return sorted(f"{a}.{c}" for a, c in Permission.objects.filter(pk__in=pks)
                          .values_list("content_type__app_label", "codename"))
        return sorted(str(p) for p in pks)

    op = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    if reverse:  # group.user_set.add(user) / permission.group_set.add(group)
        subject_type = _object_type(model)
        items = [(pk, [str(instance)]) for pk in sorted(pk_set or [], key=str)]
        field_target = type(instance)
    else:
        subject_type = _object_type(type(instance))
        items = [(instance.pk, names(model, pk_set))]
        field_target = model
    field = "groups" if field_target is Group else "permissions"
    for subject_id, values in items:
        audit.record("role.changed", actor=_actor_from_context(), object_type=subject_type,
                     object_id=subject_id, details={"field": field, "op": op, "values": values})


def _actor_from_context() -> Any:
    """The acting user from auditlog's request context, or None (a command, the shell)."""
    try:
        from auditlog.context import auditlog_value

        context = auditlog_value.get()
    except (ImportError, LookupError):
        return None
    actor = context.get("actor") if isinstance(context, dict) else None
    return actor if actor is not None and hasattr(actor, "audit_principal") else None


def _session_channel(request: Any) -> bool:
    path = getattr(request, "path", "") or ""
    return request is not None and not path.startswith("/api/")


def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if _session_channel(request):
        audit.record("auth.login", actor=user, object_type="user", object_id=user.pk,
                     details={"channel": "session", "path": getattr(request, "path", "")})


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if _session_channel(request) and user is not None:
        audit.record("auth.logout", actor=user, object_type="user", object_id=user.pk,
                     details={"channel": "session"})


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None,
                  **kwargs: Any) -> None:
    if request is None or not _session_channel(request):
        return
    username = str(credentials.get("username", ""))[:150]

    class _Anon:
        audit_principal = ("anonymous", "", username)

    locked = bool(getattr(request, "axes_locked_out", False))
    audit.record("auth.login", actor=_Anon(), outcome="denied" if locked else "failure",
                 details={"channel": "session", "username": username,
                          **({"reason": "locked_out"} if locked else {})})


def install() -> None:
    """Wire the receivers and wrap the admin hooks (once per process)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user_model = get_user_model()
    ModelAdmin.log_addition = _wrap_log_addition(ModelAdmin.log_addition)  # type: ignore
    ModelAdmin.log_change = _wrap_log_change(ModelAdmin.log_change)  # type: ignore
    ModelAdmin.log_deletions = _wrap_log_deletions(ModelAdmin.log_deletions)  # type: ignore
    ModelAdmin.response_action = _wrap_response_action(ModelAdmin.response_action)  # type: ignore
    for through in (user_model.groups.through, user_model.user_permissions.through,
                    Group.permissions.through):
        m2m_changed.connect(_role_changed, sender=through,
                            dispatch_uid=f"compliance.role_changed.{through._meta.label}")
    user_logged_in.connect(_logged_in, dispatch_uid="compliance.session_login")
    user_logged_out.connect(_logged_out, dispatch_uid="compliance.session_logout")
    user_login_failed.connect(_login_failed, dispatch_uid="compliance.session_login_failed")
    _INSTALLED = True
