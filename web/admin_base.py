"""The rules every panel view shares, kept once: a key from the URL that cannot be a row is
"not found", and every change leaves an audit row.  Each view module then says only what is
particular to its model."""

from __future__ import annotations

from typing import Any, ClassVar, cast

from sqladmin import ModelView
from sqladmin.helpers import object_identifier_values
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.requests import Request

from web.audit import actor_of, diff, record, row_values

_BEFORE = "sattva_audit_before"
# Every integer key column is at most 64 bits; a larger number is no row (and would make
# the database driver raise instead of finding nothing).
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class PanelView(ModelView):
    """A view whose pages are addressed by a key from the URL: a key that cannot be one of
    this model's (not a number, out of range) is "not found", not an error."""

    def _key_or_404(self, identifier: Any) -> None:
        try:
            values = object_identifier_values(str(identifier), self.model)
        except (ValueError, TypeError, OverflowError):
            raise HTTPException(status_code=404) from None
        if any(isinstance(v, int) and not _INT64_MIN <= v <= _INT64_MAX for v in values):
            raise HTTPException(status_code=404)

    def details_query(self, request: Request) -> Select[Any]:
        self._key_or_404(request.path_params["pk"])
        return super().details_query(request)

    def form_edit_query(self, request: Request) -> Select[Any]:
        self._key_or_404(request.path_params["pk"])
        return super().form_edit_query(request)

    async def get_object_for_delete(self, value: Any) -> Any:
        self._key_or_404(value)
        return await super().get_object_for_delete(value)


class AuditedView(PanelView):
    """Records create/update/delete through sqladmin's model hooks."""

    # Columns never written to the audit log (password hashes).
    audit_exclude: ClassVar[frozenset[str]] = frozenset()
    # the column that names a row in the audit log
    audit_key: ClassVar[str] = "id"

    def _entity(self) -> str:
        return str(getattr(self.model, "__tablename__", self.identity))

    def _sessions(self) -> async_sessionmaker[AsyncSession]:
        return cast(async_sessionmaker[AsyncSession], self.session_maker)

    async def on_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        before = {} if is_created else row_values(model, self.audit_exclude)
        setattr(request.state, _BEFORE, before)

    async def after_model_change(
        self, data: dict[str, Any], model: Any, is_created: bool, request: Request
    ) -> None:
        before_all: dict[str, Any] = getattr(request.state, _BEFORE, {})
        after_all = row_values(model, self.audit_exclude)
        before, after = (before_all, after_all) if is_created else diff(before_all, after_all)
        after.update(self.audit_extra(data))
        await record(
            self._sessions(),
            actor=actor_of(request),
            action="create" if is_created else "update",
            entity=self._entity(),
            entity_id=str(after_all.get(self.audit_key, "")),
            before=before,
            after=after,
        )

    def audit_extra(self, data: dict[str, Any]) -> dict[str, Any]:
        """Facts to log that are not columns (e.g. that a password was set)."""
        return {}

    async def on_model_delete(self, model: Any, request: Request) -> None:
        pending: dict[int, dict[str, Any]] = getattr(request.state, _BEFORE + "_del", {})
        pending[id(model)] = row_values(model, self.audit_exclude)
        setattr(request.state, _BEFORE + "_del", pending)

    async def after_model_delete(self, model: Any, request: Request) -> None:
        pending: dict[int, dict[str, Any]] = getattr(request.state, _BEFORE + "_del", {})
        before = pending.pop(id(model), {})
        await record(
            self._sessions(),
            actor=actor_of(request),
            action="delete",
            entity=self._entity(),
            entity_id=str(before.get(self.audit_key, "")),
            before=before,
            after={},
        )
