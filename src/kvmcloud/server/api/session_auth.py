"""login/logout at the API edge, and session authentication: cookie AND sessionkey parameter.

Also the commands CloudStack's login page calls before anyone is logged in (SSO providers,
themes): kvmcloud has none of these, so they answer empty lists, without authentication.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kvmcloud.server.accounts import sessions
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.models import User
from kvmcloud.server.accounts.session_rules import SessionPolicy
from kvmcloud.server.api.auth import caller_of
from kvmcloud.server.api.params import RawParams
from kvmcloud.server.api.registry import CommandObserver, observe_nothing
from kvmcloud.server.api.responses import FlatResult, ListResult, render
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError, MethodNotAllowedError

SESSION_COOKIE = "JSESSIONID"
KEY_COOKIE = "sessionkey"
KEY_PARAM = "sessionkey"
# CloudStack's login page lists SAML identity providers, OAuth providers and GUI themes
# before login (APIAuthenticator commands there); kvmcloud has none. Lower-cased name ->
# the command's name and the item key of its (empty) list.
_EMPTY_BEFORE_LOGIN = {
    "listidps": ("listIdps", "idp"),
    "listoauthprovider": ("listOauthProvider", "oauthprovider"),
    "listguithemes": ("listGuiThemes", "guiThemes"),
}
# The commands this module answers itself, before (and instead of) key authentication.
SESSION_COMMANDS = frozenset({"login", "logout", *_EMPTY_BEFORE_LOGIN})
_COOKIE_PATH = "/client"


@dataclass(frozen=True, slots=True)
class Origin:
    """What the API edge knows of a request besides its parameters."""

    method: str = "GET"
    cookies: Mapping[str, str] = field(default_factory=dict, repr=False)
    # The peer address of the connection (ASGI scope client); X-Forwarded-For is not read.
    address: str | None = None
    secure: bool = False


@dataclass(frozen=True, slots=True)
class SessionReply:
    """A login or logout answer: its status, body and Set-Cookie header values."""

    status: int
    body: dict[str, Any]
    cookies: tuple[str, ...] = field(default=(), repr=False)


def is_session_command(command: str | None) -> bool:
    """Tell whether ``command`` is answered here: login, logout or a pre-login list."""
    return bool(command) and (command or "").lower() in SESSION_COMMANDS


def is_key_signed(params: Mapping[str, str]) -> bool:
    """Tell whether a request chose key authentication (it carries apiKey or signature)."""
    return any(name.lower() in ("apikey", "signature") for name in params)


@dataclass(frozen=True, slots=True)
class SessionGate:
    """Opens, checks and ends login sessions for the dispatcher."""

    db: Database
    clock: Callable[[], datetime]
    # Reads the session and login settings in the request's transaction.
    policy: Callable[[Session], SessionPolicy]
    # Told of each login and logout (USER.LOGIN and USER.LOGOUT events).
    observe: CommandObserver = observe_nothing

    def answer(self, command: str, params: Mapping[str, str], origin: Origin) -> SessionReply:
        """Run login, logout or a pre-login list.

        Raises:
            MethodNotAllowedError: login over anything but POST (405, CloudStack's text).
            InvalidParameterError: username or password missing.
            LoginRefusedError: the credentials were refused (531, one text for every cause).
        """
        lowered = command.lower()
        if lowered in _EMPTY_BEFORE_LOGIN:
            name, item_key = _EMPTY_BEFORE_LOGIN[lowered]
            return SessionReply(200, render(name, ListResult(item_key, [], 0)))
        if lowered == "logout":
            return self._logout(origin)
        return self._login(params, origin)

    def authenticate(self, session: Session, params: Mapping[str, str], origin: Origin) -> Caller:
        """The caller of a request without key authentication: by its session.

        Raises:
            AuthenticationError: the cookie or the sessionkey parameter is missing or wrong
                (CloudStack's default CookieAndParameter rule), or the session has ended.
        """
        session_key = next((v for k, v in params.items() if k.lower() == KEY_PARAM), None)
        holder, session_row = sessions.session_holder(
            session,
            origin.cookies.get(SESSION_COOKIE),
            session_key,
            now=self.clock(),
            policy=self.policy(session),
        )
        return caller_of(session, holder, session_id=session_row)

    def _login(self, params: Mapping[str, str], origin: Origin) -> SessionReply:
        if origin.method != "POST":
            raise MethodNotAllowedError("Please use HTTP POST to authenticate using this API")
        credentials = _credentials(params)
        now = self.clock()
        # As CloudStack's ApiServlet: a login first ends the session the request's cookie
        # names, whether or not the new credentials are good, so a browser that signs in as
        # someone else never keeps the earlier person's session beside the new one.
        with self.db.transaction() as session:
            sessions.logout(session, origin.cookies.get(SESSION_COOKIE))
        try:
            with self.db.transaction() as session:
                done = sessions.login(
                    session,
                    credentials,
                    address=origin.address,
                    now=now,
                    policy=self.policy(session),
                )
                payload = _login_payload(done)
                who = caller_of(session, done.holder), _user_item(done.holder.user)
        except sessions.LoginRefusedError as refused:
            if refused.failed:
                with self.db.transaction() as session:
                    sessions.record_failures(session, refused.failed, now)
            raise
        self.observe(who[0], "login", who[1], None)
        attributes = _cookie_attributes(origin)
        cookies = (
            f"{SESSION_COOKIE}={done.tokens.session_id}{attributes}",
            f"{KEY_COOKIE}={done.tokens.session_key}{attributes}",
        )
        return SessionReply(200, render("login", FlatResult(payload)), cookies)

    def _logout(self, origin: Origin) -> SessionReply:
        # As CloudStack: logout ends the session its cookie names and always succeeds.
        with self.db.transaction() as session:
            ended = sessions.logout(session, origin.cookies.get(SESSION_COOKIE))
            who = None if ended is None else (caller_of(session, ended), _user_item(ended.user))
        if who is not None:
            self.observe(who[0], "logout", who[1], None)
        expired = f"=; Max-Age=0{_cookie_attributes(origin)}"
        cookies = (f"{SESSION_COOKIE}{expired}", f"{KEY_COOKIE}{expired}")
        return SessionReply(200, render("logout", FlatResult({"description": "success"})), cookies)


def _credentials(params: Mapping[str, str]) -> sessions.Credentials:
    values = RawParams(params).values
    for name in ("username", "password"):
        if not values.get(name):
            raise InvalidParameterError(
                name, f"Unable to execute API command login due to missing parameter {name}"
            )
    return sessions.Credentials(
        username=values["username"],
        password=values["password"],
        domain=values.get("domain") or None,
        domain_uuid=values.get("domainid") or None,
    )


def _user_item(user: User) -> dict[str, str]:
    return {"id": user.uuid, "username": user.username}


def _login_payload(done: sessions.LoggedIn) -> dict[str, str]:
    """CloudStack's LoginCmdResponse: every value a string, as CloudStack writes them."""
    user, account, domain = done.holder.user, done.holder.account, done.holder.domain
    return {
        "username": user.username,
        "userid": user.uuid,
        "domainid": domain.uuid,
        "timeout": str(done.idle_s),
        "account": account.account_name,
        "type": str(account.type.value),
        "registered": "false",
        "is2faenabled": "false",
        "sessionkey": done.tokens.session_key,
    }


def _cookie_attributes(origin: Origin) -> str:
    # HttpOnly: page scripts never read either token (the UI takes sessionkey from the
    # login response). SameSite=Lax: cross-site requests carry no cookie but a link does.
    secure = "; Secure" if origin.secure else ""
    return f"; Path={_COOKIE_PATH}; HttpOnly; SameSite=Lax{secure}"
