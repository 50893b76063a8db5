"""bounds → auth → lookup → role → parse → ids → handler → envelope; the API's one catch-all."""

import logging
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kvmcloud.server.accounts.permissions import Grant, may_call
from kvmcloud.server.agent_client import AgentClient
from kvmcloud.server.api.auth import authenticate
from kvmcloud.server.api.params import (
    Entity,
    ParamSpec,
    RawParams,
    check_bounds,
    entity_ids,
    parse_params,
)
from kvmcloud.server.api.registry import ApiContext, CommandObserver, Registry, observe_nothing
from kvmcloud.server.api.responses import ErrorReply, ObjectResult, render, render_error
from kvmcloud.server.api.session_auth import Origin, SessionGate, is_key_signed, is_session_command
from kvmcloud.server.db import Database
from kvmcloud.server.errors import (
    ApiError,
    AuthenticationError,
    InvalidParameterError,
    NoCommandError,
    NotFoundError,
    UnsupportedActionError,
    shown,
)
from kvmcloud.server.hooks import Hooks
from kvmcloud.server.sealing.box import SecretBox
from kvmcloud.server.settings import ServerSettings

logger = logging.getLogger(__name__)

# What a caller learns of a server fault; the traceback goes to the log only.
INTERNAL_ERROR_TEXT = "Internal error executing command, please contact your administrator"


# Of these uuids naming ``entity``, the ones a row has (removed rows too, as in CloudStack).
KnownIds = Callable[[Session, Entity, Collection[str]], set[str]]


def not_available_text(command: str) -> str:
    """CloudStack's 432 text for a command the caller's role may not call (4.19's checker)."""
    return f"The API {command} does not exist or is not available for this account."


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP status and JSON body for the route to send."""

    status: int
    body: dict[str, Any]
    description: str | None = None
    # Set-Cookie header values (login and logout).
    cookies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Dispatcher:
    """Handles one /client/api request from its merged parameters."""

    registry: Registry
    db: Database
    agents: AgentClient
    clock: Callable[[], datetime]
    settings: ServerSettings
    rng: random.Random
    hooks: Hooks
    box: SecretBox
    known_ids: KnownIds
    sessions: SessionGate
    observe: CommandObserver = observe_nothing

    def handle(self, params: Mapping[str, str], origin: Origin | None = None) -> Reply:
        """Run the command named in ``params`` and return the reply to send."""
        command_name = params.get("command")
        try:
            return self._handle(command_name, params, origin or Origin())
        except ApiError as exc:
            name = self._known_name(command_name)
            return _error_reply(name, exc)
        except Exception:
            logger.exception("API command %s failed", command_name)
            return self.refuse(command_name, None)

    def refuse(self, command_name: str | None, error: ApiError | None) -> Reply:
        """The reply for ``error`` (a server fault when None) under the command's envelope."""
        error = error or ApiError(INTERNAL_ERROR_TEXT)
        return _error_reply(self._known_name(command_name), error)

    def _handle(self, command_name: str | None, params: Mapping[str, str], origin: Origin) -> Reply:
        # Only the raw request's size is looked at before the caller is known.
        check_bounds(params)
        if command_name and is_session_command(command_name):
            answer = self.sessions.answer(command_name, params, origin)
            return Reply(answer.status, answer.body, cookies=answer.cookies)
        with self.db.transaction() as session:
            if is_key_signed(params):
                caller = authenticate(session, params, self.clock(), self.box)
            else:
                caller = self.sessions.authenticate(session, params, origin)
        if not command_name:
            # CloudStack: verifyRequest refuses a key-signed request without a command (401);
            # ApiServlet answers a session's with 400.
            raise AuthenticationError() if is_key_signed(params) else NoCommandError()
        command = self.registry.lookup(command_name)
        if command is None:
            raise self._unknown(command_name, caller.grant, key_signed=is_key_signed(params))
        # The caller's role is checked before any parameter is read, as CloudStack's
        # API checkers run in verifyRequest: a refused command reveals nothing of its
        # parameters' rules.
        if not may_call(caller.grant, command.name):
            raise UnsupportedActionError(not_available_text(command.name))
        parsed = parse_params(command.params, command.name, RawParams(params))
        self._check_ids(command.name, command.param_specs(), parsed)
        context = ApiContext(
            db=self.db,
            agents=self.agents,
            clock=self.clock,
            settings=self.settings,
            rng=self.rng,
            caller=caller,
            command=command.name,
            registry=self.registry,
            hooks=self.hooks,
            box=self.box,
        )
        result = command.handler(context, parsed)
        if not command.is_async:
            item = result.item if isinstance(result, ObjectResult) else None
            target = getattr(parsed, "id", None)
            self.observe(caller, command.name, item, target if isinstance(target, str) else None)
        return Reply(status=200, body=render(command.name, result))

    @staticmethod
    def _unknown(command_name: str, grant: Grant, *, key_signed: bool) -> ApiError:
        """What CloudStack (4.19) answers for a command it does not have.

        A key-signed request for it fails ApiServer.verifyRequest, before the signature
        is even checked: the same 401 as a bad signature, so keys do not probe which
        commands exist. A session's role is checked first: refused, it is the 432 of any
        command the role may not call; allowed (a root admin), 432 ``Unknown API command``.
        """
        if key_signed:
            return AuthenticationError()
        if not may_call(grant, command_name):
            return UnsupportedActionError(not_available_text(shown(command_name)))
        return UnsupportedActionError(f"Unknown API command: {shown(command_name)}")

    def _check_ids(self, command: str, specs: list[ParamSpec], parsed: object) -> None:
        """Refuse an id that names nothing, as CloudStack does while it reads the parameters."""
        given = list(entity_ids(specs, parsed))
        if not given:
            return
        with self.db.transaction() as session:
            for spec, uuids in given:
                assert spec.entity is not None
                known = self.known_ids(session, spec.entity, uuids)
                unknown = next((u for u in uuids if u not in known), None)
                if unknown is not None:
                    raise NotFoundError(command, spec.name, unknown)

    def _known_name(self, command_name: str | None) -> str | None:
        if not command_name:
            return None
        if is_session_command(command_name):
            return command_name
        command = self.registry.lookup(command_name)
        return command.name if command is not None else None


def _error_reply(command: str | None, error: ApiError) -> Reply:
    # Errors CloudStack raises before dispatching a command carry no cserrorcode.
    before_dispatch = isinstance(error, AuthenticationError | NoCommandError)
    cs_code = None if before_dispatch else error.cs_error_code
    text = error.naming_text() if isinstance(error, InvalidParameterError) else error.message
    reply: ErrorReply = render_error(command, error.error_code, text, cs_code)
    return Reply(status=reply.status, body=reply.body, description=text)
