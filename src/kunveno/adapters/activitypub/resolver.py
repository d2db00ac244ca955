"""From what a person types (``@name@host``, ``acct:name@host`` or a URL) to a remote actor
or gathering, fetched through the guarded client like everything else."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from kunveno.adapters.activitypub.actors import RemoteActors
from kunveno.adapters.activitypub.documents import AP_MEDIA_TYPE
from kunveno.adapters.activitypub.fetching import FetchError, SafeHttp, Signer
from kunveno.adapters.activitypub.vocabulary import (
    InvalidActivity,
    RemoteActor,
    RemoteEvent,
    parse_event,
    parse_json_bounded,
)

HANDLE = re.compile(r"^(?:acct:|@)?([^@\s/]+)@([^@\s/]+)$")
JRD_ACCEPT = "application/jrd+json, application/json"


class Resolver:
    def __init__(
        self,
        http: SafeHttp,
        actors: RemoteActors,
        signer: Signer,
        *,
        allow_http: bool,
    ) -> None:
        self._http = http
        self._actors = actors
        self._signer = signer
        self._schemes = ("https", "http") if allow_http else ("https",)

    def actor(self, address: str, *, refresh: bool = False) -> RemoteActor:
        """The actor a handle or URL names; raises FetchError or InvalidActivity."""
        address = address.strip()
        handle = HANDLE.fullmatch(address)
        url = self._webfinger(handle.group(1), handle.group(2)) if handle else address
        return self._actors.get(url, refresh=refresh)

    def event(self, url: str) -> tuple[RemoteEvent, dict[str, Any]]:
        document = self._http.get_activity_json(url, signer=self._signer)
        return parse_event(document), document

    def _webfinger(self, name: str, host: str) -> str:
        resource = quote(f"acct:{name}@{host}", safe=":@")
        failure: Exception = FetchError("url_invalid", "no scheme to try")
        for scheme in self._schemes:
            url = f"{scheme}://{host}/.well-known/webfinger?resource={resource}"
            try:
                body, _ = self._http.get_bytes(url, accept=JRD_ACCEPT, max_bytes=65_536)
                return _self_link(parse_json_bounded(body, max_bytes=65_536))
            except (FetchError, InvalidActivity) as error:
                failure = error
        raise failure


def _self_link(jrd: dict[str, Any]) -> str:
    for link in jrd.get("links") or []:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        kind = str(link.get("type", ""))
        if kind == AP_MEDIA_TYPE or kind.startswith("application/ld+json"):
            href = link.get("href")
            if isinstance(href, str):
                return href
    raise InvalidActivity("missing_actor", f"no ActivityPub self link in {json.dumps(jrd)[:200]}")
